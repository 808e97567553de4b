using System.Net;
using Akka.Actor;
using Akka.IO;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Tests;

/// <summary>
/// A SessionActor between probes that stand in for its data connection, the waiting client's
/// connection, the client's app actor and the relay (its parent).
/// </summary>
public sealed class SessionActorTests : TestKit
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);
    private static readonly IPEndPoint Remote = new(IPAddress.Loopback, 5000);
    private readonly TestProbe _data;
    private readonly TestProbe _client;
    private readonly TestProbe _app;
    private readonly TestProbe _relay;

    public SessionActorTests() : base("akka.loglevel = WARNING")
    {
        _data = CreateTestProbe("data");
        _client = CreateTestProbe("client");
        _app = CreateTestProbe("app");
        _relay = CreateTestProbe("relay");
    }

    private static ByteString Bytes(string text) => ByteString.FromString(text);

    /// <summary>A client put up for its data connection, as its app's actor does.</summary>
    private WaitingClient Waiting()
    {
        var id = SessionId.New();
        var client = new WaitingClient(id, AppName.Parse("app").Value, _app.Ref, _client.Ref, Remote, new SessionStatus(null, id, Remote));
        WaitingClients.Get(Sys).Add(client);
        return client;
    }

    /// <summary>A data connection's actor that has registered with its connection and asked for the first read.</summary>
    private IActorRef StartDataConnection(TimeSpan? handshakeTimeout = null)
    {
        var settings = TestSettings.Relay() with { HandshakeTimeout = handshakeTimeout ?? TimeSpan.FromSeconds(30) };
        var session = _relay.ChildActorOf(SessionActor.CreateProps(_data.Ref, Remote, settings));
        var register = _data.ExpectMsg<Tcp.Register>();
        Assert.Equal(session, register.Handler);
        Assert.True(register.KeepOpenOnPeerClosed, "half-close needs the write side kept open after the peer's FIN");
        _data.ExpectMsg<Tcp.ResumeReading>();
        return session;
    }

    /// <summary>A session whose ACCEPT line (and <paramref name="banner"/>) named a waiting client; both sides are being read.</summary>
    private IActorRef StartPaired(string banner = "")
    {
        var waiting = Waiting();
        var session = StartDataConnection();
        session.Tell(new Tcp.Received(Bytes($"ACCEPT id={waiting.Id}\n{banner}")), _data.Ref);
        var register = _client.ExpectMsg<Tcp.Register>();
        Assert.Equal(session, register.Handler);
        Assert.True(register.KeepOpenOnPeerClosed);
        Assert.Equal(waiting.Id, _app.ExpectMsg<PublicPortActor.SessionPaired>().Id);
        Assert.Equal(session, _app.LastSender);
        if (banner.Length > 0)
            Assert.Equal(banner, _client.ExpectMsg<Tcp.Write>().Data.ToString());
        _data.ExpectMsg<Tcp.ResumeReading>();
        _client.ExpectMsg<Tcp.ResumeReading>();
        return session;
    }

    [Fact]
    public void An_accept_line_pairs_the_waiting_client_it_names_once_and_only_once()
    {
        var waiting = Waiting();
        var session = StartDataConnection();
        session.Tell(new Tcp.Received(Bytes($"ACCEPT id={waiting.Id}\n")), _data.Ref);
        _client.ExpectMsg<Tcp.Register>();
        _client.ExpectMsg<Tcp.ResumeReading>();
        _relay.ExpectMsg<RelayActor.HandshakeDone>();

        // The id is taken: a second data connection naming it pairs nothing.
        var second = CreateTestProbe("second");
        var other = _relay.ChildActorOf(SessionActor.CreateProps(second.Ref, Remote, TestSettings.Relay()));
        second.ExpectMsg<Tcp.Register>();
        second.ExpectMsg<Tcp.ResumeReading>();
        other.Tell(new Tcp.Received(Bytes($"ACCEPT id={waiting.Id}\n")), second.Ref);
        second.ExpectMsg<Tcp.Close>();
        _client.ExpectNoMsg(Quiet);
    }

    [Fact]
    public void An_accept_line_split_over_reads_is_read_whole_and_the_app_banner_after_it_reaches_the_client_first()
    {
        var waiting = Waiting();
        var session = StartDataConnection();
        var line = $"ACCEPT id={waiting.Id}\n";
        session.Tell(new Tcp.Received(Bytes(line[..10])), _data.Ref);
        _data.ExpectMsg<Tcp.ResumeReading>(); // more of the line is read
        session.Tell(new Tcp.Received(Bytes(line[10..] + "SSH-2.0-banner")), _data.Ref);
        _client.ExpectMsg<Tcp.Register>();
        Assert.Equal("SSH-2.0-banner", _client.ExpectMsg<Tcp.Write>().Data.ToString());
    }

    [Fact]
    public void An_id_no_client_waits_for_is_refused_and_closed()
    {
        var session = StartDataConnection();
        Watch(session);
        session.Tell(new Tcp.Received(Bytes($"ACCEPT id={SessionId.New()}\n")), _data.Ref);
        _data.ExpectMsg<Tcp.Close>();
        session.Tell(Tcp.Closed.Instance, _data.Ref);
        ExpectTerminated(session);
        _app.ExpectNoMsg(TimeSpan.Zero); // no session was ever paired, so none ends
    }

    [Fact]
    public void A_data_connection_without_an_accept_line_in_time_is_closed()
    {
        StartDataConnection(handshakeTimeout: TimeSpan.FromMilliseconds(300));
        _data.ExpectMsg<Tcp.Close>(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Client_bytes_are_written_to_the_data_side_and_two_writes_in_flight_hold_reading_back()
    {
        var session = StartPaired();

        session.Tell(new Tcp.Received(Bytes("hello")), _client.Ref);
        var first = _data.ExpectMsg<Tcp.Write>();
        Assert.Equal("hello", first.Data.ToString());
        Assert.IsType<WriteAck>(first.Ack);
        _client.ExpectMsg<Tcp.ResumeReading>(); // the next frame is read while this one is written

        session.Tell(new Tcp.Received(Bytes("world")), _client.Ref);
        Assert.Equal("world", _data.ExpectMsg<Tcp.Write>().Data.ToString());
        _client.ExpectNoMsg(Quiet); // back-pressure: two writes in flight, nothing more is read until one is acked

        session.Tell(first.Ack, _data.Ref);
        _client.ExpectMsg<Tcp.ResumeReading>();
    }

    [Fact]
    public void App_bytes_are_written_to_the_client_directly_with_the_same_back_pressure()
    {
        var session = StartPaired();

        session.Tell(new Tcp.Received(Bytes("from app")), _data.Ref);
        var first = _client.ExpectMsg<Tcp.Write>();
        Assert.Equal("from app", first.Data.ToString());
        _data.ExpectMsg<Tcp.ResumeReading>();
        session.Tell(new Tcp.Received(Bytes("more")), _data.Ref);
        Assert.Equal("more", _client.ExpectMsg<Tcp.Write>().Data.ToString());
        _data.ExpectNoMsg(Quiet);

        session.Tell(first.Ack, _client.Ref);
        _data.ExpectMsg<Tcp.ResumeReading>();
    }

    [Fact]
    public void A_banner_in_flight_holds_back_the_second_read_of_the_app_side_only_when_two_are_in_flight()
    {
        var session = StartPaired(banner: "banner");
        session.Tell(new Tcp.Received(Bytes("next")), _data.Ref);
        Assert.Equal("next", _client.ExpectMsg<Tcp.Write>().Data.ToString());
        _data.ExpectNoMsg(Quiet); // the banner and this one in flight
    }

    [Fact]
    public void Client_half_close_is_passed_on_and_the_other_direction_keeps_flowing()
    {
        var session = StartPaired();
        Watch(session);

        session.Tell(Tcp.PeerClosed.Instance, _client.Ref);
        _data.ExpectMsg<Tcp.ConfirmedClose>();

        session.Tell(new Tcp.Received(Bytes("reply")), _data.Ref);
        var write = _client.ExpectMsg<Tcp.Write>();
        session.Tell(write.Ack, _client.Ref);
        _data.ExpectMsg<Tcp.ResumeReading>();

        // The app's own FIN comes back as ConfirmedClosed: the client, already half-closed, is closed outright.
        session.Tell(Tcp.ConfirmedClosed.Instance, _data.Ref);
        _client.ExpectMsg<Tcp.Close>();
        session.Tell(Tcp.Closed.Instance, _client.Ref);
        ExpectTerminated(session);
        _app.ExpectMsg<PublicPortActor.SessionEnded>(); // the port may go once its last session has
    }

    [Fact]
    public void A_fin_waits_for_the_write_in_flight()
    {
        var session = StartPaired();
        session.Tell(new Tcp.Received(Bytes("last words")), _client.Ref);
        session.Tell(Tcp.PeerClosed.Instance, _client.Ref);

        var write = _data.ExpectMsg<Tcp.Write>(m => m.Data.ToString() == "last words");
        _data.ExpectNoMsg(Quiet); // no FIN before the write is acked
        session.Tell(write.Ack, _data.Ref);
        _data.ExpectMsg<Tcp.ConfirmedClose>();
    }

    [Fact]
    public void A_reset_on_the_app_side_aborts_the_client()
    {
        var session = StartPaired();
        Watch(session);

        session.Tell(new Tcp.ErrorClosed("Connection reset by peer"), _data.Ref);
        _client.ExpectMsg<Tcp.Abort>();
        session.Tell(Tcp.Aborted.Instance, _client.Ref);
        ExpectTerminated(session);
        _app.ExpectMsg<PublicPortActor.SessionEnded>();
    }

    [Fact]
    public void A_client_reset_aborts_the_app_side()
    {
        var session = StartPaired();
        session.Tell(new Tcp.ErrorClosed("Connection reset by peer"), _client.Ref);
        _data.ExpectMsg<Tcp.Abort>();
    }

    [Fact]
    public void A_client_connection_gone_before_pairing_aborts_the_app_side()
    {
        var waiting = Waiting();
        Sys.Stop(_client.Ref); // the waiting client's connection actor has stopped
        var session = StartDataConnection();
        session.Tell(new Tcp.Received(Bytes($"ACCEPT id={waiting.Id}\n")), _data.Ref);
        _data.FishForMessage(m => m is Tcp.Abort, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void The_drain_deadline_resets_both_sides()
    {
        var session = StartPaired();
        session.Tell(new SessionActor.Abort("the test says so"));
        _client.ExpectMsg<Tcp.Abort>();
        _data.ExpectMsg<Tcp.Abort>();
    }
}
