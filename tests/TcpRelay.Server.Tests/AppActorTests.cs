using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;

namespace TcpRelay.Server.Tests;

/// <summary>An AppActor on a real loopback port; probes stand in for its control channel and its parent, the registry.</summary>
public sealed class AppActorTests : TestKit
{
    public AppActorTests() : base("akka.loglevel = WARNING") { }

    [Fact]
    public async Task Binds_then_answers_registered_and_announces_each_client_with_connect()
    {
        var channel = CreateTestProbe("channel");
        var registry = CreateTestProbe("registry");
        var spec = new AppActor.Spec(AppName.Parse("echo").Value, 0, false, channel.Ref, new IPEndPoint(IPAddress.Loopback, 1), 9999);
        var app = registry.ChildActorOf(AppActor.CreateProps(spec, TestSettings.Relay()));

        var registered = channel.ExpectMsg<ControlChannelActor.Registered>();
        Assert.Equal(app, registered.App);
        Assert.Equal("echo", registered.Reply.Name.Value);
        Assert.Equal(9999, registered.Reply.DataPort);
        Assert.NotEqual(0, registered.Reply.Port);

        // REGISTERED is only sent once the port is bound, so a client connects at once.
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, registered.Reply.Port);
        var opened = registry.ExpectMsg<RegistryActor.SessionOpened>();
        var connect = (Connect)channel.ExpectMsg<ControlChannelActor.Send>().Message;
        Assert.Equal(opened.Id, connect.Id);
        Assert.Equal(((IPEndPoint)client.Client.LocalEndPoint!).Port, connect.Client.Port);
        Assert.Equal($"session-{connect.Id}", opened.Session.Path.Name);
    }

    [Fact]
    public async Task After_its_app_leaves_it_closes_waiting_clients_and_releases_the_port()
    {
        var channel = CreateTestProbe("channel");
        var registry = CreateTestProbe("registry");
        var spec = new AppActor.Spec(AppName.Parse("leaving").Value, 0, false, channel.Ref, new IPEndPoint(IPAddress.Loopback, 1), 9999);
        var app = registry.ChildActorOf(AppActor.CreateProps(spec, TestSettings.Relay()));
        var port = channel.ExpectMsg<ControlChannelActor.Registered>().Reply.Port;
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        registry.ExpectMsg<RegistryActor.SessionOpened>();
        Watch(app);

        Sys.Stop(channel.Ref);
        registry.ExpectMsg<RegistryActor.AppDeparted>();
        var stream = client.GetStream();
        stream.ReadTimeout = 5000;
        Assert.Equal(0, stream.Read(new byte[1])); // the waiting client is closed, not left to its pending timeout
        ExpectTerminated(app);

        using var again = new TcpListener(IPAddress.Loopback, port); // the port is free once the actor has stopped
        again.Start();
    }
}
