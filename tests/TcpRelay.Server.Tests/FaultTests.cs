using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Tests;

/// <summary>
/// Abuse and faults over loopback: limits, idle and garbage connections, failing actors, peers that
/// stop reading or vanish. In each, the apps and clients that behave must go on being served.
/// </summary>
public sealed class FaultTests
{
    private static async Task AssertEchoesAsync(int port, string text = "still served", TimeSpan? timeout = null)
    {
        using var client = await TestRelay.ConnectAsync(port);
        var bytes = System.Text.Encoding.ASCII.GetBytes(text);
        await client.SendAsync(bytes);
        Assert.Equal(bytes, await SocketAssert.ReadExactlyAsync(client, bytes.Length, timeout));
    }

    /// <summary>
    /// Polls until a failed app, registered again, echoes on its port. Nothing announces the return to
    /// the test. Until then a connection is refused, or it is taken by the failed app's listener in its
    /// last moments (its actor is gone, so nobody serves it): each attempt gets a few seconds.
    /// </summary>
    private static async Task AssertEchoesAgainAsync(int port, string text)
    {
        for (var deadline = DateTime.UtcNow + TestRelay.Wait * 3; ; await Task.Delay(50))
        {
            try
            {
                await AssertEchoesAsync(port, text, TimeSpan.FromSeconds(2));
                return;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException && DateTime.UtcNow < deadline)
            {
            }
        }
    }

    /// <summary>A connection from another loopback address, so per-address limits tell it from the test's apps on 127.0.0.1.</summary>
    private static async Task<Socket> ConnectFromAsync(IPAddress source, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(source, 0));
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return socket;
    }

    [Fact]
    public async Task Hundreds_of_idle_and_garbage_connections_do_not_keep_an_app_from_registering_and_serving()
    {
        await using var relay = await TestRelay.StartAsync(s => s with
        {
            HandshakeTimeout = TimeSpan.FromMinutes(1), MaxHandshakesPerAddress = 100, MaxHandshakes = 1000,
        });
        var attacker = IPAddress.Parse("127.0.0.2");
        var sockets = new List<Socket>();
        try
        {
            // Idle connections on both ports (slowloris), and writers of endless garbage without a line end.
            for (var i = 0; i < 150; i++)
                sockets.Add(await ConnectFromAsync(attacker, i % 2 == 0 ? relay.Endpoints.Control.Port : relay.Endpoints.Data.Port));
            var garbage = new byte[4000];
            Random.Shared.NextBytes(garbage);
            for (var i = 0; i < 150; i++)
            {
                var s = await ConnectFromAsync(IPAddress.Parse("127.0.0.3"), i % 2 == 0 ? relay.Endpoints.Control.Port : relay.Endpoints.Data.Port);
                sockets.Add(s);
                _ = s.SendAsync(garbage.Select(b => b == (byte)'\n' ? (byte)'x' : b).ToArray());
            }

            // Beyond 100 per address, connections are closed on arrival: the 101st idle one is.
            using (var over = await ConnectFromAsync(attacker, relay.Endpoints.Control.Port))
                await SocketAssert.ClosedAsync(over, TimeSpan.FromSeconds(5));

            await using var app = await relay.StartListenerAsync("legit");
            _ = EchoApp.ServeAsync(app);
            await AssertEchoesAsync(app.PublicPort);
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Clients_beyond_an_app_s_pending_and_session_limits_are_closed_at_once_and_others_go_on()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { MaxPendingPerApp = 2, MaxSessionsPerApp = 3, PendingTimeout = TimeSpan.FromMinutes(1) });
        await using var app = await relay.StartListenerAsync("limited");
        await using var other = await relay.StartListenerAsync("other");
        _ = EchoApp.ServeAsync(other);

        // Each client's connection reaches the app's actor on its own, so wait for each CONNECT to
        // know which client is the one over the limit.
        using var waiting1 = await TestRelay.ConnectAsync(app.PublicPort);
        var offer1 = await app.AcceptOfferAsync();
        using var waiting2 = await TestRelay.ConnectAsync(app.PublicPort);
        var offer2 = await app.AcceptOfferAsync();
        using (var third = await TestRelay.ConnectAsync(app.PublicPort))
            await SocketAssert.ClosedAsync(third, TimeSpan.FromSeconds(5)); // 2 pending already

        // Take the two waiting ones: they are paired, so pending is free again but sessions count 2 of 3.
        await using var s1 = await offer1.ConnectAsync();
        await using var s2 = await offer2.ConnectAsync();
        foreach (var (client, session) in new[] { (waiting1, s1), (waiting2, s2) })
        {
            await client.SendAsync("ok"u8.ToArray()); // through, so the relay has paired it
            Assert.Equal("ok"u8.ToArray(), await SocketAssert.ReadExactlyAsync(session.Socket, 2));
        }
        using var paired3 = await TestRelay.ConnectAsync(app.PublicPort);
        await using var s3 = await app.AcceptAsync();
        using (var fourth = await TestRelay.ConnectAsync(app.PublicPort))
            await SocketAssert.ClosedAsync(fourth, TimeSpan.FromSeconds(5)); // 3 sessions open

        await AssertEchoesAsync(other.PublicPort);
        await paired3.SendAsync("ok"u8.ToArray());
        Assert.Equal("ok"u8.ToArray(), await SocketAssert.ReadExactlyAsync(s3.Socket, 2));
    }

    [Fact]
    public async Task A_failing_session_does_not_take_its_app_down_nor_a_failing_app_the_others()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var first = await relay.StartListenerAsync("first");
        await using var second = await relay.StartListenerAsync("second");
        _ = EchoApp.ServeAsync(first);
        _ = EchoApp.ServeAsync(second);

        using var victim = await TestRelay.ConnectAsync(first.PublicPort);
        await victim.SendAsync("x"u8.ToArray());
        Assert.Equal("x"u8.ToArray(), await SocketAssert.ReadExactlyAsync(victim, 1));
        var session = await relay.System.ActorSelection("/user/relay/data-*").ResolveOne(TestRelay.Wait);
        session.Tell(Kill.Instance); // the supervisor sees an ActorKilledException, as for any failure
        await SocketAssert.ClosedAsync(victim);
        await AssertEchoesAsync(first.PublicPort, "the app goes on");

        var firstApp = await relay.System.ActorSelection("/user/relay/registry/app-first").ResolveOne(TestRelay.Wait);
        firstApp.Tell(Kill.Instance);
        await AssertEchoesAsync(second.PublicPort, "the other app goes on");
        // The failed app's control connection is closed and its port released; its listener registers
        // again, asking for the same port.
        await AssertEchoesAgainAsync(first.PublicPort, "and the failed one is back");
    }

    [Fact]
    public async Task A_failing_control_side_takes_its_app_s_port_down_with_it_and_the_app_registers_again()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync("brittle");
        _ = EchoApp.ServeAsync(app);
        await AssertEchoesAsync(app.PublicPort);
        var port = await relay.System.ActorSelection("/user/relay/registry/app-brittle").ResolveOne(TestRelay.Wait);
        var control = await relay.System.ActorSelection("/user/relay/registry/app-brittle/control").ResolveOne(TestRelay.Wait);

        // A port left serving for a control side that restarted blank would announce clients to nobody.
        var watcher = Inbox.Create(relay.System);
        watcher.Watch(port);
        control.Tell(Kill.Instance);
        Assert.IsType<Terminated>(await watcher.ReceiveAsync(TestRelay.Wait));
        await AssertEchoesAgainAsync(app.PublicPort, "the app is back on its port");
    }

    [Fact]
    public async Task An_app_that_never_reads_holds_the_client_back_and_the_relay_buffers_at_most_two_frames_each_way()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync("stalled");
        await StalledReader.HoldsTheClientBackAsync(relay, app);
    }

    [Fact]
    public async Task Two_REGISTER_lines_in_one_packet_are_a_bad_request_and_register_nothing()
    {
        await using var relay = await TestRelay.StartAsync();
        using var control = await TestRelay.ConnectAsync(relay.Endpoints.Control.Port);
        var lines = new LineFramer();
        Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(control, lines));
        // One write, so that both lines arrive in one read: the second used to be taken for a
        // registration of its own, a second app (and public port) on one connection.
        var register = ControlLine.ToBytes(new Register(null));
        await control.SendAsync(register.Concat(register).ToArray());

        var error = Assert.IsType<Error>(await SocketAssert.ReadLineAsync(control, lines));
        Assert.Equal(ErrorCode.BadRequest, error.Code);
        await SocketAssert.ClosedAsync(control);
        await using var next = await relay.StartListenerAsync(); // and the relay serves the next app
    }

    [Fact]
    public async Task When_an_app_s_control_connection_dies_paired_sessions_go_on_and_waiting_ones_are_closed()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { PendingTimeout = TimeSpan.FromMinutes(1) });
        var control = await TestRelay.ConnectAsync(relay.Endpoints.Control.Port);
        var lines = new LineFramer();
        Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(control, lines));
        await control.SendAsync(ControlLine.ToBytes(new Register(AppName.Parse("dies").Value))); // no resume token
        var registered = Assert.IsType<Registered>(await SocketAssert.ReadLineAsync(control, lines));

        using var pairedClient = await TestRelay.ConnectAsync(registered.Port);
        var connect = Assert.IsType<Connect>(await SocketAssert.ReadLineAsync(control, lines));
        using var data = await TestRelay.ConnectAsync(relay.Endpoints.Data.Port);
        await data.SendAsync(new Accept(connect.Id).ToBytes());
        await data.SendAsync("paired"u8.ToArray());
        Assert.Equal("paired"u8.ToArray(), await SocketAssert.ReadExactlyAsync(pairedClient, 6));
        using var waiting = await TestRelay.ConnectAsync(registered.Port);
        Assert.IsType<Connect>(await SocketAssert.ReadLineAsync(control, lines));

        control.LingerState = new LingerOption(true, 0);
        control.Dispose(); // the app's control connection dies (reset)
        await SocketAssert.ClosedAsync(waiting, TimeSpan.FromSeconds(5)); // at once, not after the minute
        await pairedClient.SendAsync("goes on"u8.ToArray());
        Assert.Equal("goes on"u8.ToArray(), await SocketAssert.ReadExactlyAsync(data, 7));
        await data.SendAsync("both ways"u8.ToArray());
        Assert.Equal("both ways"u8.ToArray(), await SocketAssert.ReadExactlyAsync(pairedClient, 9));
    }

    [Fact]
    public async Task Sessions_ended_normally_or_by_a_reset_mid_transfer_leave_no_actor_behind()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync("churn");
        _ = EchoApp.ServeAsync(app);
        var baseline = ActorTree.Count(relay.System);

        // Held open together, the sessions show up in the count (so the count can see them at all).
        var held = new List<Socket>();
        for (var i = 0; i < 20; i++)
        {
            held.Add(await TestRelay.ConnectAsync(app.PublicPort));
            await held[i].SendAsync(new byte[] { 1 });
            await SocketAssert.ReadExactlyAsync(held[i], 1);
        }
        Assert.True(ActorTree.Count(relay.System) >= baseline + 20, ActorTree.Render(relay.Relay));
        held.ForEach(s => s.Dispose());

        // 300 sessions, 30 at a time: two in three echo 64 KiB byte-exact; the rest reset mid-transfer.
        var resets = 0;
        await Parallel.ForAsync(0, 300, new ParallelOptions { MaxDegreeOfParallelism = 30 }, async (i, _) =>
        {
            using var client = await TestRelay.ConnectAsync(app.PublicPort);
            var payload = Payload.Make((ulong)i, 64 * 1024);
            if (i % 3 == 2)
            {
                await client.SendAsync(payload);
                await SocketAssert.ReadExactlyAsync(client, 1024);
                client.LingerState = new LingerOption(true, 0);
                client.Close(); // RST with most of the echo still in flight
                Interlocked.Increment(ref resets);
                return;
            }
            await SocketAssert.EchoedWholeAsync(client, payload);
        });
        Assert.Equal(100, resets);

        // An app that resets mid-transfer: its client sees the reset.
        await using (var resetting = await relay.StartListenerAsync("resetting"))
        {
            using var client = await TestRelay.ConnectAsync(resetting.PublicPort);
            await using var session = await resetting.AcceptAsync();
            await client.SendAsync(new byte[256 * 1024]);
            await SocketAssert.ReadExactlyAsync(session.Socket, 1024);
            session.Socket.LingerState = new LingerOption(true, 0);
            session.Socket.Close();
            await SocketAssert.ResetAsync(client);
        }

        // 300 sessions' connections close through Akka.IO's actors: on a loaded machine that takes a while.
        for (var deadline = DateTime.UtcNow + TestRelay.Wait * 3; ; await Task.Delay(50))
        {
            var count = ActorTree.Count(relay.System);
            if (count == baseline)
                break;
            Assert.True(DateTime.UtcNow < deadline, $"{count} actors, {baseline} before the sessions:\n{ActorTree.Render(relay.Relay)}");
        }
        await AssertEchoesAsync(app.PublicPort);
    }

    [Fact]
    public async Task When_the_public_range_is_exhausted_an_app_gets_limit_and_a_freed_port_is_handed_out_again()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { PublicPorts = TestSettings.Relay(publicPorts: 3).PublicPorts });
        var apps = new List<RelayListener>();
        try
        {
            // Lowest free first; a port another test's relay holds is skipped, so up to three fit.
            while (true)
            {
                var app = relay.Listener($"app-{apps.Count}");
                try
                {
                    await app.StartAsync();
                    apps.Add(app);
                }
                catch (RelayRegistrationException e)
                {
                    await app.DisposeAsync();
                    Assert.Equal(ErrorCode.Limit, e.Code);
                    break;
                }
            }
            Assert.InRange(apps.Count, 1, 3);
            _ = EchoApp.ServeAsync(apps[^1]);
            await AssertEchoesAsync(apps[^1].PublicPort);

            var freed = apps[0].PublicPort;
            await apps[0].DisposeAsync(); // LEAVE: the port is free at once
            apps.RemoveAt(0);
            var next = relay.Listener("next");
            apps.Add(next);
            await next.StartAsync();
            Assert.Equal(freed, next.PublicPort);
            _ = EchoApp.ServeAsync(next);
            await AssertEchoesAsync(next.PublicPort);
        }
        finally
        {
            foreach (var app in apps)
                await app.DisposeAsync();
        }
    }
}
