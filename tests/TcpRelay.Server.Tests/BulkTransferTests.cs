using System.Net.Sockets;
using TcpRelay.Client;

namespace TcpRelay.Server.Tests;

/// <summary>Volume through the relay: every byte verified, and a reader that stalls holds the sender back.</summary>
public sealed class BulkTransferTests
{
    private const int Chunk = 256 * 1024;

    /// <summary>Streams <paramref name="length"/> payload bytes out of <paramref name="socket"/>.</summary>
    private static async Task SendPayloadAsync(Socket socket, ulong seed, long length)
    {
        var buffer = new byte[Chunk];
        for (long sent = 0; sent < length; )
        {
            var n = (int)Math.Min(Chunk, length - sent);
            Payload.Fill(seed, sent, buffer.AsSpan(0, n));
            sent += await socket.SendAsync(buffer.AsMemory(0, n));
        }
        socket.Shutdown(SocketShutdown.Send);
    }

    /// <summary>Reads until EOF and checks every byte against the payload; returns how many arrived.</summary>
    private static async Task<long> ReceivePayloadAsync(Socket socket, ulong seed, CancellationToken ct)
    {
        var buffer = new byte[Chunk];
        long received = 0;
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, ct);
            if (n == 0)
                return received;
            var bad = Payload.FirstMismatch(seed, received, buffer.AsSpan(0, n));
            Assert.True(bad < 0, $"byte {bad} differs");
            received += n;
        }
    }

    [Fact]
    public async Task Eight_sessions_move_64_MiB_each_way_concurrently_byte_exact()
    {
        const long size = 64L << 20;
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));

        var appSide = Task.Run(async () =>
        {
            var sessions = new List<Task>();
            for (var i = 0; i < 8; i++)
            {
                var session = await app.AcceptAsync(cts.Token);
                sessions.Add(Task.Run(async () =>
                {
                    using var s = session;
                    // The client's first 8 bytes name its seed, so each session checks its own payload.
                    var seed = BitConverter.ToUInt64(await SocketAssert.ReadExactlyAsync(s.Socket, 8));
                    var upload = ReceivePayloadAsync(s.Socket, seed, cts.Token);
                    await SendPayloadAsync(s.Socket, seed + 1000, size);
                    Assert.Equal(size, await upload);
                }));
            }
            await Task.WhenAll(sessions);
        });
        await Task.WhenAll(Enumerable.Range(1, 8).Select(async i =>
        {
            using var client = await TestRelay.ConnectAsync(app.PublicPort);
            await client.SendAsync(BitConverter.GetBytes((ulong)i));
            var download = ReceivePayloadAsync(client, (ulong)i + 1000, cts.Token);
            await SendPayloadAsync(client, (ulong)i, size);
            Assert.Equal(size, await download);
        }).Append(appSide));
    }

    [Fact]
    public async Task An_app_that_does_not_read_stalls_the_client_and_loses_nothing()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = await relay.StartListenerAsync();
        using var client = await TestRelay.ConnectAsync(app.PublicPort, bufferSize: 64 * 1024);
        await using RelayStream session = await app.AcceptAsync();
        session.Socket.ReceiveBufferSize = 64 * 1024;

        // Push until a whole second passes without the client's send buffer taking anything.
        client.Blocking = false;
        var buffer = new byte[Chunk];
        long sent = 0;
        var stalledSince = DateTime.UtcNow;
        while (DateTime.UtcNow - stalledSince < TimeSpan.FromSeconds(1))
        {
            Assert.True(sent < 64L << 20, $"the relay took {sent >> 20} MiB for an app that does not read: no back-pressure");
            Payload.Fill(7, sent, buffer);
            try
            {
                var n = client.Send(buffer);
                sent += n;
                if (n > 0)
                    stalledSince = DateTime.UtcNow;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
                client.Poll(TimeSpan.FromMilliseconds(50), SelectMode.SelectWrite);
            }
        }
        client.Blocking = true;

        // What the kernel buffers on the way hold is all there is: the relay itself keeps one frame.
        Assert.True(sent < 32L << 20, $"{sent >> 20} MiB accepted before the sender stalled");
        client.Shutdown(SocketShutdown.Send);
        using var cts = new CancellationTokenSource(TestRelay.Wait);
        Assert.Equal(sent, await ReceivePayloadAsync(session.Socket, 7, cts.Token));
    }
}
