using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// Exposes local services that know nothing of the relay: one <see cref="RelayListener"/> per
/// service, and for every client the relay announces, a connection to the service piped to the
/// session. A service that refuses the connection gets the session rejected, so the client is
/// closed at once. Control reconnects are the listeners' business and leave running sessions alone.
/// Per service, a PROXY protocol header may start each session (<see cref="ExposedService.ProxyProtocol"/>),
/// and health checks may take the service off the relay while it is down (<see cref="ExposedService.HealthInterval"/>).
/// </summary>
public sealed class RelayAgent : IAsyncDisposable
{
    private readonly IReadOnlyList<ServiceExposure> _exposures;
    private readonly RelayListenerOptions _relay;
    private readonly TimeSpan _connectTimeout;
    private readonly string _relayHost;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    // Cancelled first on a stop, so that no health check registers a service the stop is deregistering.
    private readonly CancellationTokenSource _checking = new();
    private readonly ConcurrentDictionary<Task, bool> _sessions = new();
    // Set by a drain: the listeners' end is then the agent's doing, not a failure to report.
    private volatile bool _draining;
    // Sessions the agent's own stop cut (their pipe ended "cancelled"): what a drain reports as reset.
    private int _cutByStop;
    // Clients reset in a row because their service refused, per service: one warning a burst.
    private readonly ConcurrentDictionary<ExposedService, StrongBox<int>> _refused = new();

    /// <summary>An agent for the relay given by <paramref name="relay"/> (its Name and Port are taken from each service).</summary>
    public RelayAgent(RelayListenerOptions relay, IEnumerable<ExposedService> services, ILoggerFactory? loggers = null)
    {
        var factory = loggers ?? NullLoggerFactory.Instance;
        _logger = factory.CreateLogger("TcpRelay.Agent");
        _relay = relay;
        _connectTimeout = relay.ConnectTimeout;
        _relayHost = relay.RelayHost;
        _exposures = services
            .Select(s => new ServiceExposure(s, ListenerOptions(relay, s), factory.CreateLogger("TcpRelay.Listener")))
            .ToList();
        if (_exposures.Count == 0)
            throw new ArgumentException("at least one service is needed", nameof(services));
        if (_exposures.FirstOrDefault(e => e.Service.HealthInterval is { } i && (i <= TimeSpan.Zero || i > TimeSpan.FromDays(1))) is { } bad)
            throw new ArgumentOutOfRangeException(nameof(services), bad.Service.HealthInterval, $"the HealthInterval of {bad.Service.Address} must be more than zero and at most a day");
    }

    /// <summary>Failed health checks in a row after which a service is deregistered (<see cref="ExposedService.HealthInterval"/>).</summary>
    public const int FailuresToWithdraw = 3;

    /// <summary>Passed health checks in a row after which a deregistered service is registered again.</summary>
    public const int SuccessesToReturn = 2;

    /// <summary>
    /// What <paramref name="service"/> registers with: <paramref name="relay"/> with the service's
    /// name, port and sharing. A resume token is drawn here when none is given, not by each
    /// listener: one that replaces a listener a health check withdrew must present the same.
    /// </summary>
    internal static RelayListenerOptions ListenerOptions(RelayListenerOptions relay, ExposedService service) =>
        relay with { Name = service.Name, Port = service.Port, Shared = service.Shared, ResumeToken = relay.ResumeToken ?? ResumeToken.New() };

    /// <summary>The level of the lines written for each session (ended, rejected); <see cref="LogLevel.None"/> leaves them out.</summary>
    public LogLevel SessionLogLevel { get; init; } = LogLevel.Information;

    /// <summary>
    /// How long a name or port that another app holds is waited for before <see cref="StartAsync"/>
    /// gives up: past the relay's grace period (30s by default), for which it holds a lost app's name
    /// and port for that app's return.
    /// </summary>
    public TimeSpan TakenTimeout { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Sessions being served right now.</summary>
    public int RunningSessions => _sessions.Count;

    /// <summary>
    /// Each service with the listener that registers it now (its public port once started): one
    /// that a health check withdrew and then registered again has a new listener.
    /// </summary>
    public IReadOnlyList<(ExposedService Service, RelayListener Listener)> Services => _exposures.Select(e => (e.Service, e.Listener)).ToList();

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
        foreach (var exposure in _exposures)
        {
            var (service, listener) = (exposure.Service, exposure.Listener);
            // Beside the registration, not before it: a service slow to hang up would hold the start up.
            _ = WarnIfRefusingAsync(service, _stopping.Token);
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
            exposure.AcceptLoop = Task.Run(() => AcceptLoopAsync(exposure, listener, _stopping.Token), CancellationToken.None);
        }
        // Once every service is registered: a start that fails leaves no check behind.
        foreach (var exposure in _exposures)
            if (exposure.Service.HealthInterval is { } interval)
                exposure.HealthCheck = Task.Run(() => CheckHealthAsync(exposure, interval, _checking.Token), CancellationToken.None);
        Completion = Task.WhenAll(_exposures.Select(EndedAsync));
    }

    private async Task RegisterAsync(ExposedService service, RelayListener listener, CancellationToken ct)
    {
        // A relay still draining, or restarting, is waited for as a listener waits for its return.
        var retry = new RegistrationRetry(new ReconnectBackoff(_relay.ReconnectDelayMin, _relay.ReconnectDelayMax), _logger, service.Name ?? service.Address);
        Stopwatch? taken = null;
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
                // Taken by another app: worth waiting out the grace period of one that was lost, no longer.
                if (e.Code == ErrorCode.NameInUse || e.Code == ErrorCode.PortInUse)
                {
                    taken ??= Stopwatch.StartNew();
                    if (taken.Elapsed >= TakenTimeout)
                        throw new RelayRegistrationException($"{e.Message}, still after {ElapsedTime.Format(taken.Elapsed)}: {TakenHint(e.Code.Value)}", e);
                }
                else
                {
                    taken = null;
                }
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
        await StopHealthChecksAsync();
        foreach (var exposure in _exposures)
            await exposure.Listener.DisposeAsync();
        await Task.WhenAll(_exposures.Select(e => e.AcceptLoop));
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
        await StopHealthChecksAsync();
        await _stopping.CancelAsync();
        foreach (var exposure in _exposures)
            await exposure.Listener.DisposeAsync();
        await Task.WhenAll(_exposures.Select(e => e.AcceptLoop));
        await Task.WhenAll(_sessions.Keys);
        _stopping.Dispose();
        _checking.Dispose();
    }

    private async Task StopHealthChecksAsync()
    {
        await _checking.CancelAsync();
        await Task.WhenAll(_exposures.Select(e => e.HealthCheck));
    }

    private static string TakenHint(ErrorCode code) => code == ErrorCode.NameInUse
        ? "another app holds the name; give this service another --name, or stop the app that has it"
        : "another app or process holds the port; give this service another --port, or none to get a free one";

    /// <summary>A service that refuses now is registered all the same (it may be starting), but not without a word.</summary>
    private async Task WarnIfRefusingAsync(ExposedService service, CancellationToken ct)
    {
        try
        {
            if (await ServiceProbe.ConnectAsync(service, _connectTimeout, ct) is { } reason)
                _logger.LogWarning("{Service} does not accept connections now ({Reason}): it is exposed all the same, and its clients are reset until it does",
                    service.Address, reason);
        }
        catch (OperationCanceledException)
        {
            // The agent stopped first.
        }
    }

    /// <summary>
    /// Ends when the service has ended for good: a listener ended that no health check withdrew, or
    /// the agent stopped (its health checks, then its last listener).
    /// </summary>
    private static async Task EndedAsync(ServiceExposure exposure)
    {
        await exposure.HealthCheck;
        await exposure.AcceptLoop;
    }

    /// <summary>
    /// Connects to the service every <paramref name="interval"/>: after <see cref="FailuresToWithdraw"/>
    /// failures in a row deregisters it (LEAVE: its name and port are free, no client is sent to a
    /// service that is down), after <see cref="SuccessesToReturn"/> successes in a row registers it again.
    /// Returns when <paramref name="ct"/> is cancelled, or when the listener ends on its own.
    /// </summary>
    private async Task CheckHealthAsync(ServiceExposure exposure, TimeSpan interval, CancellationToken ct)
    {
        var service = exposure.Service;
        var timeout = interval < _connectTimeout ? interval : _connectTimeout;
        var registered = true;
        // Checks in a row whose outcome argues for a change: failures while registered, successes while withdrawn.
        var streak = 0;
        while (true)
        {
            string? reason;
            try
            {
                var wait = Task.Delay(interval, ct);
                if (registered && await Task.WhenAny(wait, exposure.AcceptLoop) == exposure.AcceptLoop)
                    return; // refused for good, or lost without reconnect: there is nothing left to withdraw
                await wait;
                reason = await ServiceProbe.ConnectAsync(service, timeout, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            streak = (reason is null) == registered ? 0 : streak + 1;
            if (registered && streak == FailuresToWithdraw)
            {
                var listener = exposure.Listener;
                exposure.Withdrawn = true;
                // Logged once the relay has let go of the name (or the wait for it is over), so that the line is true.
                await listener.DisposeAsync();
                await exposure.AcceptLoop;
                _logger.LogWarning("{Service} failed {Count} health checks in a row ({Reason}): deregistered {App}, so that no client is sent to it, until it passes {Passes} in a row",
                    service.Address, streak, reason, listener.Name, SuccessesToReturn);
                (registered, streak) = (false, 0);
            }
            else if (!registered && streak == SuccessesToReturn)
            {
                var listener = exposure.Renew();
                try
                {
                    await RegisterAsync(service, listener, ct);
                }
                catch (Exception e) when (e is RelayRegistrationException or OperationCanceledException)
                {
                    await listener.DisposeAsync();
                    if (e is OperationCanceledException)
                        return;
                    _logger.LogError("{Service} passed {Count} health checks in a row but cannot be registered again: {Reason}; checking on",
                        service.Address, streak, e.Message);
                    streak = 0;
                    continue;
                }
                exposure.Withdrawn = false;
                _logger.LogInformation("{Service} passed {Count} health checks in a row: registered {App} again: clients connect to {Host}:{Port}",
                    service.Address, streak, listener.Name, _relayHost, listener.PublicPort);
                exposure.AcceptLoop = Task.Run(() => AcceptLoopAsync(exposure, listener, _stopping.Token), CancellationToken.None);
                (registered, streak) = (true, 0);
            }
        }
    }

    /// <summary>Writes the PROXY header to the service before the pipe starts, so that it comes before any byte of the client.</summary>
    /// <returns>False when the service could not take it; the session is then dropped (both sockets close).</returns>
    private async Task<bool> SendProxyHeaderAsync(ProxyProtocolVersion version, Socket local, RelaySessionOffer offer, RelayListener listener, CancellationToken ct)
    {
        var header = ProxyHeader.Format(version, offer.Client, listener.PublicEndPoint);
        try
        {
            await local.SendAsync(header, ct);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            if (!ct.IsCancellationRequested)
                _logger.LogWarning("Session {SessionId} of {App} dropped: the PROXY header could not be written to the service: {Reason}", offer.Id.Value, listener.Name, e.Message);
            return false;
        }
    }

    private async Task AcceptLoopAsync(ServiceExposure exposure, RelayListener listener, CancellationToken ct)
    {
        var service = exposure.Service;
        while (!ct.IsCancellationRequested)
        {
            RelaySessionOffer offer;
            try
            {
                offer = await listener.AcceptOfferAsync(ct);
            }
            catch (Exception e) when (e is RelayRegistrationException or OperationCanceledException)
            {
                if (!ct.IsCancellationRequested && !_draining && !exposure.Withdrawn)
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
            var refused = _refused.GetOrAdd(service, _ => new StrongBox<int>());
            if (Interlocked.Increment(ref refused.Value) == 1)
                _logger.LogWarning("{Service} refuses connections ({Reason}): clients of {App} are reset until it takes them again",
                    service.Address, e.Message, listener.Name);
            if (SessionLogLevel != LogLevel.None)
                _logger.Log(SessionLogLevel, "Session {SessionId} of {App} rejected: {Service} did not accept a connection ({Reason}); client {Client} is reset",
                    offer.Id.Value, listener.Name, service.Address, e.Message, offer.Client);
            await offer.RejectAsync();
            return;
        }
        if (_refused.TryGetValue(service, out var burst) && Interlocked.Exchange(ref burst.Value, 0) is var reset and > 0)
            _logger.LogInformation("{Service} takes connections again: {Clients} clients of {App} were reset meanwhile", service.Address, reset, listener.Name);
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
            if (service.ProxyProtocol is { } version && !await SendProxyHeaderAsync(version, local, offer, listener, ct))
                return;
            var result = await SocketPipe.RunAsync(relayed, "client", local, "service", ct);
            if (result.Outcome == SocketPipe.Cancelled)
                Interlocked.Increment(ref _cutByStop);
            if (SessionLogLevel != LogLevel.None)
                _logger.Log(SessionLogLevel, "Session {SessionId} of {App} ended ({Outcome}): client {Client}, {ToService} bytes to {Service}, {ToClient} bytes to the client, {Duration}",
                offer.Id.Value, listener.Name, result.Outcome, offer.Client, result.BytesAToB, service.Address, result.BytesBToA, ElapsedTime.Format(age.Elapsed));
        }
    }
}
