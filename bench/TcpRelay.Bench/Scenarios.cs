using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TcpRelay.Bench;

/// <summary>
/// What each scenario does to a target's echo endpoint (the echo server's own port, a relay's public
/// port for it) and measures. Every byte received is checked against what was sent. Each takes a
/// token that ends it (the phase's timeout): a target that stops passing bytes fails, not hangs.
/// </summary>
public static class Scenarios
{
    // A random block of prime length, so that no chunk size lines up with it: a lost, repeated or
    // reordered chunk shows up as a mismatch. The tail repeats the head so any 64 KiB slice is contiguous.
    private const int PatternLength = 1_048_573;
    private const int Chunk = 64 * 1024;
    private static readonly byte[] Pattern = MakePattern();

    private static byte[] MakePattern()
    {
        var pattern = new byte[PatternLength + Chunk];
        new Random(20261125).NextBytes(pattern.AsSpan(0, PatternLength));
        pattern.AsSpan(0, Chunk).CopyTo(pattern.AsSpan(PatternLength));
        return pattern;
    }

    private static ReadOnlyMemory<byte> PatternAt(long offset, int length) =>
        Pattern.AsMemory((int)(offset % PatternLength), length);

    public static async Task<Socket> ConnectAsync(IPEndPoint endPoint, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, ct);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Each session streams <paramref name="bytes"/> each way at once; returns MiB/s one way, all
    /// sessions together. With <paramref name="halfClose"/> the client half-closes after its last byte
    /// and the echo's EOF must follow the last byte back. Without (a relay that does not pass a
    /// half-close, or ends the session on it), the session ends when the last byte is back.
    /// </summary>
    public static async Task<double> ThroughputAsync(IPEndPoint endPoint, int sessions, long bytes, bool halfClose, Action<long> received, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(_ => Task.Run(() => StreamOneAsync(endPoint, bytes, halfClose, received, ct), ct)));
        return sessions * (double)bytes / (1 << 20) / clock.Elapsed.TotalSeconds;
    }

    private static async Task StreamOneAsync(IPEndPoint endPoint, long bytes, bool halfClose, Action<long> received, CancellationToken ct)
    {
        using var socket = await ConnectAsync(endPoint, ct);
        var writing = Task.Run(async () =>
        {
            for (long sent = 0; sent < bytes;)
            {
                var n = (int)Math.Min(Chunk, bytes - sent);
                await socket.SendAsync(PatternAt(sent, n), ct);
                sent += n;
            }
            if (halfClose)
                socket.Shutdown(SocketShutdown.Send);
        }, ct);
        var buffer = GC.AllocateUninitializedArray<byte>(Chunk);
        long got = 0;
        while (got < bytes)
        {
            var n = await socket.ReceiveAsync(buffer, ct);
            if (n == 0)
                throw new InvalidDataException($"EOF after {got} of {bytes} bytes");
            if (!buffer.AsSpan(0, n).SequenceEqual(PatternAt(got, n).Span))
                throw new InvalidDataException($"bytes differ from what was sent at offset {got}");
            got += n;
            received(n);
        }
        if (halfClose && await socket.ReceiveAsync(buffer, ct) != 0)
            throw new InvalidDataException("bytes after the end of the stream");
        await writing;
    }

    /// <summary>Connect, one byte each way, close; <paramref name="sessions"/> of them, <paramref name="concurrency"/> at a time.</summary>
    public static async Task<(double PerSecond, double[] LatencyMs)> SetupAsync(IPEndPoint endPoint, int sessions, int concurrency, Action done, CancellationToken ct)
    {
        var latencies = new double[sessions];
        var clock = Stopwatch.StartNew();
        await Parallel.ForAsync(0, sessions, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct }, async (i, ct) =>
        {
            var started = Stopwatch.GetTimestamp();
            using (var socket = await ConnectAsync(endPoint, ct))
                await OneByteBackAsync(socket, (byte)i, ct);
            latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            done();
        });
        return (sessions / clock.Elapsed.TotalSeconds, latencies);
    }

    private static async Task OneByteBackAsync(Socket socket, byte value, CancellationToken ct)
    {
        await socket.SendAsync(new[] { value }, ct);
        var back = new byte[1];
        if (await socket.ReceiveAsync(back, ct) != 1 || back[0] != value)
            throw new InvalidDataException("the byte did not come back");
    }

    /// <summary>64-byte ping-pong on one session; returns each round trip in microseconds.</summary>
    public static async Task<double[]> RoundTripAsync(IPEndPoint endPoint, int count, CancellationToken ct)
    {
        using var socket = await ConnectAsync(endPoint, ct);
        var ping = new byte[64];
        var pong = new byte[64];
        var times = new double[count];
        for (var i = -count / 10; i < count; i++) // the first tenth warms up and is not counted
        {
            ping[0] = (byte)i;
            var started = Stopwatch.GetTimestamp();
            await socket.SendAsync(ping, ct);
            await ReceiveExactlyAsync(socket, pong, ct);
            if (!pong.AsSpan().SequenceEqual(ping))
                throw new InvalidDataException("the pong differs from the ping");
            if (i >= 0)
                times[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        }
        return times;
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> into, CancellationToken ct)
    {
        for (var got = 0; got < into.Length;)
        {
            var n = await socket.ReceiveAsync(into[got..], ct);
            if (n == 0)
                throw new InvalidDataException($"EOF after {got} of {into.Length} bytes");
            got += n;
        }
    }

    /// <summary>Opens sessions that each echo one byte and stay open; the caller closes them (also when this fails).</summary>
    public static async Task HoldAsync(IPEndPoint endPoint, Socket?[] sockets, Action opened, CancellationToken ct)
    {
        await Parallel.ForAsync(0, sockets.Length, new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = ct }, async (i, ct) =>
        {
            var socket = sockets[i] = await ConnectAsync(endPoint, ct);
            await OneByteBackAsync(socket, (byte)i, ct);
            opened();
        });
    }

    /// <summary>Sends <paramref name="bytes"/> on every session and reads them back, 64 sessions at a time.</summary>
    public static async Task ExchangeAsync(Socket[] sockets, int bytes, Action done, CancellationToken ct)
    {
        await Parallel.ForAsync(0, sockets.Length, new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = ct }, async (i, ct) =>
        {
            var back = new byte[bytes];
            var sent = PatternAt(i * 7919L, bytes);
            await sockets[i].SendAsync(sent, ct);
            await ReceiveExactlyAsync(sockets[i], back, ct);
            if (!back.AsSpan().SequenceEqual(sent.Span))
                throw new InvalidDataException("a held session echoed other bytes");
            done();
        });
    }

    /// <summary>Pushes into a service that never reads, as fast as it goes, until <paramref name="duration"/> is up; returns bytes accepted.</summary>
    public static async Task<long> PushIntoStallAsync(IPEndPoint endPoint, int sessions, TimeSpan duration, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sockets = await Task.WhenAll(Enumerable.Range(0, sessions).Select(_ => ConnectAsync(endPoint, ct)));
        stop.CancelAfter(duration);
        long pushed = 0;
        try
        {
            await Task.WhenAll(sockets.Select(socket => Task.Run(async () =>
            {
                try
                {
                    for (long offset = 0; ; offset += Chunk)
                    {
                        await socket.SendAsync(PatternAt(offset, Chunk), stop.Token);
                        Interlocked.Add(ref pushed, Chunk);
                    }
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                }
            }, CancellationToken.None)));
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Dispose();
            }
        }
        return pushed;
    }

    public static double Percentile(double[] values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
