using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Microsoft.Extensions.Logging;
using TcpRelay.Client;
using TcpRelay.Protocol;

namespace TcpRelay.Client.Tests;

/// <summary>
/// The agent between an in-process relay and local services on loopback: bytes, half-close, reset,
/// a refusing service, and its return after the relay drops it or restarts.
/// </summary>
public sealed class AgentTests
{
    private static RelayListenerOptions Options(TestRelay relay, TimeSpan? reconnectMin = null) => new()
    {
        RelayHost = "127.0.0.1",
        ControlPort = relay.Endpoints.Control.Port,
        Secret = relay.Settings.Secret,
        ReconnectDelayMin = reconnectMin ?? TimeSpan.FromMilliseconds(100),
        ReconnectDelayMax = TimeSpan.FromSeconds(1),
    };

    private static async Task<RelayAgent> StartAgentAsync(RelayListenerOptions options, params ExposedService[] services)
    {
        var agent = new RelayAgent(options, services);
        await agent.StartAsync();
        return agent;
    }

    private static async Task EchoesAsync(int port, ulong seed, int length)
    {
        using var client = await TestRelay.ConnectAsync(port);
        var payload = Payload.Make(seed, length);
        var sending = client.SendAsync(payload);
        var echoed = await SocketAssert.ReadExactlyAsync(client, length);
        await sending;
        Assert.Equal(-1, Payload.FirstMismatch(seed, 0, echoed));
        client.Shutdown(SocketShutdown.Send);
        await SocketAssert.ClosedAsync(client);
    }

    [Fact]
    public async Task Through_a_TLS_relay_sessions_arrive_byte_exact_and_half_close_both_ways()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await TestRelay.StartAsync(s => s with { Tls = Server.Tls.RelayCertificate.From(certificate) });
        using var echo = LocalService.Echo();
        await using var agent = await StartAgentAsync(Options(relay) with { TlsPin = TlsPin.Of(certificate) }, echo.As("tls-echo"));

        // EchoesAsync half-closes: the client's FIN reaches the service as close_notify, the service's comes back.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => EchoesAsync(agent.Services[0].Listener.PublicPort, (ulong)i, 256 * 1024)));
    }

    [Fact]
    public async Task Forwards_clients_to_a_local_echo_service_byte_exact()
    {
        await using var relay = await TestRelay.StartAsync();
        using var echo = LocalService.Echo();
        await using var agent = await StartAgentAsync(Options(relay), echo.As("echo"));
        var listener = agent.Services[0].Listener;
        Assert.Equal("echo", listener.Name);

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => EchoesAsync(listener.PublicPort, (ulong)i, 1 << 20)));
    }

    [Fact]
    public async Task A_draining_agent_frees_its_names_at_once_and_lets_a_running_session_finish_byte_exact()
    {
        await using var relay = await TestRelay.StartAsync();
        using var echo = LocalService.Echo();
        await using var agent = await StartAgentAsync(Options(relay), echo.As("echo"));
        using var client = await TestRelay.ConnectAsync(agent.Services[0].Listener.PublicPort);
        var first = Payload.Make(1, 1 << 20);
        await client.SendAsync(first);
        Assert.Equal(-1, Payload.FirstMismatch(1, 0, await SocketAssert.ReadExactlyAsync(client, first.Length)));

        var drain = agent.DrainAsync(TimeSpan.FromMinutes(5));
        // Deregistered (LEAVE): another app gets the name while the session still runs.
        var deadline = DateTime.UtcNow + TestRelay.Wait;
        await using var successor = relay.Listener("echo");
        while (true)
        {
            try
            {
                await successor.StartAsync();
                break;
            }
            catch (RelayRegistrationException e) when (e.Code == ErrorCode.NameInUse && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }
        Assert.False(drain.IsCompleted);

        // The session goes on to its end, every byte of it.
        var second = Payload.Make(2, 1 << 20);
        await client.SendAsync(second);
        Assert.Equal(-1, Payload.FirstMismatch(2, 0, await SocketAssert.ReadExactlyAsync(client, second.Length)));
        client.Shutdown(SocketShutdown.Send);
        await SocketAssert.ClosedAsync(client);
        Assert.Equal(0, await drain.WaitAsync(TestRelay.Wait));
    }

    [Fact]
    public async Task A_second_stop_during_the_agent_drain_resets_what_still_runs()
    {
        await using var relay = await TestRelay.StartAsync();
        using var echo = LocalService.Echo();
        await using var agent = await StartAgentAsync(Options(relay), echo.As("echo"));
        using var client = await TestRelay.ConnectAsync(agent.Services[0].Listener.PublicPort);
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await SocketAssert.ReadExactlyAsync(client, 4));

        using var second = new CancellationTokenSource();
        var drain = agent.DrainAsync(TimeSpan.FromMinutes(5), second.Token);
        await second.CancelAsync();
        Assert.Equal(1, await drain.WaitAsync(TestRelay.Wait));
        await SocketAssert.ResetAsync(client);
    }

    [Fact]
    public async Task Half_close_crosses_the_agent_both_ways()
    {
        await using var relay = await TestRelay.StartAsync();
        var heard = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        // The service speaks first and is done talking at once, but goes on listening.
        using var service = new LocalService(async c =>
        {
            var received = new MemoryStream();
            try
            {
                await c.SendAsync("banner\n"u8.ToArray());
                c.Shutdown(SocketShutdown.Send);
                var buffer = new byte[1024];
                int n;
                while ((n = await c.ReceiveAsync(buffer)) > 0)
                    received.Write(buffer, 0, n);
            }
            catch (SocketException)
            {
                // The agent's start-up check that the service listens hangs up at once.
            }
            if (received.Length > 0)
                heard.TrySetResult(Encoding.ASCII.GetString(received.ToArray()));
        });
        await using var agent = await StartAgentAsync(Options(relay), service.As());

        using var client = await TestRelay.ConnectAsync(agent.Services[0].Listener.PublicPort);
        Assert.Equal("banner\n"u8.ToArray(), await SocketAssert.ReadExactlyAsync(client, 7));
        await SocketAssert.ClosedAsync(client); // EOF from the service, while the client may still talk
        await client.SendAsync("after your EOF"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal("after your EOF", await heard.Task.WaitAsync(TestRelay.Wait));
    }

    [Fact]
    public async Task A_client_reset_resets_the_service_connection()
    {
        await using var relay = await TestRelay.StartAsync();
        var reset = new TaskCompletionSource<SocketError>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var service = new LocalService(async c =>
        {
            // The session's connection is the one that carries the client's byte; the agent's
            // start-up check that the service listens is another, which carries none.
            var received = 0;
            try
            {
                int n;
                while ((n = await c.ReceiveAsync(new byte[1024])) > 0)
                    received += n;
                if (received > 0)
                    reset.TrySetResult(SocketError.Success); // an orderly EOF: the reset was lost
            }
            catch (SocketException e) when (received > 0)
            {
                reset.TrySetResult(e.SocketErrorCode);
            }
            catch (SocketException)
            {
            }
        });
        await using var agent = await StartAgentAsync(Options(relay), service.As());

        using var client = await TestRelay.ConnectAsync(agent.Services[0].Listener.PublicPort);
        await client.SendAsync("x"u8.ToArray());
        client.LingerState = new LingerOption(true, 0);
        client.Close(); // RST
        Assert.Equal(SocketError.ConnectionReset, await reset.Task.WaitAsync(TestRelay.Wait));
    }

    [Fact]
    public async Task A_refusing_service_gets_its_clients_reset_at_once_with_one_warning_and_the_agent_serves_on()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { PendingTimeout = TimeSpan.FromMinutes(1) });
        var log = new CapturedLog();
        using var echo = LocalService.Echo();
        using var down = Loopback.Bound();
        await using var agent = new RelayAgent(Options(relay), [new ExposedService("127.0.0.1", Loopback.PortOf(down), "down"), echo.As("up")], log)
        {
            SessionLogLevel = LogLevel.Debug,
        };
        await agent.StartAsync();
        // Refusing already at start: exposed, and said so.
        await log.WaitForAsync(e => e.Level == LogLevel.Warning && e.Text.Contains("does not accept connections now"));

        for (var i = 0; i < 3; i++)
            await SocketAssert.ResetOnArrivalAsync(agent.Services[0].Listener.PublicPort); // REJECT: a reset, at once, not the one-minute pending timeout
        await log.WaitForAsync(e => e.Level == LogLevel.Debug && e.Text.Contains("rejected") && e.Text.Contains("is reset"));
        Assert.Single(log.Entries, e => e.Level == LogLevel.Warning && e.Text.Contains("refuses connections"));
        await EchoesAsync(agent.Services[1].Listener.PublicPort, 7, 10_000);
        Assert.False(agent.Completion.IsCompleted);
    }

    [Fact]
    public async Task Session_lines_follow_the_session_log_level_and_off_leaves_them_out()
    {
        await using var relay = await TestRelay.StartAsync();
        var log = new CapturedLog();
        using var echo = LocalService.Echo();
        await using var agent = new RelayAgent(Options(relay), [echo.As("quiet")], log) { SessionLogLevel = LogLevel.None };
        await agent.StartAsync();
        await EchoesAsync(agent.Services[0].Listener.PublicPort, 3, 1000);
        await EchoesAsync(agent.Services[0].Listener.PublicPort, 4, 1000);
        await Eventually(() => agent.RunningSessions == 0);
        Assert.DoesNotContain(log.Entries, e => e.Text.Contains("Session "));
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Information && e.Text.Contains("Exposing"));
    }

    private static async Task Eventually(Func<bool> condition)
    {
        for (var deadline = DateTime.UtcNow + TestRelay.Wait; !condition(); await Task.Delay(20))
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
    }

    [Fact]
    public async Task A_name_another_app_keeps_is_given_up_after_the_taken_timeout_with_what_to_change()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var holder = await relay.StartListenerAsync("taken");
        using var echo = LocalService.Echo();
        var agent = new RelayAgent(Options(relay), [echo.As("taken")]) { TakenTimeout = TimeSpan.FromSeconds(1) };
        var e = await Assert.ThrowsAsync<RelayRegistrationException>(() => agent.StartAsync().WaitAsync(TestRelay.Wait));
        Assert.Contains("name-in-use", e.Message);
        Assert.Contains("still after", e.Message);
        Assert.Contains("give this service another --name", e.Message);
    }

    [Fact]
    public async Task A_relay_address_that_is_some_other_server_is_refused_for_good_saying_so()
    {
        using var ssh = Loopback.Listening();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                using var c = await ssh.AcceptAsync();
                await c.SendAsync("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"u8.ToArray());
                await Task.Yield();
            }
        });
        using var echo = LocalService.Echo();
        var options = new RelayListenerOptions { RelayHost = "127.0.0.1", ControlPort = Loopback.PortOf(ssh), ReconnectDelayMin = TimeSpan.FromMilliseconds(50) };
        var agent = new RelayAgent(options, [echo.As("web")]);
        var e = await Assert.ThrowsAsync<RelayRegistrationException>(() => agent.StartAsync().WaitAsync(TestRelay.Wait));
        Assert.Contains("is not a TcpRelay control port", e.Message);
        Assert.Contains("SSH-2.0", e.Message);
    }

    [Fact]
    public async Task A_relay_address_that_says_nothing_is_hinted_to_be_a_data_or_public_port()
    {
        using var silent = Loopback.Listening(); // accepted by the kernel, never answered: as a relay's data port or an app's public port
        await using var listener = new RelayListener(new RelayListenerOptions
        {
            RelayHost = "127.0.0.1", ControlPort = Loopback.PortOf(silent), ConnectTimeout = TimeSpan.FromMilliseconds(300), Reconnect = false,
        });
        var e = await Assert.ThrowsAsync<RelayRegistrationException>(() => listener.StartAsync());
        Assert.Contains("a control port says HELLO at once", e.Message);
    }

    [Fact]
    public async Task When_the_relay_drops_the_control_connection_the_agent_returns_to_its_port_and_a_client_of_the_gap_is_served()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { PendingTimeout = TimeSpan.FromSeconds(30) });
        using var echo = LocalService.Echo();
        // The first attempt waits 0.5-1 s, so the client below surely arrives while the app is away.
        await using var agent = await StartAgentAsync(Options(relay, reconnectMin: TimeSpan.FromSeconds(1)), echo.As("blip"));
        var listener = agent.Services[0].Listener;
        var port = listener.PublicPort;
        using var paired = await TestRelay.ConnectAsync(port);
        await paired.SendAsync("before"u8.ToArray());
        Assert.Equal("before"u8.ToArray(), await SocketAssert.ReadExactlyAsync(paired, 6));

        relay.System.ActorSelection("/user/relay/control-*").Tell(PoisonPill.Instance);
        using var waiting = await TestRelay.ConnectAsync(port);
        await waiting.SendAsync("during"u8.ToArray());
        Assert.Equal("during"u8.ToArray(), await SocketAssert.ReadExactlyAsync(waiting, 6));
        Assert.Equal(port, listener.PublicPort);

        // The session paired before the drop never noticed it.
        await paired.SendAsync("after"u8.ToArray());
        Assert.Equal("after"u8.ToArray(), await SocketAssert.ReadExactlyAsync(paired, 5));
    }

    [Fact]
    public async Task A_restarted_relay_gets_the_agent_back_on_the_same_port()
    {
        var first = await TestRelay.StartAsync();
        using var echo = LocalService.Echo();
        await using var agent = await StartAgentAsync(Options(first), echo.As("survivor"));
        var port = agent.Services[0].Listener.PublicPort;
        var ports = (Control: first.Endpoints.Control.Port, Data: first.Endpoints.Data.Port, first.Settings.PublicPorts);
        await first.DisposeAsync();

        await using var second = await TestRelay.StartAsync(s => s with
        {
            ControlPort = ports.Control, DataPort = ports.Data, PublicPorts = ports.PublicPorts,
        });
        // Nothing announces the agent's return to the test: poll the public port until it answers.
        var deadline = DateTime.UtcNow + TestRelay.Wait;
        while (true)
        {
            try
            {
                await EchoesAsync(port, 3, 1000);
                break;
            }
            catch (Exception e) when (e is SocketException or Xunit.Sdk.XunitException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
        Assert.Equal(port, agent.Services[0].Listener.PublicPort);
    }

    [Fact]
    public async Task During_the_grace_period_nobody_else_gets_the_name_or_port_then_both_are_free()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { GracePeriod = TimeSpan.FromSeconds(1) });
        var (held, _) = await RegisterByHandAsync(relay, "held", ResumeToken.New());
        // Dropped without LEAVE: the relay keeps both for the grace period.

        await using (var sameName = relay.Listener("held"))
            Assert.Equal(ErrorCode.NameInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => sameName.StartAsync())).Code);
        await using (var samePort = relay.Listener("other", held.Port))
            Assert.Equal(ErrorCode.PortInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => samePort.StartAsync())).Code);

        var deadline = DateTime.UtcNow + TestRelay.Wait;
        while (true)
        {
            await using var after = relay.Listener("held", held.Port);
            try
            {
                await after.StartAsync();
                Assert.Equal(held.Port, after.PublicPort);
                return;
            }
            // The name is freed when the grace period ends, the port a moment later, once the
            // listener confirms the unbind: either refusal means "not yet".
            catch (RelayRegistrationException e) when ((e.Code == ErrorCode.NameInUse || e.Code == ErrorCode.PortInUse) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task After_LEAVE_the_relay_closes_only_once_name_and_port_are_free()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { GracePeriod = TimeSpan.FromMinutes(1) });
        var port = (await RegisterByHandAsync(relay, "leaver", ResumeToken.New(), keep: true, leave: true)).Reply.Port;
        // Registering again the moment the close is seen, many times over: a race would refuse one.
        for (var i = 0; i < 50; i++)
            Assert.Equal(port, (await RegisterByHandAsync(relay, "leaver", ResumeToken.New(), port, keep: true, leave: true)).Reply.Port);
    }

    [Fact]
    public async Task After_LEAVE_with_clients_still_waiting_the_port_is_free_once_the_relay_closes()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { PendingTimeout = TimeSpan.FromMinutes(1) });
        int? port = null;
        // Waiting clients are closed by the LEAVE; the port is released after them, and the close
        // must wait for that too. Many rounds: a race would refuse one registration.
        for (var i = 0; i < 30; i++)
        {
            var (registered, (control, lines)) = await RegisterByHandAsync(relay, "leaver", ResumeToken.New(), port, keep: true);
            port = registered.Port;
            using (control)
            {
                using var waiting = await TestRelay.ConnectAsync(registered.Port);
                Assert.IsType<Connect>(await SocketAssert.ReadLineAsync(control, lines));
                await control.SendAsync(ControlLine.ToBytes(Leave.Instance));
                await SocketAssert.ClosedAsync(control);
                await SocketAssert.ClosedAsync(waiting);
            }
        }
    }

    [Fact]
    public async Task After_LEAVE_a_paired_session_keeps_the_port_until_it_ends_but_the_name_is_free_at_once()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = relay.Listener("busy");
        await app.StartAsync();
        var port = app.PublicPort;
        _ = EchoApp.ServeAsync(app);
        using var client = await TestRelay.ConnectAsync(port);
        await client.SendAsync("x"u8.ToArray());
        await SocketAssert.ReadExactlyAsync(client, 1);

        await app.DisposeAsync(); // LEAVE
        await using (var samePort = relay.Listener("other", port))
            Assert.Equal(ErrorCode.PortInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => samePort.StartAsync())).Code);
        await using (var sameName = relay.Listener("busy"))
        {
            await sameName.StartAsync();
            Assert.NotEqual(port, sameName.PublicPort);
        }
        await client.SendAsync("still"u8.ToArray());
        Assert.Equal("still"u8.ToArray(), await SocketAssert.ReadExactlyAsync(client, 5));
    }

    [Fact]
    public async Task The_same_resume_token_takes_the_name_and_port_back_and_the_waiting_client_with_them()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { PendingTimeout = TimeSpan.FromSeconds(30) });
        var token = ResumeToken.New();
        var (first, _) = await RegisterByHandAsync(relay, "mine", token);
        using var client = await TestRelay.ConnectAsync(first.Port);

        var (again, control) = await RegisterByHandAsync(relay, "mine", token, keep: true);
        using var returned = control.Socket;
        Assert.Equal(first.Port, again.Port);
        var connect = Assert.IsType<Connect>(await SocketAssert.ReadLineAsync(control.Socket, control.Lines));
        Assert.Equal(((IPEndPoint)client.LocalEndPoint!).Port, connect.Client.Port);
    }

    /// <summary>
    /// Registers with a raw socket; unless kept, the connection is then dropped without LEAVE. With
    /// <paramref name="leave"/> it says LEAVE and waits for the relay to close the connection.
    /// </summary>
    private static async Task<(Registered Reply, (Socket Socket, LineFramer Lines) Control)> RegisterByHandAsync(
        TestRelay relay, string name, ResumeToken token, int? port = null, bool keep = false, bool leave = false)
    {
        var control = await TestRelay.ConnectAsync(relay.Endpoints.Control.Port);
        var lines = new LineFramer();
        Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(control, lines));
        await control.SendAsync(ControlLine.ToBytes(new Register(AppName.Parse(name).Value, port, Resume: token)));
        var registered = Assert.IsType<Registered>(await SocketAssert.ReadLineAsync(control, lines));
        if (leave)
        {
            await control.SendAsync(ControlLine.ToBytes(Leave.Instance));
            await SocketAssert.ClosedAsync(control);
        }
        if (!keep || leave)
            control.Dispose();
        return (registered, (control, lines));
    }
}
