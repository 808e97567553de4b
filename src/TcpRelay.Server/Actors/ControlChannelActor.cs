using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using TcpRelay.Protocol;
using TcpRelay.Server.Registration;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// The wire side of one app's control connection: it frames and parses lines, sends HELLO, checks
/// auth, enforces the handshake timeout and heartbeats, and writes lines with one write in flight.
/// What the lines mean for the app's state is the <see cref="AppActor"/>'s business once the
/// <see cref="RegistryActor"/> has created it.
/// </summary>
internal sealed class ControlChannelActor : LifecycleLoggingActor, IWithTimers
{
    /// <summary>Write this line to the app.</summary>
    public sealed record Send(ControlMessage Message);

    /// <summary>From the app's actor once its public port is bound: answer REGISTERED and serve.</summary>
    public sealed record Registered(IActorRef App, Protocol.Registered Reply);

    /// <summary>From the registry: the REGISTER was refused; answer ERROR and close.</summary>
    public sealed record Refused(ErrorCode Code, string Text);

    /// <summary>From the app's actor: the same app registered again on a new connection, which replaces this one.</summary>
    public sealed class Superseded
    {
        public static readonly Superseded Instance = new();
        private Superseded() { }
    }

    private sealed class HeartbeatDue
    {
        public static readonly HeartbeatDue Instance = new();
        private HeartbeatDue() { }
    }

    // An app that never reads its control connection is closed rather than buffered without bound.
    private const int MaxQueuedBytes = 1 << 20;

    private readonly IActorRef _connection;
    private readonly IPEndPoint _remote;
    private readonly RelaySettings _settings;
    private readonly IActorRef _registry;
    private readonly UserTable? _users;
    private readonly Nonce _nonce = Nonce.New();
    private readonly LineFramer _framer = new();
    private readonly List<byte[]> _queue = [];
    private int _queuedBytes;
    private bool _writing;
    private bool _closing;
    private bool _left;
    private bool _closeSent;
    private int _missedHeartbeats;
    private IActorRef? _app;

    public ControlChannelActor(IActorRef connection, IPEndPoint remote, RelaySettings settings, IActorRef registry, UserTable? users)
    {
        _connection = connection;
        _remote = remote;
        _settings = settings;
        _registry = registry;
        _users = users;
        AwaitingRegister();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    // users: the users file's table when the connection arrived (null: the relay has none).
    public static Props CreateProps(IActorRef connection, IPEndPoint remote, RelaySettings settings, IActorRef registry, UserTable? users = null) =>
        Props.Create(() => new ControlChannelActor(connection, remote, settings, registry, users));

    protected override void PreStart()
    {
        base.PreStart();
        _connection.Tell(new Tcp.Register(Self, keepOpenOnPeerClosed: false, useResumeWriting: false));
        Context.Watch(_connection);
        Enqueue(new Hello(_nonce));
        _connection.Tell(Tcp.ResumeReading.Instance);
        Timers.StartSingleTimer(HandshakeTimedOut.Instance, HandshakeTimedOut.Instance, _settings.HandshakeTimeout);
    }

    // What the current state does with a line from the app (set when the state is entered).
    private Action<ControlMessage> _onMessage = _ => { };

    /// <summary>HELLO is sent; the app must answer REGISTER within the handshake timeout.</summary>
    private void AwaitingRegister()
    {
        ReceiveLines(message =>
        {
            switch (message)
            {
                case Register register:
                    var credentials = Credentials.Check(register, _nonce, _settings.Secret, _users);
                    if (!credentials.Admitted)
                    {
                        RelayTelemetry.Get(Context.System).Metrics.AuthFailed(credentials.FailureReason!);
                        Fail(ErrorCode.AuthFailed, credentials.Text!);
                        return;
                    }
                    Context.Parent.Tell(new RelayActor.HandshakeDone(Self));
                    _registry.Tell(new RegistryActor.RegisterApp(register.Name, register.Port,
                        register.Resume is { } token ? ResumeHash.Of(token) : null, _remote, register.Redirect, credentials.User?.Id, register.Shared));
                    Become(Registering);
                    break;
                default:
                    Unexpected(message, "REGISTER");
                    break;
            }
        });
        Receive<HandshakeTimedOut>(_ => Fail(ErrorCode.Timeout, $"no REGISTER within {Duration.Format(_settings.HandshakeTimeout)}"));
    }

    /// <summary>The registry and then the app's actor are working on the REGISTER.</summary>
    private void Registering()
    {
        ReceiveLines(message => Unexpected(message, "nothing until REGISTERED"));
        Receive<Refused>(refused => Fail(refused.Code, refused.Text));
        Receive<Registered>(registered =>
        {
            Timers.Cancel(HandshakeTimedOut.Instance);
            _app = registered.App;
            Context.Watch(_app);
            Enqueue(registered.Reply);
            Log.Info("App {App} registered from {Remote}: public port {Port}", registered.Reply.Name, _remote, registered.Reply.Port);
            StartHeartbeat();
            Become(Serving);
        });
        Receive<HandshakeTimedOut>(_ => Fail(ErrorCode.Timeout, "registration did not complete in time"));
    }

    /// <summary>The app is registered: CONNECTs go out, REJECTs come in, heartbeats both ways.</summary>
    private void Serving()
    {
        ReceiveLines(message =>
        {
            switch (message)
            {
                case Reject reject:
                    _app!.Tell(new AppActor.RejectSession(reject.Id));
                    break;
                case Leave:
                    _app!.Tell(AppActor.Leave.Instance);
                    Timers.CancelAll();
                    Timers.StartSingleTimer(CloseTimedOut.Instance, CloseTimedOut.Instance, _settings.CloseTimeout);
                    // Nothing after LEAVE is read; the close waits for the app's actor to free the name.
                    _left = true;
                    Become(Leaving);
                    break;
                default:
                    Unexpected(message, "REJECT, LEAVE, PING or PONG");
                    break;
            }
        });
        Receive<Send>(send => Enqueue(send.Message));
        Receive<Refused>(refused => Fail(refused.Code, refused.Text));
        Receive<HeartbeatDue>(_ =>
        {
            if (++_missedHeartbeats >= ProtocolDefaults.MissedHeartbeatsAllowed)
            {
                Fail(ErrorCode.Timeout, $"nothing heard for {ProtocolDefaults.MissedHeartbeatsAllowed} heartbeat intervals");
                return;
            }
            Enqueue(Ping.Instance);
            Timers.StartSingleTimer(HeartbeatDue.Instance, HeartbeatDue.Instance, _settings.HeartbeatInterval);
        });
    }

    /// <summary>The app said LEAVE; the connection is closed once its actor has freed the name and port.</summary>
    private void Leaving()
    {
        Receive<AppActor.Left>(_ => Close("the app left"));
        Receive<CloseTimedOut>(_ => Close("the app left"));
        Receive<WriteAck>(_ => OnWriteAck());
        Receive<Tcp.ConnectionClosed>(_ => Context.Stop(Self));
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_connection))
                Context.Stop(Self);
            else if (t.ActorRef.Equals(_app))
                Close("the app left");
        });
        ReceiveAny(_ => { });
    }

    /// <summary>An ERROR (or nothing) is on its way out; then the connection is closed.</summary>
    private void Closing()
    {
        Receive<WriteAck>(_ => OnWriteAck());
        Receive<Tcp.ConnectionClosed>(_ => Context.Stop(Self));
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_connection))
                Context.Stop(Self);
        });
        Receive<CloseTimedOut>(_ =>
        {
            _connection.Tell(Tcp.Abort.Instance);
            Context.Stop(Self);
        });
        ReceiveAny(_ => { });
    }

    /// <summary>What every state but closing does with the connection's events.</summary>
    private void ReceiveLines(Action<ControlMessage> onMessage)
    {
        // Several lines can come in one read, and a line can change the state (REGISTER does): the
        // lines after it belong to the new state, so the loop below asks for the current handler.
        _onMessage = onMessage;
        Receive<Tcp.Received>(received =>
        {
            _framer.Append(received.Data.ToArray());
            while (!_closing && !_left)
            {
                switch (_framer.TryTakeLine(out var line))
                {
                    case FramerStatus.TooLong:
                        Fail(ErrorCode.BadRequest, $"line longer than {ProtocolDefaults.MaxLineLength} bytes");
                        return;
                    case FramerStatus.NeedMore:
                        _connection.Tell(Tcp.ResumeReading.Instance);
                        return;
                }
                var parsed = ControlLine.Parse(line.Span);
                if (!parsed.IsOk)
                {
                    Fail(ErrorCode.BadRequest, parsed.Error!);
                    return;
                }
                HeardFromApp();
                switch (parsed.Value)
                {
                    case Ping:
                        Enqueue(Pong.Instance);
                        break;
                    case Pong:
                        break;
                    default:
                        _onMessage(parsed.Value!);
                        break;
                }
            }
        });
        Receive<WriteAck>(_ => OnWriteAck());
        Receive<Superseded>(_ => Close("the app registered again on a new connection"));
        Receive<Tcp.ConnectionClosed>(closed =>
        {
            Log.Debug("Control connection from {Remote} closed: {Event}", _remote, closed.GetType().Name);
            Context.Stop(Self);
        });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_connection))
                Context.Stop(Self);
            else if (t.ActorRef.Equals(_app))
                Close("the app's actor stopped");
        });
    }

    private void Unexpected(ControlMessage message, string expected) =>
        Fail(ErrorCode.BadRequest, $"unexpected {message.Format().Split(' ')[0]}: expected {expected}");

    private void HeardFromApp()
    {
        _missedHeartbeats = 0;
        if (_app is not null)
            StartHeartbeat();
    }

    private void StartHeartbeat() =>
        Timers.StartSingleTimer(HeartbeatDue.Instance, HeartbeatDue.Instance, _settings.HeartbeatInterval);

    private void Fail(ErrorCode code, string text)
    {
        // Apps retry every moment while the relay drains: the registry sums those refusals up in one
        // line, as it says how many registered apps it told to stop. A wrong secret is somebody's to fix.
        var level = code == ErrorCode.Shutdown ? LogLevel.DebugLevel : code == ErrorCode.AuthFailed ? LogLevel.WarningLevel : LogLevel.InfoLevel;
        if (_app is null)
            Log.Log(level, null, "Control connection from {Remote} refused: {Code} {Reason}", _remote, code, text);
        else
            Log.Log(level, null, "Control connection from {Remote} of a registered app ended: told ERROR {Code} {Reason}", _remote, code, text);
        // Refusals of a registered app (heartbeat timeout, shutdown) are not handshake failures.
        if (_app is null)
            RelayTelemetry.Get(Context.System).Metrics.HandshakeFailed(code.Value);
        Enqueue(new Protocol.Error(code, text));
        Close(null);
    }

    private void Close(string? why)
    {
        if (why is not null)
            Log.Info("Control connection from {Remote} closing: {Reason}", _remote, why);
        _closing = true;
        Timers.CancelAll();
        Timers.StartSingleTimer(CloseTimedOut.Instance, CloseTimedOut.Instance, _settings.CloseTimeout);
        // Close flushes the write in flight; lines still queued behind it go first.
        if (_queue.Count == 0)
            SendClose();
        Become(Closing);
    }

    private void Enqueue(ControlMessage message)
    {
        var bytes = ControlLine.ToBytes(message);
        if (!_writing)
        {
            _writing = true;
            _connection.Tell(Tcp.Write.Create(ByteString.FromBytes(bytes), WriteAck.Instance));
            return;
        }
        _queue.Add(bytes);
        _queuedBytes += bytes.Length;
        if (_queuedBytes > MaxQueuedBytes)
        {
            Log.Warning("Control connection from {Remote} aborted: the app does not read its control lines", _remote);
            _connection.Tell(Tcp.Abort.Instance);
            Context.Stop(Self);
        }
    }

    private void OnWriteAck()
    {
        _writing = false;
        if (_queue.Count > 0)
        {
            var bytes = _queue.SelectMany(b => b).ToArray();
            _queue.Clear();
            _queuedBytes = 0;
            _writing = true;
            _connection.Tell(Tcp.Write.Create(ByteString.FromBytes(bytes), WriteAck.Instance));
        }
        if (_closing && _queue.Count == 0)
            SendClose();
    }

    private void SendClose()
    {
        if (_closeSent)
            return;
        _closeSent = true;
        _connection.Tell(Tcp.Close.Instance);
    }
}
