using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TcpRelay.Bench;

/// <summary>Ports for the relays, and waiting until what listens on them is ready.</summary>
public static class Ports
{
    /// <summary>
    /// Two free adjacent ports in 20000-30000: below the ephemeral range (32768 up), so that no
    /// client's or relay's outgoing connection takes one between this check and the relay's bind.
    /// </summary>
    public static int FreePair()
    {
        for (var attempt = 0; ; attempt++)
        {
            var first = Random.Shared.Next(20000, 30000);
            if (!Listening(first) && !Listening(first + 1) && Free(first) && Free(first + 1))
                return first;
            if (attempt > 100)
                throw new InvalidOperationException("no two free adjacent ports in 20000-30000");
        }
    }

    /// <summary>Ports picked by the kernel, all different, free now.</summary>
    public static int[] Any(int count)
    {
        // Held open together: ports bound and released one by one may come back the same.
        var sockets = Enumerable.Range(0, count).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToArray();
        try
        {
            foreach (var socket in sockets)
                socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToArray();
        }
        finally
        {
            foreach (var socket in sockets)
                socket.Dispose();
        }
    }

    /// <summary>Nothing bound to the port at all (not even a connection in TIME_WAIT).</summary>
    private static bool Free(int port) => TryBind(port, reuseAddress: false, IPAddress.Loopback);

    /// <summary>
    /// Something listens on the port (on any address). A bind with SO_REUSEADDR fails only then,
    /// not for closed connections in TIME_WAIT; and unlike a connection it is not seen by whoever
    /// listens (the seed takes any connection to its registration port for an app).
    /// </summary>
    public static bool Listening(int port) => !TryBind(port, reuseAddress: true, IPAddress.Any);

    private static bool TryBind(int port, bool reuseAddress, IPAddress address)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, reuseAddress);
            socket.Bind(new IPEndPoint(address, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public static async Task<bool> ConnectsAsync(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>One byte sent to <paramref name="endPoint"/> comes back within 2 s.</summary>
    public static async Task<bool> EchoesAsync(IPEndPoint endPoint)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.ConnectAsync(endPoint, timeout.Token);
            await socket.SendAsync(new byte[] { 42 }, timeout.Token);
            var one = new byte[1];
            return await socket.ReceiveAsync(one, timeout.Token) == 1 && one[0] == 42;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Polls <paramref name="ready"/> until it holds; fails if <paramref name="process"/> exits or 30 s pass.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> ready, ChildProcess process, string what, CancellationToken cancellationToken = default)
    {
        var deadline = Stopwatch.StartNew();
        while (!await ready())
        {
            if (process.HasExited)
                throw new InvalidOperationException($"waiting for {what}: {process.Describe()}");
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException($"{what} not ready after 30 s ({process.Describe()})");
            await Task.Delay(50, cancellationToken);
        }
    }
}
