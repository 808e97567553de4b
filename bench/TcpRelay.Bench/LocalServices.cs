using System.Net;
using System.Net.Sockets;

namespace TcpRelay.Bench;

/// <summary>
/// The "service" of the benchmark: a plain TCP echo server, and a sink that accepts and never
/// reads (for the stalled-reader scenario). Both run in this process on loopback.
/// </summary>
public sealed class LocalServices : IAsyncDisposable
{
    private readonly Socket _echo;
    private readonly Socket _sink;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _held = [];

    public LocalServices()
    {
        _echo = Listen();
        _sink = Listen();
        _ = AcceptAsync(_echo, Echo.ServeAsync);
        _ = AcceptAsync(_sink, socket =>
        {
            lock (_held)
                _held.Add(socket); // kept open, never read
            return Task.CompletedTask;
        });
    }

    public int EchoPort => ((IPEndPoint)_echo.LocalEndPoint!).Port;

    public int SinkPort => ((IPEndPoint)_sink.LocalEndPoint!).Port;

    private static Socket Listen()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen(4096);
        return socket;
    }

    private async Task AcceptAsync(Socket listener, Func<Socket, Task> serve)
    {
        try
        {
            while (true)
            {
                var socket = await listener.AcceptAsync(_stop.Token);
                socket.NoDelay = true;
                _ = Task.Run(() => serve(socket));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Closes what the sink holds, so the stalled sessions end.</summary>
    public void ReleaseSink()
    {
        lock (_held)
        {
            foreach (var socket in _held)
                socket.Dispose();
            _held.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _echo.Dispose();
        _sink.Dispose();
        ReleaseSink();
        _stop.Dispose();
    }
}
