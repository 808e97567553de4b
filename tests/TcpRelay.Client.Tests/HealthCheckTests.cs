using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TcpRelay.Client;
using TcpRelay.Protocol;

namespace TcpRelay.Client.Tests;

/// <summary>An agent's health checks: a service that stops listening is deregistered, and registered again once it listens.</summary>
public sealed class HealthCheckTests
{
    // Generous: a loaded 2-core machine may run a 100ms check late many times over.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <summary>An echo service that can stop listening and listen again on the same port.</summary>
    private sealed class RestartableEcho : IDisposable
    {
        private Socket _listening;

        public RestartableEcho()
        {
            _listening = Listen(new IPEndPoint(IPAddress.Loopback, 0));
            Port = Loopback.PortOf(_listening);
        }

        public int Port { get; }

        public void Stop() => _listening.Dispose();

        public void Start() => _listening = Listen(new IPEndPoint(IPAddress.Loopback, Port));

        public void Dispose() => _listening.Dispose();

        private static Socket Listen(IPEndPoint at)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(at);
            socket.Listen();
            _ = Task.Run(async () =>
            {
                while (true)
                {
                    Socket connection;
                    try
                    {
                        connection = await socket.AcceptAsync();
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException)
                    {
                        return;
                    }
                    _ = Task.Run(async () =>
                    {
                        using (connection)
                        {
                            var buffer = new byte[4096];
                            try
                            {
                                int n;
                                while ((n = await connection.ReceiveAsync(buffer)) > 0)
                                    await connection.SendAsync(buffer.AsMemory(0, n));
                                connection.Shutdown(SocketShutdown.Send);
                            }
                            catch (SocketException)
                            {
                                // Reset: nothing to echo.
                            }
                        }
                    });
                }
            });
            return socket;
        }
    }

    [Fact]
    public async Task A_service_that_stops_listening_is_deregistered_and_registered_again_once_it_listens()
    {
        await using var relay = await TestRelay.StartAsync();
        using var echo = new RestartableEcho();
        var log = new CapturedLog();
        var options = relay.ListenerOptions() with { ReconnectDelayMin = TimeSpan.FromMilliseconds(100), ReconnectDelayMax = TimeSpan.FromSeconds(1) };
        var service = new ExposedService("127.0.0.1", echo.Port, "checked") { HealthInterval = TimeSpan.FromMilliseconds(200) };
        await using var agent = new RelayAgent(options, [service], log);
        await agent.StartAsync();
        await EchoesAsync(agent.Services[0].Listener.PublicPort);

        echo.Stop();
        await log.WaitForAsync(e => e.Level == LogLevel.Warning && e.Text.Contains("failed 3 health checks in a row") && e.Text.Contains("deregistered checked"), Wait);
        // The name is free at the relay: another app gets it (and gives it back). Soon rather than at
        // once: the relay frees a name a LEAVE gives up on its own time.
        await TestRelay.RegistersSoonAsync(() => relay.Listener("checked"), ErrorCode.NameInUse);
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Error);

        echo.Start();
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
        using var echo = new RestartableEcho();
        var log = new CapturedLog();
        var service = new ExposedService("127.0.0.1", echo.Port, "steady") { HealthInterval = TimeSpan.FromMilliseconds(200) };
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
