using System.Net;
using Akka.Actor;
using Akka.IO;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;

namespace TcpRelay.Server.Tests;

/// <summary>A DataChannelActor between probes standing in for its connection, the registry and the session.</summary>
public sealed class DataChannelActorTests : TestKit
{
    private readonly TestProbe _connection;
    private readonly TestProbe _registry;

    public DataChannelActorTests() : base("akka.loglevel = WARNING")
    {
        _connection = CreateTestProbe("connection");
        _registry = CreateTestProbe("registry");
    }

    /// <summary>A channel that has registered with its connection and asked for the first read.</summary>
    private IActorRef StartChannel()
    {
        var channel = Sys.ActorOf(DataChannelActor.CreateProps(_connection.Ref, new IPEndPoint(IPAddress.Loopback, 5000),
            TestSettings.Relay(), _registry.Ref));
        _connection.ExpectMsg<Tcp.Register>();
        _connection.ExpectMsg<Tcp.ResumeReading>();
        return channel;
    }

    [Fact]
    public void The_session_gets_the_connection_only_once_the_channel_forwards_its_events()
    {
        var session = CreateTestProbe("session");
        var channel = StartChannel();

        var id = SessionId.New();
        channel.Tell(new Tcp.Received(ByteString.FromString($"ACCEPT id={id}\nbanner")), _connection.Ref);
        Assert.Equal(id, _registry.ExpectMsg<RegistryActor.ClaimSession>().Id);
        session.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        channel.Tell(new DataChannelActor.Claimed(session.Ref), _registry.Ref);
        var connected = session.ExpectMsg<SessionActor.DataConnected>();
        Assert.Equal(_connection.Ref, connected.Connection);
        Assert.Equal("banner", connected.Leftover.ToString());

        // The session's first read may come back at once: it must reach the session, sent by the connection.
        channel.Tell(new Tcp.Received(ByteString.FromString("reply")), _connection.Ref);
        Assert.Equal("reply", session.ExpectMsg<Tcp.Received>().Data.ToString());
        Assert.Equal(_connection.Ref, session.LastSender);
    }

    [Fact]
    public void A_session_claimed_just_as_the_handshake_time_ends_is_still_handed_over()
    {
        var session = CreateTestProbe("session");
        var channel = Sys.ActorOf(DataChannelActor.CreateProps(_connection.Ref, new IPEndPoint(IPAddress.Loopback, 5000),
            TestSettings.Relay() with { HandshakeTimeout = TimeSpan.FromMilliseconds(300) }, _registry.Ref));
        _connection.ExpectMsg<Tcp.Register>();
        _connection.ExpectMsg<Tcp.ResumeReading>();

        channel.Tell(new Tcp.Received(ByteString.FromString($"ACCEPT id={SessionId.New()}\n")), _connection.Ref);
        _registry.ExpectMsg<RegistryActor.ClaimSession>();
        // The registry's answer comes after the handshake time: the ACCEPT line was in time, and the
        // registry has already taken the session out of its table for this connection.
        _connection.ExpectNoMsg(TimeSpan.FromMilliseconds(600));
        channel.Tell(new DataChannelActor.Claimed(session.Ref), _registry.Ref);

        Assert.Equal(_connection.Ref, session.ExpectMsg<SessionActor.DataConnected>().Connection);
    }

    [Fact]
    public void A_close_while_the_session_is_looked_up_reaches_the_session_after_pairing()
    {
        var session = CreateTestProbe("session");
        var channel = StartChannel();
        channel.Tell(new Tcp.Received(ByteString.FromString($"ACCEPT id={SessionId.New()}\n")), _connection.Ref);
        _registry.ExpectMsg<RegistryActor.ClaimSession>();
        var reset = new Tcp.ErrorClosed("connection reset by peer");
        channel.Tell(reset, _connection.Ref);

        channel.Tell(new DataChannelActor.Claimed(session.Ref), _registry.Ref);
        Assert.Equal(_connection.Ref, session.ExpectMsg<SessionActor.DataConnected>().Connection);
        Assert.Same(reset, session.ExpectMsg<Tcp.ErrorClosed>());
        Assert.Equal(_connection.Ref, session.LastSender);
    }

    [Fact]
    public void An_id_no_session_waits_for_is_refused_and_closed()
    {
        var channel = StartChannel();

        channel.Tell(new Tcp.Received(ByteString.FromString($"ACCEPT id={SessionId.New()}\n")), _connection.Ref);
        _registry.ExpectMsg<RegistryActor.ClaimSession>();
        channel.Tell(DataChannelActor.UnknownSession.Instance, _registry.Ref);
        _connection.ExpectMsg<Tcp.Close>();
    }
}
