using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Hosting;

namespace TcpRelay.Server.Tests;

public sealed class RelayActorTests : TestKit
{
    public RelayActorTests() : base("akka.loglevel = WARNING") { }

    [Fact]
    public async Task Reports_its_bound_ports_and_refuses_a_port_already_taken()
    {
        var relay = Sys.ActorOf(RelayActor.CreateProps(TestSettings.Relay()), "relay");
        var endpoints = await new RunningRelay(relay).WaitForEndpointsAsync(TimeSpan.FromSeconds(10));
        Assert.NotEqual(endpoints.Control.Port, endpoints.Data.Port);

        var clash = Sys.ActorOf(RelayActor.CreateProps(TestSettings.Relay() with { DataPort = endpoints.Data.Port }), "clash");
        var e = await Assert.ThrowsAsync<RelayBindException>(() => new RunningRelay(clash).WaitForEndpointsAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains($"data port 127.0.0.1:{endpoints.Data.Port}", e.Message);

        using var control = new TcpClient();
        await control.ConnectAsync(endpoints.Control); // the first relay is unaffected
    }

    [Fact]
    public async Task Losing_the_registry_shuts_the_relay_down()
    {
        var relay = Sys.ActorOf(RelayActor.CreateProps(TestSettings.Relay()), "relay");
        await new RunningRelay(relay).WaitForEndpointsAsync(TimeSpan.FromSeconds(10));
        var registry = await Sys.ActorSelection("/user/relay/registry").ResolveOne(TimeSpan.FromSeconds(5));
        Sys.Stop(registry);
        await Sys.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(10)); // throws TimeoutException if the system runs on
    }
}
