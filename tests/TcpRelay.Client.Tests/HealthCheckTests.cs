using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TcpRelay.Client;
using TcpRelay.Protocol;

namespace TcpRelay.Client.Tests;

/// <summary>An agent's health checks: a service that stops listening is deregistered, and registered again once it listens.</summary>
public sealed class HealthCheckTests
{
    // Generous: a loaded 2-core machine may run a 200ms check late many times over.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_service_that_stops_listening_is_deregistered_and_registered_again_once_it_listens()
    {
        await using var relay = await TestRelay.StartAsync();
        using var echo = LocalService.Echo();
        var log = new CapturedLog();
        var options = relay.ListenerOptions() with { ReconnectDelayMin = TimeSpan.FromMilliseconds(100), ReconnectDelayMax = TimeSpan.FromSeconds(1) };
        var service = echo.As("checked") with { HealthInterval = TimeSpan.FromMilliseconds(200) };
        await using var agent = new RelayAgent(options, [service], log);
        await agent.StartAsync();
        await EchoesAsync(agent.Services[0].Listener.PublicPort);

        echo.StopListening();
        await log.WaitForAsync(e => e.Level == LogLevel.Warning && e.Text.Contains("failed 3 health checks in a row") && e.Text.Contains("deregistered checked"), Wait);
        // The name is free at the relay: another app gets it (and gives it back). Soon rather than at
        // once: the relay frees a name a LEAVE gives up on its own time.
        await TestRelay.RegistersSoonAsync(() => relay.Listener("checked"), ErrorCode.NameInUse);
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Error);

        echo.ListenAgain();
        var back = await log.WaitForAsync(e => e.Text.Contains("passed 2 health checks in a row: registered checked again"), Wait);
        Assert.Equal(LogLevel.Information, back.Level);
        var listener = agent.Services[0].Listener;
        Assert.Contains($":{listener.PublicPort}", back.Text);
        await EchoesAsync(listener.PublicPort);
        Assert.False(agent.Completion.IsCompleted);
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task A_service_that_stays_up_is_never_withdrawn_and_a_drain_ends_its_checks()
    {
        await using var relay = await TestRelay.StartAsync();
        using var echo = LocalService.Echo();
        var log = new CapturedLog();
        var service = echo.As("steady") with { HealthInterval = TimeSpan.FromMilliseconds(200) };
        await using var agent = new RelayAgent(relay.ListenerOptions(), [service], log);
        await agent.StartAsync();
        var listener = agent.Services[0].Listener;
        for (var i = 0; i < 5; i++)
            await EchoesAsync(listener.PublicPort);

        Assert.Equal(0, await agent.DrainAsync(Wait));
        await agent.Completion.WaitAsync(Wait);
        Assert.Same(listener, agent.Services[0].Listener);
        Assert.DoesNotContain(log.Entries, e => e.Text.Contains("health checks"));
    }

    private static async Task EchoesAsync(int port)
    {
        using var client = await TestRelay.ConnectAsync(port);
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await SocketAssert.ReadExactlyAsync(client, 4, Wait));
        client.Shutdown(SocketShutdown.Send);
        await SocketAssert.ClosedAsync(client, Wait);
    }
}
