using System.Net;
using System.Net.Sockets;
using TcpRelay.Client;

namespace TcpRelay.Client.Tests;

/// <summary>
/// A local service on a port the OS picks, running a handler per connection; it can stop listening
/// and listen again on the same port, as a restarted service does.
/// </summary>
internal sealed class LocalService : IDisposable
{
    private readonly Func<Socket, Task> _handler;
    private Socket _listener;

    public LocalService(Func<Socket, Task> handler)
    {
        _handler = handler;
        _listener = Listen(new IPEndPoint(IPAddress.Loopback, 0));
        Port = Loopback.PortOf(_listener);
    }

    public int Port { get; }

    public ExposedService As(string? name = null) => new("127.0.0.1", Port, name);

    public static LocalService Echo() => new(async c =>
    {
        var buffer = new byte[65536];
        try
        {
            int n;
            while ((n = await c.ReceiveAsync(buffer)) > 0)
                await c.SendAsync(buffer.AsMemory(0, n));
            c.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // A reset test: nothing to echo.
        }
    });

    /// <summary>Closes the listening socket: connections to the port are refused until <see cref="ListenAgain"/>.</summary>
    public void StopListening() => _listener.Dispose();

    /// <summary>Listens on the same port again.</summary>
    public void ListenAgain() => _listener = Listen(new IPEndPoint(IPAddress.Loopback, Port));

    public void Dispose() => _listener.Dispose();

    private Socket Listen(IPEndPoint at)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(at);
        listener.Listen(64);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket connection;
                try
                {
                    connection = await listener.AcceptAsync();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return;
                }
                _ = Task.Run(async () =>
                {
                    using (connection)
                        await _handler(connection);
                });
            }
        });
        return listener;
    }
}
