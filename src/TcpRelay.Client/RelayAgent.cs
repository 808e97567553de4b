using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// Exposes local services that know nothing of the relay: one <see cref="RelayListener"/> per
/// service, and for every client the relay announces, a connection to the service piped to the
/// session. A service that refuses the connection gets the session rejected, so the client is
/// closed at once. Control reconnects are the listeners' business and leave running sessions alone.
/// </summary>
public sealed class RelayAgent : IAsyncDisposable
{
    private readonly IReadOnlyList<(ExposedService Service, RelayListener Listener)> _services;
    private readonly RelayListenerOptions _relay;
    private readonly TimeSpan _connectTimeout;
    private readonly string _relayHost;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, bool> _sessions = new();
    private readonly List<Task> _acceptLoops = [];
    // Set by a drain: the listeners' end is then the agent's doing, not a failure to report.
    private volatile bool _draining;
    // Sessions the agent's own stop cut (their pipe ended "cancelled"): what a drain reports as reset.
    private int _cutByStop;

    /// <summary>An agent for the relay given by <paramref name="relay"/> (its Name and Port are taken from each service).</summary>
    public RelayAgent(RelayListenerOptions relay, IEnumerable<ExposedService> services, ILoggerFactory? loggers = null)
    {
        var factory = loggers ?? NullLoggerFactory.Instance;
        _logger = factory.CreateLogger("TcpRelay.Agent");
        _relay = relay;
        _connectTimeout = relay.ConnectTimeout;
        _relayHost = relay.RelayHost;
        _services = services
            .Select(s => (s, new RelayListener(relay with { Name = s.Name, Port = s.Port }, factory.CreateLogger("TcpRelay.Listener"))))
            .ToList();
        if (_services.Count == 0)
            throw new ArgumentException("at least one service is needed", nameof(services));
    }

    /// <summary>Sessions being served right now.</summary>
    public int RunningSessions => _sessions.Count;

    /// <summary>Each service with the listener that registered it (its public port once started).</summary>
    public IReadOnlyList<(ExposedService Service, RelayListener Listener)> Services => _services;

    /// <summary>
    /// Ends when every service's listener has ended for good (the relay refused it, or reconnecting
    /// is off and the relay was lost), or the agent is disposed.
    /// </summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    /// <summary>
    /// Registers every service; when this returns, clients can connect to each public port. A relay
    /// that cannot be reached yet is retried with backoff (when reconnecting is on), so an agent
    /// started before its relay simply waits for it.
    /// </summary>
    /// <exception cref="RelayRegistrationException">The relay refused a service for good; none is left registered.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        foreach (var (service, listener) in _services)
        {
            try
            {
                await RegisterAsync(service, listener, cancellationToken);
            }
            catch (Exception e) when (e is RelayRegistrationException or OperationCanceledException)
            {
                await DisposeAsync();
                if (e is OperationCanceledException)
                    throw;
                throw new RelayRegistrationException($"{service.Name ?? service.Address}: {e.Message}", e);
            }
            _logger.LogInformation("Exposing {Service} as {App}: clients connect to {Host}:{Port}",
                service.Address, listener.Name, _relayHost, listener.PublicPort);
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(service, listener, _stopping.Token), CancellationToken.None));
        }
        Completion = Task.WhenAll(_acceptLoops);
    }

    private async Task RegisterAsync(ExposedService service, RelayListener listener, CancellationToken ct)
    {
        // A relay still draining, or restarting, is waited for as a listener waits for its return.
        var retry = new RegistrationRetry(new ReconnectBackoff(_relay.ReconnectDelayMin, _relay.ReconnectDelayMax), _logger, service.Name ?? service.Address);
        while (true)
        {
            try
            {
                await listener.StartAsync(ct);
                if (retry.Failures > 0)
                    _logger.LogInformation("Registered {Service} with relay {Relay} ({Retries})", service.Address, listener.Relay, retry.Succeeded());
                return;
            }
            catch (RelayRegistrationException e) when (_relay.Reconnect && !RelayListener.IsFinal(e))
            {
                var delay = retry.Failed(listener.Relay, e);
                try
                {
                    await Task.Delay(delay, ct);
                }
                catch (OperationCanceledException)
                {
                    retry.GaveUp(listener.Relay);
                    throw;
                }
            }
        }
    }

    /// <summary>
    /// Stops as a relay drains: deregisters every service (LEAVE, so their names and ports are free
    /// at once and no new client is announced), lets the sessions already running finish for up to
    /// <paramref name="timeout"/>, or until <paramref name="abort"/> (a second stop signal), then
    /// resets what is left.
    /// </summary>
    /// <returns>How many sessions were still running, and so were reset.</returns>
    public async Task<int> DrainAsync(TimeSpan timeout, CancellationToken abort = default)
    {
        _draining = true;
        foreach (var (_, listener) in _services)
            await listener.DisposeAsync();
        await Task.WhenAll(_acceptLoops);
        try
        {
            await Task.WhenAll(_sessions.Keys).WaitAsync(timeout, abort);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // Reset below.
        }
        // Counted by the sessions themselves: one that has just ended on its own may not have
        // finished its task yet, and must not be taken for one the stop cut.
        await DisposeAsync();
        return Volatile.Read(ref _cutByStop);
    }

    /// <summary>Deregisters every service and resets the sessions still running.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
            return;
        await _stopping.CancelAsync();
        foreach (var (_, listener) in _services)
            await listener.DisposeAsync();
        await Task.WhenAll(_acceptLoops);
        await Task.WhenAll(_sessions.Keys);
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync(ExposedService service, RelayListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            RelaySessionOffer offer;
            try
            {
                offer = await listener.AcceptOfferAsync(ct);
            }
            catch (Exception e) when (e is RelayRegistrationException or OperationCanceledException)
            {
                if (!ct.IsCancellationRequested && !_draining)
                    _logger.LogError("Stopped exposing {Service} as {App}: {Reason}", service.Address, listener.Name, e.Message);
                return;
            }
            var session = ServeAsync(service, listener, offer, ct);
            _sessions.TryAdd(session, true);
            _ = session.ContinueWith(t => _sessions.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(ExposedService service, RelayListener listener, RelaySessionOffer offer, CancellationToken ct)
    {
        var local = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SocketKeepAlive.Enable(local, _relay.KeepAliveIdle);
        try
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                timeout.CancelAfter(_connectTimeout);
                await local.ConnectAsync(service.Host, service.LocalPort, timeout.Token);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            local.Dispose();
            if (ct.IsCancellationRequested)
                return;
            _logger.LogWarning("Session {SessionId} of {App} rejected: {Service} did not accept a connection ({Reason}); client {Client} is closed",
                offer.Id.Value, listener.Name, service.Address, e.Message, offer.Client);
            await offer.RejectAsync();
            return;
        }
        RelayStream relayed;
        try
        {
            relayed = await offer.ConnectAsync(ct);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            local.Dispose();
            if (!ct.IsCancellationRequested)
                _logger.LogWarning("Session {SessionId} of {App} dropped: {Reason}", offer.Id.Value, listener.Name, e.Message);
            return;
        }
        var age = Stopwatch.StartNew();
        await using (relayed)
        using (local)
        {
            var result = await SocketPipe.RunAsync(relayed.Socket, "client", local, "service", ct);
            if (result.Outcome == SocketPipe.Cancelled)
                Interlocked.Increment(ref _cutByStop);
            _logger.LogInformation("Session {SessionId} of {App} ended ({Outcome}): client {Client}, {ToService} bytes to {Service}, {ToClient} bytes to the client, {Duration}",
                offer.Id.Value, listener.Name, result.Outcome, offer.Client, result.BytesAToB, service.Address, result.BytesBToA, ElapsedTime.Format(age.Elapsed));
        }
    }
}
