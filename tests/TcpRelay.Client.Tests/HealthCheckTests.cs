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

    [Fact]
    public async Task Of_two_instances_behind_a_shared_name_the_one_whose_service_dies_gets_no_more_clients()
    {
        await using var relay = await TestRelay.StartAsync();
        using var serviceA = Tagged('A');
        using var serviceB = Tagged('B');
        var logA = new CapturedLog();
        RelayAgent Agent(LocalService service, CapturedLog log) => new(relay.ListenerOptions(),
            [service.As("pool") with { Shared = true, HealthInterval = TimeSpan.FromMilliseconds(200) }], log);
        await using var a = Agent(serviceA, logA);
        await a.StartAsync();
        await using var b = Agent(serviceB, new CapturedLog());
        await b.StartAsync();
        var port = a.Services[0].Listener.PublicPort;
        Assert.Equal(port, b.Services[0].Listener.PublicPort);
        var tags = new List<char>();
        for (var i = 0; i < 4; i++)
            tags.Add(await TagOfAsync(port));
        Assert.Equal(['A', 'B'], tags.Distinct().Order());
        // A session of B runs through all that follows (A's sessions meanwhile are held open too).
        var held = new List<Socket>();
        Socket running;
        while (true)
        {
            running = await TestRelay.ConnectAsync(port);
            held.Add(running);
            if ((char)(await SocketAssert.ReadExactlyAsync(running, 1, Wait))[0] == 'B')
                break;
        }

        serviceA.StopListening();
        await logA.WaitForAsync(e => e.Text.Contains("deregistered pool"), Wait);
        for (var i = 0; i < 20; i++)
            Assert.Equal('B', await TagOfAsync(port));
        var payload = Payload.Make(7, 128 * 1024);
        var sending = running.SendAsync(payload);
        Assert.Equal(payload, await SocketAssert.ReadExactlyAsync(running, payload.Length, Wait));
        await sending;
        foreach (var socket in held)
            socket.Dispose();
    }

    /// <summary>A service that says which one it is (one byte), then echoes.</summary>
    private static LocalService Tagged(char tag) => new(async c =>
    {
        var buffer = new byte[65536];
        try
        {
            await c.SendAsync(new[] { (byte)tag });
            int n;
            while ((n = await c.ReceiveAsync(buffer)) > 0)
                await c.SendAsync(buffer.AsMemory(0, n));
            c.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The client reset the session.
        }
    });

    private static async Task<char> TagOfAsync(int port)
    {
        using var client = await TestRelay.ConnectAsync(port);
        return (char)(await SocketAssert.ReadExactlyAsync(client, 1, Wait))[0];
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
