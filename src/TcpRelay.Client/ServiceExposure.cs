using Microsoft.Extensions.Logging;

namespace TcpRelay.Client;

/// <summary>
/// One service of an agent and the listener that registers it now. A health check that withdraws
/// the service disposes the listener; its return registers a new one with the same options (and
/// so the same resume token).
/// </summary>
internal sealed class ServiceExposure
{
    private readonly ILogger _listenerLogger;
    private volatile RelayListener _listener;

    public ServiceExposure(ExposedService service, RelayListenerOptions options, ILogger listenerLogger)
    {
        Service = service;
        Options = options;
        _listenerLogger = listenerLogger;
        _listener = new RelayListener(options, listenerLogger);
    }

    public ExposedService Service { get; }

    public RelayListenerOptions Options { get; }

    /// <summary>The listener in use, or the last one while the service is withdrawn.</summary>
    public RelayListener Listener => _listener;

    /// <summary>The accept loop of <see cref="Listener"/>; it ends when the listener does.</summary>
    public Task AcceptLoop { get; set; } = Task.CompletedTask;

    /// <summary>The service's health checks; completed when it has none.</summary>
    public Task HealthCheck { get; set; } = Task.CompletedTask;

    private volatile bool _withdrawn;

    /// <summary>Set while a health check has the service deregistered: the end of its listener is then no failure.</summary>
    public bool Withdrawn
    {
        get => _withdrawn;
        set => _withdrawn = value;
    }

    /// <summary>A new listener, not started, that takes the place of the last one.</summary>
    public RelayListener Renew() => _listener = new RelayListener(Options, _listenerLogger);
}
