using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// Like a <see cref="TcpListener"/>, but the port is on the relay: <see cref="StartAsync"/>
/// registers with the relay and <see cref="AcceptAsync"/> returns each client that connects to
/// <see cref="PublicPort"/> as a connected stream. Needs only outbound connections to the relay.
/// A lost control connection is re-established in the background with the same name and port
/// (<see cref="RelayListenerOptions.Reconnect"/>); sessions already paired are not touched by it.
/// </summary>
public sealed class RelayListener : IAsyncDisposable
{
    private readonly RelayListenerOptions _options;
    private readonly ILogger _logger;
    // Sent on every REGISTER so that the relay can tell this listener's return from another app wanting its name.
    private readonly ResumeToken _resumeToken;
    private readonly Channel<RelaySessionOffer> _offers = Channel.CreateUnbounded<RelaySessionOffer>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly RecentSessionIds _offered = new();
    private readonly CancellationTokenSource _stopping = new();
    private volatile ControlConnection? _control;
    private volatile Registered? _registered;
    // The address the control connection reached, of the registration in use.
    private volatile IPAddress? _relayAddress;
    private Task _run = Task.CompletedTask;
    private volatile bool _leaving;
    private int _disposed;
    private static readonly TimeSpan LeaveTimeout = TimeSpan.FromSeconds(1);
    // The relay's nodes; _node is the one registered with, or to try next.
    private readonly HostPort[] _nodes;
    private volatile int _node;
    // Null: plain TCP to the relay.
    private readonly RelayTrust? _trust;

    /// <summary>A listener for the relay and registration given; nothing happens until <see cref="StartAsync"/>.</summary>
    /// <exception cref="ArgumentException">An option is out of range (<see cref="RelayListenerOptions.Validate"/>).</exception>
    public RelayListener(RelayListenerOptions options, ILogger? logger = null)
    {
        options.Validate();
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _resumeToken = options.ResumeToken ?? ResumeToken.New();
        _nodes = [new HostPort(options.RelayHost, options.ControlPort), .. options.OtherNodes];
        _trust = RelayTrust.From(options);
    }

    /// <summary>The name the relay registered this app under.</summary>
    public string Name => Registration.Name.Value;

    /// <summary>The relay's public port for this app: clients connect here.</summary>
    public int PublicPort => Registration.Port;

    /// <summary>
    /// Where clients connect as far as this listener knows: the relay's address as the control
    /// connection reached it (<see cref="RelayListenerOptions.RelayHost"/> resolved, or the node
    /// in use) and <see cref="PublicPort"/>.
    /// </summary>
    public IPEndPoint PublicEndPoint => new(_relayAddress ?? throw new InvalidOperationException("call StartAsync first"), PublicPort);

    /// <summary>The relay's data port, dialled once per session.</summary>
    public int DataPort => Registration.DataPort;

    /// <summary>Where the relay is, as host:port of the control port of the node in use.</summary>
    public string Relay => _nodes[_node].ToString();

    private Registered Registration => _registered ?? throw new InvalidOperationException("call StartAsync first");

    /// <summary>Connects to the relay and registers. When this returns, clients can already connect.</summary>
    /// <exception cref="RelayRegistrationException">The relay refused (its code says why) or could not be reached.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_registered is not null)
            throw new InvalidOperationException("already started");
        var (control, registered) = await RegisterWithSomeNodeAsync(_options.Name, _options.Port, cancellationToken);
        _control = control;
        _relayAddress = control.RemoteAddress;
        _registered = registered;
        _logger.LogInformation("Registered with relay {Relay} as {App}: clients connect to public port {Port}", Relay, registered.Name.Value, registered.Port);
        _run = Task.Run(() => RunAsync(control, _stopping.Token), CancellationToken.None);
    }

    /// <summary>
    /// Waits for the next client, dials the relay's data port for it and returns the session's
    /// stream. Bytes written right away (a banner) reach the client.
    /// </summary>
    /// <exception cref="RelayRegistrationException">The listener ended: disposed, refused for good by the relay, or (without reconnect) its control connection was lost.</exception>
    /// <exception cref="IOException">The data port could not be reached for this client; the next call may succeed.</exception>
    public async ValueTask<RelayStream> AcceptAsync(CancellationToken cancellationToken = default)
    {
        var offer = await AcceptOfferAsync(cancellationToken);
        return await offer.ConnectAsync(cancellationToken);
    }

    /// <summary>
    /// Waits for the next client and returns it unanswered, so that the caller may prepare (say,
    /// connect to a local service) before taking the session, or reject it.
    /// </summary>
    /// <exception cref="RelayRegistrationException">The listener ended (see <see cref="AcceptAsync"/>).</exception>
    public async ValueTask<RelaySessionOffer> AcceptOfferAsync(CancellationToken cancellationToken = default)
    {
        _ = Registration;
        try
        {
            return await _offers.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException e)
        {
            throw e.InnerException as RelayRegistrationException ?? new RelayRegistrationException("the listener is closed", e);
        }
    }

    /// <summary>Deregisters (LEAVE, then closes the control connection). Sessions already accepted go on.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _leaving = true;
        // LEAVE, so that the relay frees the name and port now rather than holding them for a resume;
        // then wait for the relay to close, which it does once both are free (and because a reset
        // could overtake the line). Not a half-close: a relay closes on that before freeing anything.
        if (_control is { } control)
        {
            try
            {
                await control.WriteAsync(Leave.Instance, CancellationToken.None).WaitAsync(LeaveTimeout);
                await _run.WaitAsync(LeaveTimeout);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or TimeoutException)
            {
                // The connection is gone already, or the relay is slow: it notices on its own.
            }
        }
        await _stopping.CancelAsync();
        _control?.Abort("the listener is closed");
        try
        {
            await _run;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The loop's outcome went to AcceptAsync callers already.
        }
        if (_control is { } last)
            await last.DisposeAsync();
        _offers.Writer.TryComplete(new RelayRegistrationException("the listener is closed"));
        _stopping.Dispose();
    }

    internal async Task<RelayStream> ConnectSessionAsync(RelaySessionOffer offer, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var (host, port) = (offer.DataPort.Host, offer.DataPort.Port);
        try
        {
            SocketKeepAlive.Enable(socket, _options.KeepAliveIdle);
            await socket.ConnectAsync(host, port, timeout.Token);
            // The data connection is verified as the control connection is, against the host it dials.
            var tls = _trust is null ? null : await _trust.AuthenticateAsync(socket, host, timeout.Token);
            if (tls is null)
                await socket.SendAsync(new Accept(offer.Id).ToBytes(), timeout.Token);
            else
                await tls.WriteAsync(new Accept(offer.Id).ToBytes(), timeout.Token);
            return new RelayStream(socket, tls, offer.Id, offer.Client);
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            socket.Dispose();
            // Tell the relay at once so that the client is closed instead of waiting for the pending timeout.
            await RejectAsync(offer.Id);
            throw new IOException($"cannot reach the relay's data port {new HostPort(host, port)}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            await RejectAsync(offer.Id);
            throw;
        }
    }

    internal async Task RejectAsync(SessionId id)
    {
        try
        {
            if (_control is { } control)
                await control.WriteAsync(new Reject(id), _stopping.Token);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The control connection is gone too; the relay closes the client after its pending timeout.
        }
    }

    /// <summary>Serves the control connection; when it is lost, registers again until it works, the relay refuses for good, or the listener is disposed.</summary>
    private async Task RunAsync(ControlConnection control, CancellationToken ct)
    {
        try
        {
            _offers.Writer.TryComplete(await KeepRegisteredAsync(control, ct));
        }
        catch (Exception e)
        {
            // Whatever went wrong, AcceptAsync must not wait for offers that can no longer come.
            _logger.LogError(e, "The listener for relay {Relay} failed", Relay);
            _offers.Writer.TryComplete(new RelayRegistrationException($"the listener failed: {e.Message}", e));
        }
    }

    private async Task<RelayRegistrationException> KeepRegisteredAsync(ControlConnection control, CancellationToken ct)
    {
        var retry = new RegistrationRetry(new ReconnectBackoff(_options.ReconnectDelayMin, _options.ReconnectDelayMax), _logger, Registration.Name.Value);
        while (true)
        {
            var lost = await ServeAsync(control, ct);
            await control.DisposeAsync();
            if (ct.IsCancellationRequested || _leaving)
                return new RelayRegistrationException("the listener is closed");
            if (!_options.Reconnect || IsFinal(lost))
            {
                _logger.LogError("Lost relay {Relay} for good: {Reason}", Relay, lost.Message);
                return lost;
            }
            var again = await ReRegisterAsync(retry, retry.Lost(Relay, lost), ct);
            if (again.Control is null)
                return again.Ended!;
            control = again.Control;
        }
    }

    private async Task<(ControlConnection? Control, RelayRegistrationException? Ended)> ReRegisterAsync(RegistrationRetry retry, TimeSpan delay, CancellationToken ct)
    {
        var previous = Registration;
        while (true)
        {
            try
            {
                await Task.Delay(delay, ct);
                var (control, registered) = await RegisterWithSomeNodeAsync(previous.Name.Value, previous.Port, ct);
                _relayAddress = control.RemoteAddress;
                _registered = registered;
                _control = control;
                _logger.LogInformation("Registered again with relay {Relay} as {App} on public port {Port} ({Retries})",
                    Relay, registered.Name.Value, registered.Port, retry.Succeeded());
                return (control, null);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                retry.GaveUp(Relay);
                return (null, new RelayRegistrationException("the listener is closed"));
            }
            catch (RelayRegistrationException e) when (IsFinal(e))
            {
                _logger.LogError("Relay {Relay} refused {App} for good: {Reason}", Relay, previous.Name.Value, e.Message);
                return (null, e);
            }
            catch (RelayRegistrationException e)
            {
                delay = retry.Failed(Relay, e);
            }
        }
    }

    /// <summary>Refusals that another attempt cannot change: a wrong secret, a port the relay does not allow, a name or port the user is not granted, a line it cannot read, a server that is no relay, a certificate not trusted.</summary>
    internal static bool IsFinal(RelayRegistrationException e) =>
        e.Code == ErrorCode.AuthFailed || e.Code == ErrorCode.PortNotAllowed || e.Code == ErrorCode.NotAllowed || e.Code == ErrorCode.BadRequest || e.NotARelay || e.TlsRefused;

    /// <summary>Reads the control connection and keeps it alive until it fails; returns why it ended.</summary>
    private async Task<RelayRegistrationException> ServeAsync(ControlConnection control, CancellationToken ct)
    {
        using var serving = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var heartbeat = HeartbeatAsync(control, serving.Token);
        // Taken now: an offer read here is dialled on this node's data port even if it is accepted
        // after a failover has moved the listener to another node.
        var dataPort = new HostPort(_nodes[_node].Host, Registration.DataPort);
        try
        {
            while (true)
            {
                switch (await control.ReadAsync(ct))
                {
                    case Connect connect when _offered.Add(connect.Id):
                        await _offers.Writer.WriteAsync(new RelaySessionOffer(this, connect, connect.Data ?? dataPort), ct);
                        break;
                    case Connect connect:
                        _logger.LogDebug("Relay {Relay} announced session {SessionId} again; it is already being served", Relay, connect.Id.Value);
                        break;
                    case Ping:
                        await control.WriteAsync(Pong.Instance, ct);
                        break;
                    case Error error:
                        return new RelayRegistrationException(error.Code, error.Text);
                }
            }
        }
        catch (RelayRegistrationException e)
        {
            return e;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return new RelayRegistrationException(e.Message, e);
        }
        finally
        {
            await serving.CancelAsync();
            await heartbeat;
        }
    }

    /// <summary>PINGs the relay every interval and drops the connection once it has been silent for 3 of them.</summary>
    private async Task HeartbeatAsync(ControlConnection control, CancellationToken ct)
    {
        var interval = _options.HeartbeatInterval;
        var limit = interval * ProtocolDefaults.MissedHeartbeatsAllowed;
        try
        {
            while (true)
            {
                await Task.Delay(interval, ct);
                if (control.Silence >= limit)
                {
                    control.Abort($"nothing heard from the relay for {limit.TotalSeconds:0.#}s");
                    return;
                }
                await control.WriteAsync(Ping.Instance, ct);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The read loop sees the same failure and reports it.
        }
    }

    /// <summary>
    /// Registers with the node in use, or, when it cannot be reached, with the next ones in turn.
    /// A node that answers decides: its refusal is not taken to another node.
    /// </summary>
    private async Task<(ControlConnection Control, Registered Registered)> RegisterWithSomeNodeAsync(string? name, int? port, CancellationToken cancellationToken)
    {
        for (var tried = 1; ; tried++)
        {
            try
            {
                return await RegisterAsync(name, port, cancellationToken);
            }
            // A node that is stopping says so (ERROR shutdown): another may take the app at once.
            catch (RelayRegistrationException e) when ((e.Unreachable || e.Code == ErrorCode.Shutdown) && tried < _nodes.Length)
            {
                var next = (_node + 1) % _nodes.Length;
                _logger.LogWarning("Relay node {Relay} cannot take the app ({Reason}); trying {Next}", Relay, e.Message, _nodes[next]);
                _node = next;
            }
        }
    }

    private async Task<(ControlConnection Control, Registered Registered)> RegisterAsync(string? name, int? port, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_nodes[_node].Host, _nodes[_node].Port, timeout.Token);
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            socket.Dispose();
            throw new RelayRegistrationException($"cannot reach the relay at {Relay}: {e.Message}", e) { Unreachable = true };
        }
        Stream stream;
        try
        {
            stream = _trust is null ? new NetworkStream(socket, ownsSocket: true) : await _trust.AuthenticateAsync(socket, _nodes[_node].Host, timeout.Token);
        }
        catch (RelayTlsException e)
        {
            throw new RelayRegistrationException($"TLS with the relay at {Relay}: {e.Message}", e) { TlsRefused = true };
        }
        catch (Exception e) when (e is IOException or SocketException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            socket.Dispose();
            throw new RelayRegistrationException($"lost the relay at {Relay} in the TLS handshake: {e.Message}", e) { Unreachable = true };
        }
        var control = new ControlConnection(socket, stream);
        try
        {
            return (control, await HandshakeAsync(control, name, port, timeout.Token));
        }
        catch (Exception e)
        {
            await control.DisposeAsync();
            // A relay's control port says HELLO at once; its data port and the apps' public ports wait for the other side.
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
                throw new RelayRegistrationException($"the relay at {Relay} did not answer within {_options.ConnectTimeout.TotalSeconds:0.#}s " +
                                                     $"(a control port says HELLO at once: is {Relay} the relay's data port or an app's public port{(_trust is null ? ", or does the relay speak TLS?" : "?")})") { Unreachable = true };
            if (e is IOException or SocketException)
                throw new RelayRegistrationException($"lost the relay at {Relay} while registering: {e.Message}", e) { Unreachable = true };
            throw;
        }
    }

    private async Task<Registered> HandshakeAsync(ControlConnection control, string? name, int? port, CancellationToken ct)
    {
        ControlMessage first;
        try
        {
            first = await control.ReadAsync(ct);
        }
        catch (RelayRegistrationException e) when (e.Malformed)
        {
            throw new RelayRegistrationException($"{Relay} is not a TcpRelay control port: {e.Message} " +
                                                 $"(--relay names the relay's control port, {ProtocolDefaults.ControlPort} by default)", e) { NotARelay = true };
        }
        var hello = first as Hello
                    ?? throw new RelayRegistrationException($"{Relay} is not a TcpRelay control port: it began with '{first.Format()}', not HELLO") { NotARelay = true };
        if (hello.Version != ProtocolDefaults.Version)
            throw new RelayRegistrationException($"the relay speaks {hello.Version}, this library {ProtocolDefaults.Version}");
        var appName = name is null ? (AppName?)null : AppName.Parse(name).GetValueOrThrow();
        var auth = _options.Secret is null ? null : RelayAuth.Compute(_options.Secret, hello.Nonce);
        // features=redirect: this library dials whatever data port a CONNECT names.
        var user = _options.User is null ? (UserId?)null : UserId.Parse(_options.User).GetValueOrThrow();
        await control.WriteAsync(new Register(appName, port, auth, _resumeToken, Redirect: true, user, _options.Shared), ct);
        while (true)
        {
            switch (await control.ReadAsync(ct))
            {
                case Registered registered:
                    return registered;
                case Error error:
                    throw new RelayRegistrationException(error.Code, error.Text);
                case Ping:
                    await control.WriteAsync(Pong.Instance, ct);
                    break;
                case var other:
                    throw new RelayRegistrationException($"unexpected line from the relay: {other.Format()}");
            }
        }
    }
}
