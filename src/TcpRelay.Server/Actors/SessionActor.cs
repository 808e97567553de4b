using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// One connection on the data port, and the session it carries. It reads the ACCEPT line, takes the
/// client that line names out of <see cref="WaitingClients"/>, registers for that client's
/// connection (which has waited unregistered since it was accepted) and then copies bytes both ways
/// (<see cref="Relaying"/>). Both connections report to this actor, so each chunk is one Received
/// and one Write, in either direction.
/// Each direction has at most <see cref="MaxWritesInFlight"/> writes in flight: the next read from
/// a side is requested only while the other side has room, so a session buffers at most that many
/// frames per direction whatever the peers do. Half-close and reset cross over as protocol.md says.
/// </summary>
internal sealed class SessionActor : LifecycleLoggingUntypedActor, IWithTimers
{
    /// <summary>The relay stops before the session ended (<paramref name="Why"/>): reset both connections, so neither peer takes the end for a complete transfer.</summary>
    public sealed record Abort(string Why);

    /// <summary>
    /// The relay is draining: end the session with a close both ways once it has moved no byte for
    /// <paramref name="After"/> and holds none unwritten, rather than let an idle session (ssh, a
    /// subscription, a pool) hold the drain up to its deadline and be reset there.
    /// </summary>
    public sealed record CloseWhenIdle(TimeSpan After);

    private sealed class IdleCheck
    {
        public static readonly IdleCheck Instance = new();
        private IdleCheck() { }
    }

    /// <summary>Ask (tests): replies <see cref="Stats"/>.</summary>
    public sealed class GetStats
    {
        public static readonly GetStats Instance = new();
        private GetStats() { }
    }

    /// <summary>Bytes read from each side so far, and the bytes the relay holds for this session right now (read, not yet handed to the OS).</summary>
    public sealed record Stats(long ClientBytes, long AppBytes, long BufferedBytes);

    /// <summary>One of the two connections, and where its direction of the pipe stands.</summary>
    private sealed class Side(string name, IActorRef connection)
    {
        public readonly string Name = name;
        public readonly IActorRef Connection = connection;
        public bool FinReceived;  // the peer shut down its sending direction
        public bool FinSent;      // we shut down sending towards the peer
        public bool FinPending;   // shut down once the writes in flight are acked
        public bool Closed;       // the connection reported its final closed event
        public bool Reading;      // a ResumeReading to this side is outstanding
        public long BytesRead;
        public int Unacked;       // bytes of the writes to this side in flight
        public readonly Queue<int> InFlight = new(MaxWritesInFlight); // their sizes; acks come in order
    }

    // Two, not one: the next frame is read while the last one is still being written, so neither
    // socket waits on the ack round trip; the bound on what a session holds stays fixed.
    private const int MaxWritesInFlight = 2;

    private readonly IPEndPoint _remote;
    private readonly RelaySettings _settings;
    private readonly Side _data;
    private readonly RelayMetrics _metrics;
    private LineFramer? _framer = new();
    // Set once paired: the client and the session it belongs to.
    private Side _client = null!;
    private long _lastRead = Environment.TickCount64;
    private TimeSpan? _closeIdleAfter;
    private WaitingClient? _session;
    private string _outcome = "paired";
    private SessionEndCause _cause = SessionEndCause.Normal;

    public SessionActor(IActorRef connection, IPEndPoint remote, RelaySettings settings)
    {
        _data = new Side("app", connection);
        _remote = remote;
        _settings = settings;
        _metrics = RelayTelemetry.Get(Context.System).Metrics;
    }

    public ITimerScheduler Timers { get; set; } = null!;

    // Props.Create<T>(args), not an expression: one of these is created per session.
    public static Props CreateProps(IActorRef connection, IPEndPoint remote, RelaySettings settings) =>
        Props.Create<SessionActor>(connection, remote, settings);

    // States are methods switched with Become: an untyped actor builds no message matchers for
    // each new instance, and one is created per data connection.
    protected override void OnReceive(object message) => AwaitingAccept(message);

    protected override void PreStart()
    {
        base.PreStart();
        _data.Connection.Tell(new Tcp.Register(Self, keepOpenOnPeerClosed: true, useResumeWriting: false));
        Context.Watch(_data.Connection);
        _data.Connection.Tell(Tcp.ResumeReading.Instance);
        Timers.StartSingleTimer(HandshakeTimedOut.Instance, HandshakeTimedOut.Instance, _settings.HandshakeTimeout);
    }

    protected override void PostStop()
    {
        if (_session is { } session)
        {
            // Counted before it leaves the board: whoever sees it gone finds its cause counted.
            _metrics.SessionEnded(_cause);
            session.Status.End();
            session.Port.Tell(new PublicPortActor.SessionEnded(session.Id));
            Log.Info("Session {SessionId} of app {App} ended ({Outcome}): client {Client}, {ClientBytes} bytes from client, {AppBytes} bytes from app, {Duration}",
                new object[] { session.Id.Value, session.App.Value, _outcome, session.Address, _client.BytesRead, _data.BytesRead, ElapsedTime.Format(session.Status.Age) });
        }
        base.PostStop();
    }

    /// <summary>Reading the ACCEPT line; nothing else is read before it names a waiting client.</summary>
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
            case Tcp.ConnectionClosed or Terminated:
                Context.Stop(Self);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void ReadAcceptLine(Tcp.Received received)
    {
        var framer = _framer!;
        framer.Append(received.Data.ToArray());
        switch (framer.TryTakeLine(out var line))
        {
            case FramerStatus.NeedMore:
                _data.Connection.Tell(Tcp.ResumeReading.Instance);
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
        // An id pairs once: taking it out of the table makes a second ACCEPT for it an unknown id.
        if (!WaitingClients.Get(Context.System).TryTake(accept.Value!.Id, out var waiting))
        {
            Refuse("unknown-session", "no session waits with that id");
            return;
        }
        // Bytes after the ACCEPT line (an app's banner) go to the client first: nothing is lost at the seam.
        var banner = framer.TakeRemainder();
        _framer = null;
        Pair(waiting, banner);
    }

    private void Pair(WaitingClient waiting, byte[] banner)
    {
        Timers.Cancel(HandshakeTimedOut.Instance);
        _session = waiting;
        _client = new Side("client", waiting.Connection);
        _client.Connection.Tell(new Tcp.Register(Self, keepOpenOnPeerClosed: true, useResumeWriting: false));
        Context.Watch(_client.Connection);
        waiting.Status.MarkPaired();
        _metrics.SessionPaired(waiting.Status.Age);
        waiting.Port.Tell(new PublicPortActor.SessionPaired(waiting.Id));
        Log.Debug("Session {SessionId} paired: client {Client}, app from {Remote}", waiting.Id, waiting.Address, _remote);
        Become(Relaying);

        if (banner.Length > 0)
        {
            _data.BytesRead += banner.Length;
            waiting.Status.AddFromApp(banner.Length);
            Write(_client, ByteString.FromBytes(banner));
        }
        RequestRead(_data);
        RequestRead(_client);
    }

    /// <summary>Both connections are live and paired: bytes flow both ways.</summary>
    private void Relaying(object message)
    {
        switch (message)
        {
            case Tcp.Received r when SideOf(Sender) is { } from:
                _lastRead = Environment.TickCount64;
                from.Reading = false;
                from.BytesRead += r.Data.Count;
                if (ReferenceEquals(from, _client))
                    _session!.Status.AddFromClient(r.Data.Count);
                else
                    _session!.Status.AddFromApp(r.Data.Count);
                Write(Other(from), r.Data);
                RequestRead(from);
                break;
            case WriteAck when SideOf(Sender) is { } to:
                if (to.InFlight.TryDequeue(out var acked))
                    to.Unacked -= acked;
                if (to.FinPending)
                    SendFinTo(to);
                RequestRead(Other(to));
                break;
            case Tcp.PeerClosed when SideOf(Sender) is { } side:
                side.Reading = false;
                side.FinReceived = true;
                SendFinTo(Other(side));
                StopWhenDone();
                break;
            // After our FIN to a side, its own FIN arrives as ConfirmedClosed, not PeerClosed.
            case Tcp.ConfirmedClosed when SideOf(Sender) is { } side:
                side.Reading = false;
                side.FinReceived = true;
                side.Closed = true;
                SendFinTo(Other(side));
                StopWhenDone();
                break;
            case Tcp.ConnectionClosed closed when SideOf(Sender) is { } side:
                side.Closed = true;
                if (closed is Tcp.ErrorClosed)
                    AbortBecause(Other(side), $"{side.Name} reset: {Describe(closed)}");
                StopWhenDone();
                break;
            case Tcp.CommandFailed failed:
                // A write queued behind another when its connection fails is handed back: the
                // connection's own close event is on its way, so that is routine. Anything else is not.
                if (failed.Cmd is Tcp.Write)
                    Log.Debug("Session {SessionId}: {Side} connection dropped a queued write; aborting both", _session!.Id, SideOf(Sender)?.Name ?? "?");
                else
                    Log.Warning("Session {SessionId}: {Side} connection refused {Command}; aborting both", _session!.Id, SideOf(Sender)?.Name ?? "?", failed.Cmd.GetType().Name);
                AbortBecause(_client, "command failed");
                AbortBecause(_data, "command failed");
                break;
            case Terminated t:
                var stopped = t.ActorRef.Equals(_client.Connection) ? _client : t.ActorRef.Equals(_data.Connection) ? _data : null;
                if (stopped is null || stopped.Closed)
                    break;
                stopped.Closed = true;
                AbortBecause(Other(stopped), $"{stopped.Name} connection stopped");
                StopWhenDone();
                break;
            case CloseTimedOut:
                _outcome += ", close timed out";
                foreach (var side in new[] { _client, _data })
                    if (!side.Closed)
                        side.Connection.Tell(Tcp.Abort.Instance);
                Context.Stop(Self);
                break;
            case Abort abort:
                _cause = SessionEndCause.Shutdown;
                AbortBecause(_client, $"aborted: {abort.Why}");
                AbortBecause(_data, $"aborted: {abort.Why}");
                break;
            case CloseWhenIdle idle:
                _closeIdleAfter = idle.After;
                CloseIfIdle();
                break;
            case IdleCheck:
                CloseIfIdle();
                break;
            case GetStats:
                Sender.Tell(new Stats(_client.BytesRead, _data.BytesRead, _client.Unacked + _data.Unacked));
                break;
            // Events of a connection that is not (or no longer) ours.
            case Tcp.Event:
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Write(Side to, ByteString data)
    {
        to.InFlight.Enqueue(data.Count);
        to.Unacked += data.Count;
        to.Connection.Tell(Tcp.Write.Create(data, WriteAck.Instance));
    }

    /// <summary>Reads one more frame from a side, if the side opposite it can take it now.</summary>
    private void RequestRead(Side from)
    {
        var to = Other(from);
        if (from.Reading || from.FinReceived || from.Closed || to.InFlight.Count >= MaxWritesInFlight || to.Closed)
            return;
        from.Reading = true;
        from.Connection.Tell(Tcp.ResumeReading.Instance);
    }

    /// <summary>Passes a half-close on: the peer of <paramref name="to"/> sees EOF once what was written before it arrived.</summary>
    private void SendFinTo(Side to)
    {
        if (to.Closed || to.FinSent)
            return;
        if (to.InFlight.Count > 0)
        {
            to.FinPending = true;
            return;
        }
        to.FinPending = false;
        to.FinSent = true;
        // A side that already sent its own FIN has nothing left to say: close it outright.
        // Otherwise half-close it and keep reading until its FIN comes back as ConfirmedClosed.
        to.Connection.Tell(to.FinReceived ? Tcp.Close.Instance : Tcp.ConfirmedClose.Instance);
        if (_client.FinSent && _data.FinSent)
        {
            _outcome = "closed";
            Timers.StartSingleTimer(CloseTimedOut.Instance, CloseTimedOut.Instance, _settings.CloseTimeout);
        }
    }

    private void AbortBecause(Side side, string why)
    {
        if (_outcome is "paired")
            _outcome = why;
        if (_cause == SessionEndCause.Normal)
            _cause = SessionEndCause.Reset;
        if (side.Closed)
            return;
        side.FinSent = true;
        side.Connection.Tell(Tcp.Abort.Instance);
        Timers.StartSingleTimer(CloseTimedOut.Instance, CloseTimedOut.Instance, _settings.CloseTimeout);
    }

    private void CloseIfIdle()
    {
        if (_closeIdleAfter is not { } after || _client.FinSent || _data.FinSent)
            return;
        var idleFor = TimeSpan.FromMilliseconds(Environment.TickCount64 - _lastRead);
        if (idleFor < after || _client.InFlight.Count > 0 || _data.InFlight.Count > 0)
        {
            Timers.StartSingleTimer(IdleCheck.Instance, IdleCheck.Instance, idleFor < after ? after - idleFor : after);
            return;
        }
        _outcome = $"closed by the drain, idle for {Duration.Format(idleFor)}";
        _cause = SessionEndCause.Shutdown;
        foreach (var side in new[] { _client, _data })
        {
            side.FinSent = true;
            if (!side.Closed)
                side.Connection.Tell(Tcp.Close.Instance);
        }
        Timers.StartSingleTimer(CloseTimedOut.Instance, CloseTimedOut.Instance, _settings.CloseTimeout);
    }

    private void StopWhenDone()
    {
        if (_client.Closed && _data.Closed)
            Context.Stop(Self);
    }

    // reason: the tag of tcprelay.handshake.failures; why: the log's words.
    private void Refuse(string reason, string why)
    {
        _metrics.HandshakeFailed(reason);
        Log.Info("Data connection from {Remote} refused: {Reason}", _remote, why);
        Timers.CancelAll();
        _data.Connection.Tell(Tcp.Close.Instance);
        Become(Refused);
    }

    /// <summary>Waiting for a refused data connection to confirm it closed.</summary>
    private void Refused(object message)
    {
        if (message is Tcp.ConnectionClosed or Terminated)
            Context.Stop(Self);
    }

    private Side? SideOf(IActorRef sender) =>
        sender.Equals(_client.Connection) ? _client : sender.Equals(_data.Connection) ? _data : null;

    private Side Other(Side side) => ReferenceEquals(side, _client) ? _data : _client;

    private static string Describe(Tcp.ConnectionClosed closed) =>
        closed is Tcp.ErrorClosed error ? $"error ({error.Cause})" : closed.GetType().Name;
}
