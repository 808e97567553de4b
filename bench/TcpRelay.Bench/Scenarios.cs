using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TcpRelay.Bench;

/// <summary>
/// What each scenario does to a port — the echo server's own (direct) or the relay's public port
/// for it (relayed) — and measures. Every byte received is checked against what was sent.
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

    public static async Task<Socket> ConnectAsync(int port, CancellationToken ct = default, IPAddress? address = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(address ?? IPAddress.Loopback, port), ct);
        return socket;
    }

    /// <summary>
    /// Each session streams <paramref name="bytes"/> each way at once; returns MiB/s one way, all
    /// sessions together. <paramref name="address"/>: where the port listens (a cluster node), loopback by default.
    /// </summary>
    public static async Task<double> ThroughputAsync(int port, int sessions, long bytes, Action<long> received, IPAddress? address = null)
    {
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(_ => Task.Run(() => StreamOneAsync(port, bytes, received, address))));
        return sessions * (double)bytes / (1 << 20) / clock.Elapsed.TotalSeconds;
    }

    private static async Task StreamOneAsync(int port, long bytes, Action<long> received, IPAddress? address)
    {
        using var socket = await ConnectAsync(port, address: address);
        var writing = Task.Run(async () =>
        {
            for (long sent = 0; sent < bytes;)
            {
                var n = (int)Math.Min(Chunk, bytes - sent);
                await socket.SendAsync(PatternAt(sent, n));
                sent += n;
            }
            socket.Shutdown(SocketShutdown.Send);
        });
        var buffer = GC.AllocateUninitializedArray<byte>(Chunk);
        long got = 0;
        while (got < bytes)
        {
            var n = await socket.ReceiveAsync(buffer);
            if (n == 0)
                throw new InvalidDataException($"EOF after {got} of {bytes} bytes");
            if (!buffer.AsSpan(0, n).SequenceEqual(PatternAt(got, n).Span))
                throw new InvalidDataException($"bytes differ from what was sent at offset {got}");
            got += n;
            received(n);
        }
        if (await socket.ReceiveAsync(buffer) != 0)
            throw new InvalidDataException("bytes after the end of the stream");
        await writing;
    }

    /// <summary>Connect, one byte each way, close; <paramref name="sessions"/> of them, <paramref name="concurrency"/> at a time.</summary>
    public static async Task<(double PerSecond, double[] LatencyMs)> SetupAsync(int port, int sessions, int concurrency, Action done)
    {
        var latencies = new double[sessions];
        var clock = Stopwatch.StartNew();
        await Parallel.ForAsync(0, sessions, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (i, ct) =>
        {
            var started = Stopwatch.GetTimestamp();
            using (var socket = await ConnectAsync(port, ct))
            {
                var one = new[] { (byte)i };
                await socket.SendAsync(one, ct);
                var back = new byte[1];
                if (await socket.ReceiveAsync(back, ct) != 1 || back[0] != one[0])
                    throw new InvalidDataException("the byte did not come back");
            }
            latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            done();
        });
        return (sessions / clock.Elapsed.TotalSeconds, latencies);
    }

    /// <summary>64-byte ping-pong on one session; returns each round trip in microseconds.</summary>
    public static async Task<double[]> RoundTripAsync(int port, int count)
    {
        using var socket = await ConnectAsync(port);
        var ping = new byte[64];
        var pong = new byte[64];
        var times = new double[count];
        for (var i = -count / 10; i < count; i++) // the first tenth warms up and is not counted
        {
            ping[0] = (byte)i;
            var started = Stopwatch.GetTimestamp();
            await socket.SendAsync(ping);
            for (var got = 0; got < pong.Length;)
            {
                var n = await socket.ReceiveAsync(pong.AsMemory(got));
                if (n == 0)
                    throw new InvalidDataException("EOF in the round trip");
                got += n;
            }
            if (!pong.AsSpan().SequenceEqual(ping))
                throw new InvalidDataException("the pong differs from the ping");
            if (i >= 0)
                times[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        }
        return times;
    }

    /// <summary>Opens sessions that each echo one byte and stay open; the caller closes them.</summary>
    public static async Task<Socket[]> HoldAsync(int port, int count, Action opened)
    {
        var sockets = new Socket[count];
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
        {
            var socket = await ConnectAsync(port, ct);
            sockets[i] = socket;
            await socket.SendAsync(new[] { (byte)i }, ct);
            var back = new byte[1];
            if (await socket.ReceiveAsync(back, ct) != 1 || back[0] != (byte)i)
                throw new InvalidDataException("a held session did not echo");
            opened();
        });
        return sockets;
    }

    /// <summary>Pushes into a service that never reads, as fast as it goes, until <paramref name="duration"/> is up; returns bytes accepted.</summary>
    public static async Task<long> PushIntoStallAsync(int port, int sessions, TimeSpan duration)
    {
        using var stop = new CancellationTokenSource(duration);
        var sockets = await Task.WhenAll(Enumerable.Range(0, sessions).Select(_ => ConnectAsync(port)));
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
                catch (OperationCanceledException)
                {
                }
            })));
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
