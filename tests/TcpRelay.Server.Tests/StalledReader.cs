using Akka.Actor;
using TcpRelay.Client;
using TcpRelay.Server.Actors;

namespace TcpRelay.Server.Tests;

/// <summary>What a session does with an app that never reads: it holds the client back, plain or through TLS alike.</summary>
internal static class StalledReader
{
    /// <summary>
    /// Pushes from a client of <paramref name="app"/> whose session is never read until the client
    /// cannot hand the kernel more, then checks that the relay holds at most two frames and read
    /// less than was pushed (the rest waits in kernel buffers).
    /// </summary>
    public static async Task HoldsTheClientBackAsync(TestRelay relay, RelayListener app)
    {
        using var client = await TestRelay.ConnectAsync(app.PublicPort, bufferSize: 64 * 1024);
        await using var session = await app.AcceptAsync(); // and never read
        session.Socket.ReceiveBufferSize = 64 * 1024;

        // Push until the client cannot hand the kernel more: the relay stopped reading it.
        var chunk = new byte[64 * 1024];
        long pushed = 0;
        using (var stalled = new CancellationTokenSource())
        {
            while (true)
            {
                var send = client.SendAsync(chunk, stalled.Token).AsTask();
                if (await Task.WhenAny(send, Task.Delay(TimeSpan.FromSeconds(1))) != send)
                {
                    await stalled.CancelAsync();
                    break;
                }
                pushed += await send;
                Assert.True(pushed < 256L << 20, "256 MiB went in without the app reading: no back-pressure");
            }
        }
        var actor = await relay.System.ActorSelection("/user/relay/data-*").ResolveOne(TestRelay.Wait);
        var stats = await actor.Ask<SessionActor.Stats>(SessionActor.GetStats.Instance, TestRelay.Wait);
        Assert.InRange(stats.BufferedBytes, 0, 2 * 64 * 1024);
        Assert.True(stats.ClientBytes < pushed, $"relay read {stats.ClientBytes} of {pushed}: the rest waits in kernel buffers");
    }
}
