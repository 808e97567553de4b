using System.Net.Sockets;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>Whether a local service takes a TCP connection now: the agent's start-up check and its health checks.</summary>
internal static class ServiceProbe
{
    // The longest wait for the service to hang up after the probe's own FIN.
    private static readonly TimeSpan HangUpWait = TimeSpan.FromSeconds(1);

    /// <summary>Connects to <paramref name="service"/> within <paramref name="timeout"/> and hangs up in order.</summary>
    /// <returns>Null when the service accepted the connection, else why it did not.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled.</exception>
    public static async Task<string?> ConnectAsync(ExposedService service, TimeSpan timeout, CancellationToken ct)
    {
        using var probe = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            connecting.CancelAfter(timeout);
            try
            {
                await probe.ConnectAsync(service.Host, service.LocalPort, connecting.Token);
            }
            catch (SocketException e)
            {
                return e.Message;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return $"no answer within {ElapsedTime.Format(timeout)}";
            }
        }
        // Hang up in order, reading what the service says first (a banner, as ssh's): a socket
        // closed with unread bytes resets its peer, and the service would log a reset for a check.
        try
        {
            probe.Shutdown(SocketShutdown.Send);
            using var draining = CancellationTokenSource.CreateLinkedTokenSource(ct);
            draining.CancelAfter(timeout < HangUpWait ? timeout : HangUpWait);
            var buffer = new byte[1024];
            while (await probe.ReceiveAsync(buffer, draining.Token) > 0) { }
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            // A service that keeps the connection open past the wait, or resets it: it accepted all the same.
        }
        return null;
    }
}
