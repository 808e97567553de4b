using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using TcpRelay.Client;

namespace TcpRelay.AspNetCore;

/// <summary>
/// Kestrel's transport for <see cref="RelayEndPoint"/>s, next to its socket transport: it binds only
/// relay endpoints, so an app may listen on ordinary addresses as well.
/// </summary>
internal sealed class RelayConnectionListenerFactory(ILoggerFactory loggers) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is RelayEndPoint;

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not RelayEndPoint relay)
            throw new NotSupportedException($"{endpoint} is not a relay endpoint");
        var listener = new RelayListener(relay.Options, loggers.CreateLogger("TcpRelay.AspNetCore"));
        // A refusal surfaces here, so the host fails to start with the relay's reason.
        await listener.StartAsync(cancellationToken);
        relay.Registered(listener);
        return new RelayConnectionListener(listener, relay);
    }
}
