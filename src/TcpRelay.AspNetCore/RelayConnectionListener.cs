using System.Net;
using Microsoft.AspNetCore.Connections;
using TcpRelay.Client;

namespace TcpRelay.AspNetCore;

/// <summary>Kestrel's listener for a relay endpoint: each relayed session becomes a connection.</summary>
internal sealed class RelayConnectionListener(RelayListener listener, RelayEndPoint endPoint) : IConnectionListener
{
    public EndPoint EndPoint => endPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            try
            {
                var stream = await listener.AcceptAsync(cancellationToken);
                return new RelayConnection(stream, endPoint);
            }
            catch (IOException)
            {
                // This one client could not be taken (the data port was unreachable; it was rejected): wait for the next.
            }
            catch (Exception e) when (e is RelayRegistrationException or OperationCanceledException)
            {
                // Unbound, or the relay refused the app for good: Kestrel reads null as "no more connections".
                return null;
            }
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => listener.DisposeAsync();

    public ValueTask DisposeAsync() => listener.DisposeAsync();
}
