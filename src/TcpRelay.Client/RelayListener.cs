using System.Net.Sockets;
using System.Threading.Channels;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// Like a <see cref="TcpListener"/>, but the port is on the relay: <see cref="StartAsync"/>
/// registers with the relay and <see cref="AcceptAsync"/> returns each client that connects to
/// <see cref="PublicPort"/> as a connected stream. Needs only outbound connections to the relay.
/// </summary>
public sealed class RelayListener : IAsyncDisposable
{
    private readonly RelayListenerOptions _options;
    private readonly Channel<Connect> _connects = Channel.CreateUnbounded<Connect>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly CancellationTokenSource _stopping = new();
    private ControlConnection? _control;
    private Task _readLoop = Task.CompletedTask;
    private Registered? _registered;

    /// <summary>A listener for the relay and registration given; nothing happens until <see cref="StartAsync"/>.</summary>
    public RelayListener(RelayListenerOptions options) => _options = options;

    /// <summary>The name the relay registered this app under.</summary>
    public string Name => Registration.Name.Value;

    /// <summary>The relay's public port for this app: clients connect here.</summary>
    public int PublicPort => Registration.Port;

    /// <summary>The relay's data port, dialled once per session.</summary>
    public int DataPort => Registration.DataPort;

    private Registered Registration => _registered ?? throw new InvalidOperationException("call StartAsync first");

    /// <summary>Connects to the relay and registers. When this returns, clients can already connect.</summary>
    /// <exception cref="RelayRegistrationException">The relay refused (its code says why) or went away.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_control is not null)
            throw new InvalidOperationException("already started");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_options.RelayHost, _options.ControlPort, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new RelayRegistrationException($"cannot reach the relay at {_options.RelayHost}:{_options.ControlPort}: {e.Message}", e);
        }
        _control = new ControlConnection(socket);
        try
        {
            _registered = await RegisterAsync(_control, timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RelayRegistrationException($"the relay did not answer within {_options.ConnectTimeout}");
        }
        _readLoop = Task.Run(() => ReadLoopAsync(_control, _stopping.Token), CancellationToken.None);
    }

    /// <summary>
    /// Waits for the next client, dials the relay's data port for it and returns the session's
    /// stream. Bytes written right away (a banner) reach the client.
    /// </summary>
    /// <exception cref="RelayRegistrationException">The control connection ended; no more clients will come.</exception>
    public async ValueTask<RelayStream> AcceptAsync(CancellationToken cancellationToken = default)
    {
        _ = Registration;
        Connect connect;
        try
        {
            connect = await _connects.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException e)
        {
            throw e.InnerException as RelayRegistrationException ?? new RelayRegistrationException("the listener is closed", e);
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_options.RelayHost, DataPort, cancellationToken);
            await socket.SendAsync(new Accept(connect.Id).ToBytes(), cancellationToken);
            return new RelayStream(socket, connect.Id, connect.Client);
        }
        catch
        {
            socket.Dispose();
            // Tell the relay at once so that the client is closed instead of waiting for the pending timeout.
            await TryRejectAsync(connect.Id);
            throw;
        }
    }

    /// <summary>Tells the relay this app will not serve a session it was offered.</summary>
    private async Task TryRejectAsync(SessionId id)
    {
        try
        {
            if (_control is not null)
                await _control.WriteAsync(new Reject(id), _stopping.Token);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The control connection is gone too; the relay closes the client on its own.
        }
    }

    /// <summary>Deregisters (closes the control connection). Sessions already accepted go on.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_control is not null)
            await _control.DisposeAsync();
        try
        {
            await _readLoop;
        }
        catch (Exception)
        {
            // The loop's outcome went to AcceptAsync callers already.
        }
        _connects.Writer.TryComplete();
        _stopping.Dispose();
    }

    private async Task<Registered> RegisterAsync(ControlConnection control, CancellationToken ct)
    {
        var hello = await control.ReadAsync(ct) as Hello
                    ?? throw new RelayRegistrationException("the relay did not start with HELLO");
        if (hello.Version != ProtocolDefaults.Version)
            throw new RelayRegistrationException($"the relay speaks {hello.Version}, this library {ProtocolDefaults.Version}");
        var name = _options.Name is null ? (AppName?)null : AppName.Parse(_options.Name).GetValueOrThrow();
        var auth = _options.Secret is null ? null : RelayAuth.Compute(_options.Secret, hello.Nonce);
        await control.WriteAsync(new Register(name, _options.Port, auth), ct);
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

    private async Task ReadLoopAsync(ControlConnection control, CancellationToken ct)
    {
        Exception? ended = null;
        try
        {
            while (true)
            {
                switch (await control.ReadAsync(ct))
                {
                    case Connect connect:
                        await _connects.Writer.WriteAsync(connect, ct);
                        break;
                    case Ping:
                        await control.WriteAsync(Pong.Instance, ct);
                        break;
                    case Error error:
                        throw new RelayRegistrationException(error.Code, error.Text);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            ended = new RelayRegistrationException("the listener is closed");
        }
        catch (Exception e) when (e is RelayRegistrationException)
        {
            ended = e;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            ended = new RelayRegistrationException($"lost the control connection: {e.Message}", e);
        }
        finally
        {
            _connects.Writer.TryComplete(ended);
        }
    }
}
