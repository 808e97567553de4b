using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TcpRelay.Server.Tests;

/// <summary>
/// A loopback proxy in front of the admin endpoint that holds the status page's first refresh
/// (a request for <c>fragment=1</c>) until <see cref="Open"/>: what changes while it is held can
/// only reach the page through that refresh, not through the page it refreshes.
/// </summary>
internal sealed class RefreshGate : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly TaskCompletionSource _requested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public RefreshGate(IPEndPoint target)
    {
        _target = target;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Completes when the page asks for its first refresh (and is held).</summary>
    public Task Requested => _requested.Task;

    public void Open() => _opened.TrySetResult();

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var browser = await _listener.AcceptSocketAsync(_stop.Token);
                _ = ServeAsync(browser);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task ServeAsync(Socket browser)
    {
        using var _ = browser;
        using var admin = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await admin.ConnectAsync(_target, _stop.Token);
            await Task.WhenAll(CopyRequestsAsync(browser, admin), CopyAsync(admin, browser));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    // GET requests carry no body, so a request ends with its blank line.
    private async Task CopyRequestsAsync(Socket from, Socket to)
    {
        var pending = new List<byte>();
        var buffer = new byte[8192];
        int n;
        while ((n = await from.ReceiveAsync(buffer, _stop.Token)) > 0)
        {
            pending.AddRange(buffer.AsSpan(0, n));
            int end;
            while ((end = IndexOfBlankLine(pending)) >= 0)
            {
                var request = pending.GetRange(0, end + 4).ToArray();
                pending.RemoveRange(0, end + 4);
                var line = Encoding.ASCII.GetString(request).Split("\r\n")[0];
                if (line.Contains("fragment=1", StringComparison.Ordinal))
                {
                    _requested.TrySetResult();
                    await _opened.Task.WaitAsync(_stop.Token);
                }
                await to.SendAsync(request, _stop.Token);
            }
        }
        to.Shutdown(SocketShutdown.Send);
    }

    private async Task CopyAsync(Socket from, Socket to)
    {
        var buffer = new byte[8192];
        int n;
        while ((n = await from.ReceiveAsync(buffer, _stop.Token)) > 0)
            await to.SendAsync(buffer.AsMemory(0, n), _stop.Token);
        to.Shutdown(SocketShutdown.Send);
    }

    private static int IndexOfBlankLine(List<byte> bytes)
    {
        for (var i = 0; i + 3 < bytes.Count; i++)
            if (bytes[i] == '\r' && bytes[i + 1] == '\n' && bytes[i + 2] == '\r' && bytes[i + 3] == '\n')
                return i;
        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
