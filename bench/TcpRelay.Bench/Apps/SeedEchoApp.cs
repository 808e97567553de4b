using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TcpRelay.Bench;

/// <summary>
/// <c>TcpRelay.Bench --seed-app REGPORT</c>: an echo app in .NET speaking the seed relay's app
/// protocol (peers/seed/main.go), the counterpart of <see cref="TcpRelayEchoApp"/> on the seed.
/// The protocol: connect to the registration port and keep the connection; the relay writes
/// <c>established relay address port:N</c> once (N: the public port), then one line per client
/// with a port number on which it listens for that session alone; dial it, and the bytes are the
/// client's. The seed never half-closes a session, so an echo ends when the relay closes it.
/// </summary>
public static class SeedEchoApp
{
    public const string Mode = "--seed-app";
    private const string Established = "established relay address port:";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is not [_, var text] || !int.TryParse(text, CultureInfo.InvariantCulture, out var registrationPort))
        {
            await Console.Error.WriteLineAsync($"usage: TcpRelay.Bench {Mode} REGPORT");
            return 2;
        }
        using var control = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await control.ConnectAsync(IPAddress.Loopback, registrationPort);
        using var lines = new StreamReader(new NetworkStream(control));
        if (await lines.ReadLineAsync() is not { } first || !first.StartsWith(Established, StringComparison.Ordinal))
        {
            await Console.Error.WriteLineAsync("the relay did not say its public port");
            return 1;
        }
        while (await lines.ReadLineAsync() is { } line)
        {
            if (!int.TryParse(line, CultureInfo.InvariantCulture, out var sessionPort))
            {
                await Console.Error.WriteLineAsync($"not a port: '{line}'");
                return 1;
            }
            _ = Task.Run(() => ServeSessionAsync(sessionPort));
        }
        return 0; // the relay closed the registration
    }

    private static async Task ServeSessionAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            await Console.Error.WriteLineAsync($"session port {port}: {e.Message}");
            return;
        }
        await Echo.ServeAsync(socket);
    }
}
