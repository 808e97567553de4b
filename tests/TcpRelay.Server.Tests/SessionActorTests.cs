using System.Net;
using Akka.Actor;
using Akka.IO;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;

namespace TcpRelay.Server.Tests;

/// <summary>A SessionActor between two probes that stand in for the client and data connection actors.</summary>
public sealed class SessionActorTests : TestKit
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);
    private readonly TestProbe _client;
    private readonly TestProbe _data;
    private readonly TestProbe _channel;

    public SessionActorTests() : base("akka.loglevel = WARNING")
    {
        _client = CreateTestProbe("client");
        _data = CreateTestProbe("data");
        _channel = CreateTestProbe("channel");
    }

    private IActorRef StartSession(TimeSpan? pendingTimeout = null)
    {
        var settings = TestSettings.Relay() with { PendingTimeout = pendingTimeout ?? TimeSpan.FromSeconds(30) };
        var session = Sys.ActorOf(SessionActor.CreateProps(SessionId.New(), AppName.Parse("app").Value,
            _client.Ref, new IPEndPoint(IPAddress.Loopback, 5000), settings));
        var register = _client.ExpectMsg<Tcp.Register>();
        Assert.Equal(session, register.Handler);
        Assert.True(register.KeepOpenOnPeerClosed, "half-close needs the write side kept open after the peer's FIN");
        _client.ExpectMsg<Tcp.ResumeReading>();
        return session;
    }

    private static ByteString Bytes(string text) => ByteString.FromString(text);

    private IActorRef StartPaired(ByteString? leftover = null)
    {
        var session = StartSession();
        session.Tell(new SessionActor.DataConnected(_data.Ref, leftover ?? ByteString.Empty), _channel.Ref);
        return session;
    }

    [Fact]
    public void Pairing_starts_reading_the_data_connection()
    {
        StartPaired();
        _data.ExpectMsg<Tcp.ResumeReading>();
    }

    [Fact]
    public void Client_bytes_are_written_to_the_data_side_and_two_writes_in_flight_hold_reading_back()
    {
        var session = StartPaired(); // the client's read from before pairing is still outstanding
        _data.ExpectMsg<Tcp.ResumeReading>();

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
    public void App_bytes_are_written_to_the_client_with_the_same_back_pressure()
    {
        var session = StartPaired(); // the client's read from before pairing is still outstanding
        _data.ExpectMsg<Tcp.ResumeReading>();

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
    public void Early_client_bytes_and_the_app_banner_cross_first_on_pairing()
    {
        var session = StartSession();
        session.Tell(new Tcp.Received(Bytes("early")), _client.Ref);
        session.Tell(new SessionActor.DataConnected(_data.Ref, Bytes("banner")), _channel.Ref);

        Assert.Equal("banner", _client.ExpectMsg<Tcp.Write>().Data.ToString());
        Assert.Equal("early", _data.ExpectMsg<Tcp.Write>().Data.ToString());
        // With one write in flight each way, each side is read once more, and no further.
        _data.ExpectMsg<Tcp.ResumeReading>();
        _client.ExpectMsg<Tcp.ResumeReading>();
        _client.ExpectNoMsg(Quiet);
        _data.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void Client_half_close_is_passed_on_and_the_other_direction_keeps_flowing()
    {
        var session = StartPaired();
        _data.ExpectMsg<Tcp.ResumeReading>();
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
    }

    [Fact]
    public void A_fin_waits_for_the_write_in_flight()
    {
        var session = StartSession();
        session.Tell(new Tcp.Received(Bytes("last words")), _client.Ref);
        session.Tell(Tcp.PeerClosed.Instance, _client.Ref);
        session.Tell(new SessionActor.DataConnected(_data.Ref, ByteString.Empty), _channel.Ref);

        var write = _data.ExpectMsg<Tcp.Write>(m => m.Data.ToString() == "last words");
        _data.ExpectMsg<Tcp.ResumeReading>(); // the app side is read while the client's bytes are in flight
        _data.ExpectNoMsg(Quiet); // no FIN before the write is acked
        session.Tell(write.Ack, _data.Ref);
        _data.ExpectMsg<Tcp.ConfirmedClose>();
    }

    [Fact]
    public void A_reset_on_one_side_aborts_the_other()
    {
        var session = StartPaired();
        _data.ExpectMsg<Tcp.ResumeReading>();
        Watch(session);

        session.Tell(new Tcp.ErrorClosed("Connection reset by peer"), _data.Ref);
        _client.ExpectMsg<Tcp.Abort>();
        session.Tell(Tcp.Aborted.Instance, _client.Ref);
        ExpectTerminated(session);
    }

    [Fact]
    public void A_client_reset_aborts_the_app_side()
    {
        var session = StartPaired();
        _data.ExpectMsg<Tcp.ResumeReading>();
        session.Tell(new Tcp.ErrorClosed("Connection reset by peer"), _client.Ref);
        _data.ExpectMsg<Tcp.Abort>();
    }

    [Fact]
    public void A_session_never_dialled_closes_its_client_after_the_pending_timeout()
    {
        var session = StartSession(pendingTimeout: TimeSpan.FromMilliseconds(300));
        Watch(session);
        _client.ExpectMsg<Tcp.Close>(TimeSpan.FromSeconds(5));
        session.Tell(Tcp.Closed.Instance, _client.Ref);
        ExpectTerminated(session);
    }

    [Fact]
    public void A_rejected_session_closes_its_client_at_once()
    {
        var session = StartSession();
        session.Tell(SessionActor.Rejected.Instance);
        _client.ExpectMsg<Tcp.Close>();
    }

    [Fact]
    public void A_paired_session_ignores_its_app_leaving()
    {
        var session = StartPaired();
        _data.ExpectMsg<Tcp.ResumeReading>();
        session.Tell(SessionActor.AppGone.Instance);
        _client.ExpectNoMsg(Quiet);
        session.Tell(new Tcp.Received(Bytes("still here")), _client.Ref);
        Assert.Equal("still here", _data.ExpectMsg<Tcp.Write>().Data.ToString());
    }

    [Fact]
    public void A_client_that_resets_while_waiting_ends_the_session()
    {
        var session = StartSession();
        Watch(session);
        session.Tell(new Tcp.ErrorClosed("reset"), _client.Ref);
        ExpectTerminated(session);
    }
}
