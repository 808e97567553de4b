using System.Net;
using System.Net.Sockets;

namespace TcpRelay.Soak;

/// <summary>One client of the soak: opens sessions back to back until told to stop.</summary>
internal static class SoakClient
{
    public static async Task RunAsync(int[] ports, int seed, Tally tally, CancellationToken stop)
    {
        var random = new Random(seed);
        while (!stop.IsCancellationRequested)
        {
            var port = ports[random.Next(ports.Length)];
            var kind = random.Next(100);
            try
            {
                // A session in progress finishes even after the stop, so the tally sees no false failure.
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                if (kind < 10)
                    await LeaveAsync(port);
                else if (kind < 25)
                    await ResetAsync(port, random, timeout.Token);
                else
                    await EchoAsync(port, random, tally, timeout.Token);
                tally.Count(kind < 10 ? Outcome.Left : kind < 25 ? Outcome.Reset : Outcome.Echoed);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or InvalidDataException)
            {
                tally.Fail($"port {port}, {(kind < 10 ? "leave" : kind < 25 ? "reset" : "echo")}: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    /// <summary>Opens sessions that each echo one byte, so they are paired, and then stay idle.</summary>
    public static async Task<List<Socket>> HoldAsync(int[] ports, int count)
    {
        var held = new Socket[count];
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
        {
            held[i] = await ConnectAsync(ports[i % ports.Length]);
            await held[i].SendAsync(new byte[] { (byte)i }, ct);
            await ReceiveExactlyAsync(held[i], new byte[1], ct);
        });
        return [.. held];
    }

    /// <summary>Each held session must still echo; then all are closed. Returns how many did not echo.</summary>
    public static async Task<int> CheckAndCloseAsync(List<Socket> held)
    {
        var failed = 0;
        await Parallel.ForEachAsync(held, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (socket, _) =>
        {
            using (socket)
            {
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    var probe = "still here"u8.ToArray();
                    await socket.SendAsync(probe, timeout.Token);
                    var echo = new byte[probe.Length];
                    await ReceiveExactlyAsync(socket, echo, timeout.Token);
                    if (!echo.AsSpan().SequenceEqual(probe))
                        Interlocked.Increment(ref failed);
                }
                catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or InvalidDataException)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        });
        return failed;
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return socket;
    }

    /// <summary>Connects and goes away at once, most likely before the app has dialled in.</summary>
    private static async Task LeaveAsync(int port)
    {
        using var socket = await ConnectAsync(port);
    }

    /// <summary>Sends a burst, reads the start of the echo, and resets with the rest in flight.</summary>
    private static async Task ResetAsync(int port, Random random, CancellationToken timeout)
    {
        using var socket = await ConnectAsync(port);
        var payload = new byte[random.Next(4096, 256 * 1024)];
        await socket.SendAsync(payload, timeout);
        await ReceiveExactlyAsync(socket, new byte[1024], timeout);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    /// <summary>Sends a random payload, half-closes, and checks the echo byte for byte up to the relay's FIN.</summary>
    private static async Task EchoAsync(int port, Random random, Tally tally, CancellationToken timeout)
    {
        using var socket = await ConnectAsync(port);
        var payload = new byte[random.Next(1, 64 * 1024)];
        random.NextBytes(payload);
        var received = new byte[payload.Length];
        var echo = ReceiveExactlyAsync(socket, received, timeout);
        await socket.SendAsync(payload, timeout);
        socket.Shutdown(SocketShutdown.Send);
        await echo;
        if (!payload.AsSpan().SequenceEqual(received))
            throw new InvalidDataException($"echo of {payload.Length} bytes differs at {payload.AsSpan().CommonPrefixLength(received)}");
        if (await socket.ReceiveAsync(new byte[1], timeout) != 0)
            throw new InvalidDataException("bytes after the echo");
        tally.AddEchoed(payload.Length);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, byte[] buffer, CancellationToken timeout)
    {
        for (var read = 0; read < buffer.Length;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), timeout);
            if (n == 0)
                throw new InvalidDataException($"EOF after {read} of {buffer.Length} bytes");
            read += n;
        }
    }
}
