using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;

namespace TcpRelay.Server.Tests;

/// <summary>Stopping the relay: a drain lets paired sessions finish byte-exact, refuses newcomers, and resets what outlives the deadline.</summary>
public sealed class ShutdownTests
{
    private const int Chunk = 64 * 1024;

    /// <summary>Streams <paramref name="length"/> bytes through an echo, checking each byte back; <paramref name="halfway"/> fires after the first half has returned.</summary>
    private static async Task StreamThroughEchoAsync(Socket client, ulong seed, int length, TaskCompletionSource halfway)
    {
        var sending = Task.Run(async () =>
        {
            var buffer = new byte[Chunk];
            for (var sent = 0; sent < length; sent += Chunk)
            {
                Payload.Fill(seed, sent, buffer);
                await client.SendAsync(buffer);
            }
            client.Shutdown(SocketShutdown.Send);
        });
        var received = 0L;
        var readBuffer = new byte[Chunk];
        using var cts = new CancellationTokenSource(TestRelay.Wait * 3);
        while (received < length)
        {
            var n = await client.ReceiveAsync(readBuffer, cts.Token);
            Assert.True(n > 0, $"EOF after {received} of {length} bytes");
            Assert.Equal(-1, Payload.FirstMismatch(seed, received, readBuffer.AsSpan(0, n)));
            received += n;
            if (received >= length / 2)
                halfway.TrySetResult();
        }
        await sending;
        await SocketAssert.ClosedAsync(client);
    }

    private static async Task EchoAsync(RelayListener listener)
    {
        try
        {
            while (true)
            {
                var session = await listener.AcceptAsync();
                _ = Task.Run(async () =>
                {
                    await using (session)
                    {
                        // Slowly, so the transfer is surely still going when the relay is told to stop.
                        var buffer = new byte[Chunk];
                        int n;
                        while ((n = await session.ReadAsync(buffer)) > 0)
                            await session.WriteAsync(buffer.AsMemory(0, n));
                        session.Socket.Shutdown(SocketShutdown.Send);
                    }
                });
            }
        }
        catch (Exception e) when (e is RelayRegistrationException or IOException)
        {
            // The relay stopped.
        }
    }

    [Fact]
    public async Task A_drain_asked_for_again_after_it_finished_is_answered_at_once()
    {
        // The relay is drained once by whoever asks first (an operator's tool, a test), then again
        // by the host's shutdown, which must not wait out the drain timeout for nothing.
        await using var relay = await TestRelay.StartAsync(s => s with { DrainTimeout = TimeSpan.FromMinutes(5) });
        await relay.Relay.Ask<RelayActor.Drained>(RelayActor.Drain.Instance, TestRelay.Wait);
        await relay.Relay.Ask<RelayActor.Drained>(RelayActor.Drain.Instance, TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task A_drain_lets_a_transfer_in_flight_finish_byte_exact_and_turns_newcomers_away()
    {
        // The transfer never pauses for long, but a loaded machine may stall it a moment: well above that.
        await using var relay = await TestRelay.StartAsync(s => s with { DrainTimeout = TimeSpan.FromSeconds(30), DrainIdleAfter = TimeSpan.FromSeconds(10) });
        await using var app = relay.Listener("draining");
        await app.StartAsync();
        _ = EchoAsync(app);
        using var observer = await TestRelay.ConnectAsync(relay.Endpoints.Control.Port);
        var observerLines = new LineFramer();
        Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(observer, observerLines));
        await observer.SendAsync(ControlLine.ToBytes(new Register(AppName.Parse("observer").Value)));
        Assert.IsType<Registered>(await SocketAssert.ReadLineAsync(observer, observerLines));

        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transfer = StreamThroughEchoAsync(client, 42, 64 << 20, halfway);
        await halfway.Task.WaitAsync(TestRelay.Wait * 3);

        var stopping = CoordinatedShutdown.Get(relay.System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        var error = Assert.IsType<Error>(await SocketAssert.ReadLineAsync(observer, observerLines));
        Assert.Equal(ErrorCode.Shutdown, error.Code);

        using (var newcomer = await TestRelay.ConnectAsync(app.PublicPort))
            await SocketAssert.ClosedAsync(newcomer, TimeSpan.FromSeconds(5));
        using (var late = await TestRelay.ConnectAsync(relay.Endpoints.Control.Port))
        {
            var lines = new LineFramer();
            Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(late, lines));
            await late.SendAsync(ControlLine.ToBytes(new Register()));
            Assert.Equal(ErrorCode.Shutdown, Assert.IsType<Error>(await SocketAssert.ReadLineAsync(late, lines)).Code);
        }

        await transfer; // every byte of the second half still arrives, in order
        await stopping.WaitAsync(TestRelay.Wait);
    }

    [Fact]
    public async Task Sessions_that_outlive_the_drain_timeout_are_reset_not_ended_cleanly()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { DrainTimeout = TimeSpan.FromMilliseconds(500), DrainIdleAfter = TimeSpan.Zero });
        await using var app = await relay.StartListenerAsync("stuck");
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();
        await client.SendAsync("hello"u8.ToArray());
        Assert.Equal("hello"u8.ToArray(), await SocketAssert.ReadExactlyAsync(session.Socket, 5));

        var stopping = CoordinatedShutdown.Get(relay.System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        await SocketAssert.ResetAsync(client);
        await SocketAssert.ResetAsync(session.Socket);
        await stopping.WaitAsync(TestRelay.Wait);
    }

    [Fact]
    public async Task An_idle_session_is_closed_in_order_and_does_not_hold_the_drain_to_its_deadline()
    {
        // A deadline no test waits for: the drain can only end in time by closing the idle session.
        await using var relay = await TestRelay.StartAsync(s => s with { DrainTimeout = TimeSpan.FromMinutes(5), DrainIdleAfter = TimeSpan.FromMilliseconds(300) });
        await using var app = await relay.StartListenerAsync("ssh");
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();
        await client.SendAsync("hello"u8.ToArray());
        Assert.Equal("hello"u8.ToArray(), await SocketAssert.ReadExactlyAsync(session.Socket, 5));

        var stopping = CoordinatedShutdown.Get(relay.System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        // Both peers see an orderly end (EOF), not a reset.
        using var cts = new CancellationTokenSource(TestRelay.Wait);
        Assert.Equal(0, await client.ReceiveAsync(new byte[16], cts.Token));
        Assert.Equal(0, await session.Socket.ReceiveAsync(new byte[16], cts.Token));
        await stopping.WaitAsync(TestRelay.Wait);
    }

    /// <summary>
    /// The CLI as built in its own project: this test project's output has ASP.NET Core's shared
    /// framework instead of the packages the CLI ships with, so the CLI cannot run from here.
    /// </summary>

    [Fact]
    public async Task Sigterm_to_tcprelay_serve_drains_a_transfer_byte_exact_and_exits_0()
    {
        var (relay, control, log) = await ServeProcess.StartAsync(["--drain-timeout", "30s"]);
        try
        {
            await using var app = new RelayListener(new RelayListenerOptions { RelayHost = "127.0.0.1", ControlPort = control, Reconnect = false });
            await app.StartAsync();
            _ = EchoAsync(app);
            using var client = await TestRelay.ConnectAsync(app.PublicPort);
            var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var transfer = StreamThroughEchoAsync(client, 7, 32 << 20, halfway);
            await halfway.Task.WaitAsync(TestRelay.Wait * 3);

            using (var kill = Process.Start("kill", ["-TERM", $"{relay.Id}"]))
                await kill.WaitForExitAsync();
            await transfer;
            await relay.WaitForExitAsync().WaitAsync(TestRelay.Wait * 3);
            Assert.True(relay.ExitCode == 0, $"exit code {relay.ExitCode}; log:\n{string.Join("\n", log)}");
            Assert.Contains(log, line => line.Contains("every session ended on its own"));
            // A clean stop is not a warning: Akka.IO's "Bind commander died" for each port is left out.
            Assert.DoesNotContain(log, line => line.Contains("Bind commander died"));
        }
        finally
        {
            if (!relay.HasExited)
                relay.Kill();
            relay.Dispose();
        }
    }
}
