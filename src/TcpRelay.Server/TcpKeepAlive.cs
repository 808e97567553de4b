using System.Net.Sockets;
using Akka.IO;

namespace TcpRelay.Server;

/// <summary>
/// TCP keepalive for every connection a listener accepts. A peer whose host vanishes without a
/// word (power loss, a NAT or firewall forgetting the flow) sends no FIN or RST: an idle session
/// would otherwise hold its two connections, its actors and its buffers for ever. After
/// <paramref name="idle"/> without traffic the kernel probes the peer every <see cref="ProbeInterval"/>,
/// and after <see cref="Probes"/> unanswered probes the connection fails with an error.
/// </summary>
public sealed class TcpKeepAlive(TimeSpan idle) : Inet.SocketOption
{
    /// <summary>Time between unanswered probes.</summary>
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(10);

    /// <summary>Unanswered probes after which the connection is given up.</summary>
    public const int Probes = 6;

    /// <summary>Idle time before the first probe.</summary>
    public TimeSpan Idle { get; } = idle;

    /// <summary>Switches keepalive on for <paramref name="socket"/> with this option's timing.</summary>
    public void Apply(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        // Whole seconds, at least one: the kernel counts these in seconds.
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, Math.Max(1, (int)Math.Ceiling(Idle.TotalSeconds)));
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)ProbeInterval.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, Probes);
    }

    /// <summary>The longest idle time the kernel takes (TCP_KEEPIDLE is at most 32767 seconds).</summary>
    public static readonly TimeSpan MaxIdle = TimeSpan.FromSeconds(32767);

    /// <inheritdoc />
    public override void AfterConnect(Socket s)
    {
        try
        {
            Apply(s);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The connection died before it was handed over: it needs no keepalive, and throwing here
            // would fail Akka's connection actor instead of letting it report the close.
        }
    }
}
