using System.Net.Sockets;

namespace TcpRelay.Client;

/// <summary>
/// TCP keepalive for a session's sockets: a relay or service whose host vanishes without closing
/// (power loss, a NAT forgetting the flow) sends nothing, and an idle session would wait for it for
/// ever. After the idle time the kernel probes every 10 s and fails the socket after 6 silent probes.
/// </summary>
internal static class SocketKeepAlive
{
    public static void Enable(Socket socket, TimeSpan idle)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, Math.Max(1, (int)Math.Ceiling(idle.TotalSeconds)));
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 6);
    }
}
