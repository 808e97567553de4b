using System.Net;
using System.Net.Sockets;

namespace TcpRelay.TestSupport;

/// <summary>Sockets on loopback ports the OS picks: never a fixed port.</summary>
public static class Loopback
{
    /// <summary>A listening socket; connections wait in its queue until accepted (or for ever).</summary>
    public static Socket Listening()
    {
        var socket = Bound();
        socket.Listen();
        return socket;
    }

    /// <summary>A bound socket that never listens: connections to its port are refused, and no other test can take the port while it lives.</summary>
    public static Socket Bound()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }

    /// <summary>A port free a moment ago, for a program that must be told its port in advance (another may take it meanwhile).</summary>
    public static int FreePort()
    {
        using var socket = Bound();
        return PortOf(socket);
    }

    /// <summary>The local port of <paramref name="socket"/>.</summary>
    public static int PortOf(Socket socket) => ((IPEndPoint)socket.LocalEndPoint!).Port;
}
