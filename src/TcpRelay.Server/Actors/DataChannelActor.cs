using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// One connection on the data port. It reads the ACCEPT line, asks the registry for the session it
/// names, and from then on forwards the connection's events to that session. A connection's handler
/// is fixed by its first Register, so this actor stays in the path; Forward keeps the connection as
/// the sender, and the session writes to the connection directly, so only the app-to-client
/// direction pays this hop.
/// </summary>
internal sealed class DataChannelActor : LifecycleLoggingUntypedActor, IWithTimers
{
    /// <summary>From the registry: the session this connection now belongs to.</summary>
    public sealed record Claimed(IActorRef Session);

    /// <summary>From the registry: no session waits with that id.</summary>
    public sealed class UnknownSession
    {
        public static readonly UnknownSession Instance = new();
        private UnknownSession() { }
    }

    private readonly IActorRef _connection;
    private readonly IPEndPoint _remote;
    private readonly RelaySettings _settings;
    private readonly IActorRef _registry;
    private readonly LineFramer _framer = new();
    private IActorRef _session = ActorRefs.Nobody;
    private ByteString _leftover = ByteString.Empty;
    // A close reported while the registry looks the session up; handed to the session after pairing.
    private Tcp.ConnectionClosed? _closedWhileClaiming;
    private bool _connectionStopped;

    public DataChannelActor(IActorRef connection, IPEndPoint remote, RelaySettings settings, IActorRef registry)
    {
        _connection = connection;
        _remote = remote;
        _settings = settings;
        _registry = registry;
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props CreateProps(IActorRef connection, IPEndPoint remote, RelaySettings settings, IActorRef registry) =>
        Props.Create<DataChannelActor>(connection, remote, settings, registry);

    protected override void PreStart()
    {
        base.PreStart();
        _connection.Tell(new Tcp.Register(Self, keepOpenOnPeerClosed: true, useResumeWriting: false));
        Context.Watch(_connection);
        _connection.Tell(Tcp.ResumeReading.Instance);
        Timers.StartSingleTimer(HandshakeTimedOut.Instance, HandshakeTimedOut.Instance, _settings.HandshakeTimeout);
    }

    protected override void OnReceive(object message) => AwaitingAccept(message);

    /// <summary>Reading the ACCEPT line; nothing else is read until a session takes the connection.</summary>
    private void AwaitingAccept(object message)
    {
        switch (message)
        {
            case Tcp.Received received:
                ReadAcceptLine(received);
                break;
            case HandshakeTimedOut:
                Refuse("timeout", $"no ACCEPT line within {Duration.Format(_settings.HandshakeTimeout)}");
                break;
            default:
                Closed(message);
                break;
        }
    }

    private void ReadAcceptLine(Tcp.Received received)
    {
        _framer.Append(received.Data.ToArray());
        switch (_framer.TryTakeLine(out var line))
        {
            case FramerStatus.NeedMore:
                _connection.Tell(Tcp.ResumeReading.Instance);
                return;
            case FramerStatus.TooLong:
                Refuse("bad-request", $"first line longer than {ProtocolDefaults.MaxLineLength} bytes");
                return;
        }
        var accept = AcceptLine.Parse(line.Span);
        if (!accept.IsOk)
        {
            Refuse("bad-request", accept.Error!);
            return;
        }
        Context.Parent.Tell(new RelayActor.HandshakeDone(Self));
        // The handshake is done: the registry (local) answers at once, and takes the session out of
        // its table when it answers, so a timeout between ask and answer would lose both ends.
        Timers.Cancel(HandshakeTimedOut.Instance);
        // Bytes after the ACCEPT line (an app's banner) go to the session with the connection: nothing is lost at the seam.
        _leftover = ByteString.FromBytes(_framer.TakeRemainder());
        _registry.Tell(new RegistryActor.ClaimSession(accept.Value!.Id));
        Become(Claiming);
    }

    private void Claiming(object message)
    {
        switch (message)
        {
            case Claimed claimed:
                _session = claimed.Session;
                // A session that ended in the meantime is reported at once, and this connection closed.
                Context.Watch(_session);
                Become(Forwarding);
                // Only now may the session ask the connection for a read: its data must find us forwarding.
                _session.Tell(new SessionActor.DataConnected(_connection, _leftover));
                if (_closedWhileClaiming is { } earlier)
                    _session.Tell(earlier, _connection);
                break;
            // The registry has already given this connection the session: the session must hear of the close.
            case Tcp.ConnectionClosed closed:
                _closedWhileClaiming = closed;
                break;
            // Likewise its stop: the session watches the connection once paired and learns of it then.
            case Terminated t when t.ActorRef.Equals(_connection):
                _connectionStopped = true;
                break;
            case UnknownSession:
                Refuse("unknown-session", "no session waits with that id");
                break;
            default:
                Closed(message);
                break;
        }
    }

    /// <summary>Paired: every event of the connection goes to the session, with the connection as sender.</summary>
    private void Forwarding(object message)
    {
        switch (message)
        {
            // Not even a closed event ends this actor: PeerClosed is one, yet the connection lives on
            // half-closed, and a connection whose handler stops is torn down. Its Terminated ends us.
            case Tcp.Event e:
                _session.Forward(e);
                break;
            case Terminated t:
                if (t.ActorRef.Equals(_session))
                    _connection.Tell(Tcp.Abort.Instance);
                Context.Stop(Self);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    // reason: the tag of tcprelay.handshake.failures; why: the log's words.
    private void Refuse(string reason, string why)
    {
        RelayTelemetry.Get(Context.System).Metrics.HandshakeFailed(reason);
        Log.Info("Data connection from {Remote} refused: {Reason}", _remote, why);
        Timers.CancelAll();
        _connection.Tell(Tcp.Close.Instance);
        if (_connectionStopped)
            Context.Stop(Self);
        else
            Become(Closed);
    }

    private void Closed(object message)
    {
        if (message is Tcp.ConnectionClosed or Terminated)
            Context.Stop(Self);
        else
            Unhandled(message);
    }
}
