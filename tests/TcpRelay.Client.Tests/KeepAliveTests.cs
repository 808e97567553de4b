using System.Net;
using System.Net.Sockets;
using TcpRelay.Client;
using TcpRelay.Server;

namespace TcpRelay.Client.Tests;

/// <summary>
/// TCP keepalive on session connections, relay side and client side. A vanished host cannot be
/// played over loopback (the kernel answers probes for a stopped process), so these check that the
/// sockets carry the timing the settings ask for.
/// </summary>
public sealed class KeepAliveTests
{
    private static (int Enabled, int Idle, int Interval, int Probes) KeepAliveOf(Socket socket) => (
        (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!,
        (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!,
        (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval)!,
        (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount)!);

    [Fact]
    public async Task The_relays_option_sets_keepalive_on_an_accepted_connection_and_ignores_a_dead_one()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var accepted = await listener.AcceptAsync();
        Assert.Equal(0, KeepAliveOf(accepted).Enabled);

        var option = new TcpKeepAlive(TimeSpan.FromSeconds(42.5));
        option.AfterConnect(accepted);

        var (enabled, idle, interval, probes) = KeepAliveOf(accepted);
        Assert.NotEqual(0, enabled);
        Assert.Equal(43, idle); // whole seconds, rounded up
        Assert.Equal(10, interval);
        Assert.Equal(6, probes);

        accepted.Dispose();
        option.AfterConnect(accepted); // a connection gone before the handover needs nothing, and must not throw
    }

    [Fact]
    public async Task A_session_the_client_library_accepts_has_keepalive_with_the_idle_time_asked_for()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = new RelayListener(relay.ListenerOptions() with { KeepAliveIdle = TimeSpan.FromSeconds(75) });
        await app.StartAsync();
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync().AsTask().WaitAsync(TestRelay.Wait);

        var (enabled, idle, interval, probes) = KeepAliveOf(session.Socket);
        Assert.NotEqual(0, enabled);
        Assert.Equal(75, idle);
        Assert.Equal(10, interval);
        Assert.Equal(6, probes);
    }
}
