using System.Net.Sockets;
using System.Text;
using TcpRelay.Client;
using TcpRelay.Protocol;

namespace TcpRelay.Server.Tests;

/// <summary>The relay hosted in-process, apps on the client library, clients on plain sockets, all over loopback.</summary>
public sealed class EndToEndTests
{
    [Fact]
    public async Task Echo_through_the_client_library()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync("echo");
        Assert.Equal("echo", app.Name);
        Assert.True(relay.Settings.PublicPorts.Contains(app.PublicPort));
        Assert.Equal(relay.Endpoints.Data.Port, app.DataPort);
        _ = EchoApp.ServeAsync(app);

        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await SocketAssert.EchoedWholeAsync(client, Payload.Make(1, 300_000));
    }

    [Fact]
    public async Task Many_sessions_at_once_arrive_byte_exact()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync();
        _ = EchoApp.ServeAsync(app);

        await Task.WhenAll(Enumerable.Range(0, 32).Select(async i =>
        {
            using var client = await TestRelay.ConnectAsync(app.PublicPort);
            var payload = Payload.Make((ulong)i, 200_000 + i * 1000);
            var echoed = SocketAssert.ReadExactlyAsync(client, payload.Length);
            await client.SendAsync(payload);
            Assert.Equal(payload, await echoed);
        }));
    }

    [Fact]
    public async Task When_its_relay_node_stops_a_listener_registers_with_the_next_on_the_same_port()
    {
        // Two relays standing in for two nodes of one relay: the same public range, either may serve.
        var nodeA = await TestRelay.StartAsync();
        await using var nodeB = await TestRelay.StartAsync(s => s with { PublicPorts = nodeA.Settings.PublicPorts });
        await using var app = new RelayListener(nodeA.ListenerOptions("roaming") with
        {
            OtherNodes = [new HostPort("127.0.0.1", nodeB.Endpoints.Control.Port)],
            ReconnectDelayMin = TimeSpan.FromMilliseconds(50),
            ReconnectDelayMax = TimeSpan.FromMilliseconds(200),
        });
        await app.StartAsync();
        _ = EchoApp.ServeAsync(app);
        var port = app.PublicPort;

        await nodeA.DisposeAsync();
        for (var deadline = DateTime.UtcNow + TestRelay.Wait; app.Relay != $"127.0.0.1:{nodeB.Endpoints.Control.Port}"; await Task.Delay(20))
            Assert.True(DateTime.UtcNow < deadline, $"still on {app.Relay}");
        Assert.Equal(port, app.PublicPort);
        // The listener turns to node B before B has bound the port for it.
        using var client = await TestRelay.ConnectWhenListeningAsync(port);
        await client.SendAsync("through node B"u8.ToArray());
        Assert.Equal("through node B"u8.ToArray(), await SocketAssert.ReadExactlyAsync(client, 14));
    }

    [Fact]
    public async Task An_app_restarted_with_its_resume_token_gets_its_name_and_port_back_at_once()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { GracePeriod = TimeSpan.FromMinutes(1) });
        var token = ResumeToken.New();
        // The first process, played by hand, registers with the token and dies without a word.
        var crashed = await TestRelay.ConnectAsync(relay.Endpoints.Control.Port);
        var lines = new LineFramer();
        Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(crashed, lines));
        await crashed.SendAsync(ControlLine.ToBytes(new Register(AppName.Parse("phoenix").Value, Resume: token)));
        var held = Assert.IsType<Registered>(await SocketAssert.ReadLineAsync(crashed, lines));
        crashed.LingerState = new LingerOption(true, 0);
        crashed.Dispose();

        // Another process without the token is refused for the whole grace period...
        await using (var stranger = relay.Listener("phoenix"))
            Assert.Equal(ErrorCode.NameInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => stranger.StartAsync())).Code);
        // ...the restarted one, with it, is back on the same port at once.
        await using var restarted = new RelayListener(relay.ListenerOptions("phoenix") with { ResumeToken = token });
        await restarted.StartAsync();
        Assert.Equal(held.Port, restarted.PublicPort);
    }

    [Fact]
    public async Task A_banner_reaches_the_client_before_it_speaks()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync();
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();
        await session.WriteAsync("SSH-2.0-banner\r\n"u8.ToArray());
        Assert.Equal("SSH-2.0-banner\r\n", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(client, 16)));
    }

    [Fact]
    public async Task Half_close_from_the_client_keeps_the_reply_flowing()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync();
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();

        await client.SendAsync("request"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal("request", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(session.Socket, 7)));
        await SocketAssert.ClosedAsync(session.Socket); // the app sees the client's FIN

        await session.WriteAsync("response after FIN"u8.ToArray());
        Assert.Equal("response after FIN", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(client, 18)));
        session.Socket.Shutdown(SocketShutdown.Send);
        await SocketAssert.ClosedAsync(client);
    }

    [Fact]
    public async Task Half_close_from_the_app_keeps_the_client_sending()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync();
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();

        await session.WriteAsync("greeting"u8.ToArray());
        session.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("greeting", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(client, 8)));
        await SocketAssert.ClosedAsync(client);

        await client.SendAsync("late bytes"u8.ToArray());
        Assert.Equal("late bytes", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(session.Socket, 10)));
        client.Shutdown(SocketShutdown.Send);
        await SocketAssert.ClosedAsync(session.Socket);
    }

    [Fact]
    public async Task A_reset_by_the_client_resets_the_app_side()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync();
        var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();
        await client.SendAsync(new byte[] { 1 });
        await SocketAssert.ReadExactlyAsync(session.Socket, 1);

        client.LingerState = new LingerOption(true, 0);
        client.Close(); // RST
        await SocketAssert.ResetAsync(session.Socket);
    }

    [Fact]
    public async Task When_the_app_leaves_waiting_clients_are_closed_and_its_port_and_name_are_free()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { PendingTimeout = TimeSpan.FromMinutes(1) });
        var app = await relay.StartListenerAsync("leaving");
        var port = app.PublicPort;
        using var client = await TestRelay.ConnectAsync(port);
        await app.DisposeAsync(); // never accepted the client

        await SocketAssert.ClosedAsync(client, TimeSpan.FromSeconds(5)); // at once, not after the pending timeout
        RelayListener? again = null;
        for (var deadline = DateTime.UtcNow + TestRelay.Wait; again is null; )
        {
            try
            {
                again = await relay.StartListenerAsync("leaving", port);
            }
            catch (RelayRegistrationException e) when (e.Code == ErrorCode.PortInUse && DateTime.UtcNow < deadline)
            {
                // The port is released once the relay's listener confirmed the unbind: poll until then.
                await Task.Yield();
            }
        }
        await using (again)
            Assert.Equal(port, again.PublicPort);
    }

    [Fact]
    public async Task A_data_connection_naming_no_waiting_session_is_closed()
    {
        await using var relay = await TestRelay.StartAsync();
        using var data = await TestRelay.ConnectAsync(relay.Endpoints.Data.Port);
        await data.SendAsync(new Accept(SessionId.New()).ToBytes());
        await SocketAssert.ClosedAsync(data);
    }

    [Fact]
    public async Task With_a_secret_only_apps_that_prove_it_register()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { Secret = "correct horse" });
        await using (var good = relay.Listener(secret: "correct horse"))
            await good.StartAsync();

        await using var bad = relay.Listener(secret: "wrong");
        var refused = await Assert.ThrowsAsync<RelayRegistrationException>(() => bad.StartAsync());
        Assert.Equal(ErrorCode.AuthFailed, refused.Code);
    }

    [Fact]
    public async Task Without_a_secret_any_auth_is_ignored()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = relay.Listener(secret: "anything");
        await app.StartAsync();
        Assert.True(app.PublicPort > 0);
    }

    [Fact]
    public async Task Registration_errors_reach_the_app_with_their_code()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var first = await relay.StartListenerAsync("taken");
        await using var second = relay.Listener("taken");
        Assert.Equal(ErrorCode.NameInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => second.StartAsync())).Code);
        await using var outside = relay.Listener(port: relay.Settings.PublicPorts.Last + 1);
        Assert.Equal(ErrorCode.PortNotAllowed, (await Assert.ThrowsAsync<RelayRegistrationException>(() => outside.StartAsync())).Code);
    }

    [Fact]
    public async Task A_rejected_session_closes_its_client()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { PendingTimeout = TimeSpan.FromMinutes(1) });
        using var control = await TestRelay.ConnectAsync(relay.Endpoints.Control.Port);
        var lines = new LineFramer();
        Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(control, lines));
        await control.SendAsync(ControlLine.ToBytes(new Register()));
        var registered = Assert.IsType<Registered>(await SocketAssert.ReadLineAsync(control, lines));

        using var client = await TestRelay.ConnectAsync(registered.Port);
        var connect = Assert.IsType<Connect>(await SocketAssert.ReadLineAsync(control, lines));
        await control.SendAsync(ControlLine.ToBytes(new Reject(connect.Id)));
        await SocketAssert.ClosedAsync(client, TimeSpan.FromSeconds(5)); // at once, not after the pending timeout
    }
}
