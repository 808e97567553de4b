using System.Net;
using Akka.Actor;
using Akka.IO;
using Akka.TestKit.Xunit2;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;

namespace TcpRelay.Server.Tests;

/// <summary>A DataChannelActor between probes standing in for its connection, the registry and the session.</summary>
public sealed class DataChannelActorTests : TestKit
{
    public DataChannelActorTests() : base("akka.loglevel = WARNING") { }

    [Fact]
    public void The_session_gets_the_connection_only_once_the_channel_forwards_its_events()
    {
        var connection = CreateTestProbe("connection");
        var registry = CreateTestProbe("registry");
        var session = CreateTestProbe("session");
        var channel = Sys.ActorOf(DataChannelActor.CreateProps(connection.Ref, new IPEndPoint(IPAddress.Loopback, 5000),
            TestSettings.Relay(), registry.Ref));
        connection.ExpectMsg<Tcp.Register>();
        connection.ExpectMsg<Tcp.ResumeReading>();

        var id = SessionId.New();
        channel.Tell(new Tcp.Received(ByteString.FromString($"ACCEPT id={id}\nbanner")), connection.Ref);
        Assert.Equal(id, registry.ExpectMsg<RegistryActor.ClaimSession>().Id);
        session.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        channel.Tell(new DataChannelActor.Claimed(session.Ref), registry.Ref);
        var connected = session.ExpectMsg<SessionActor.DataConnected>();
        Assert.Equal(connection.Ref, connected.Connection);
        Assert.Equal("banner", connected.Leftover.ToString());

        // The session's first read may come back at once: it must reach the session, sent by the connection.
        channel.Tell(new Tcp.Received(ByteString.FromString("reply")), connection.Ref);
        Assert.Equal("reply", session.ExpectMsg<Tcp.Received>().Data.ToString());
        Assert.Equal(connection.Ref, session.LastSender);
    }

    [Fact]
    public void An_id_no_session_waits_for_is_refused_and_closed()
    {
        var connection = CreateTestProbe("connection");
        var registry = CreateTestProbe("registry");
        var channel = Sys.ActorOf(DataChannelActor.CreateProps(connection.Ref, new IPEndPoint(IPAddress.Loopback, 5000),
            TestSettings.Relay(), registry.Ref));
        connection.ExpectMsg<Tcp.Register>();
        connection.ExpectMsg<Tcp.ResumeReading>();

        channel.Tell(new Tcp.Received(ByteString.FromString($"ACCEPT id={SessionId.New()}\n")), connection.Ref);
        registry.ExpectMsg<RegistryActor.ClaimSession>();
        channel.Tell(DataChannelActor.UnknownSession.Instance, registry.Ref);
        connection.ExpectMsg<Tcp.Close>();
    }
}
