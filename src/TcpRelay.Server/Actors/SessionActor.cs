using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// One client of one app. It holds the client connection from the moment it is accepted, waits
/// for the app to dial the data port (<see cref="Pending"/>), then copies bytes both ways
/// (<see cref="Relaying"/>). Each direction has at most <see cref="MaxWritesInFlight"/> writes in
/// flight: the next read from a side is requested only while the other side has room, so a session
/// buffers at most that many frames per direction whatever the peers do. Half-close and reset cross
/// over as protocol.md says.
/// </summary>
internal sealed class SessionActor : LifecycleLoggingUntypedActor, IWithTimers
{
    /// <summary>The app dialled in for this session; <paramref name="Leftover"/> are the bytes it sent after its ACCEPT line.</summary>
    public sealed record DataConnected(IActorRef Connection, ByteString Leftover);

    /// <summary>The app sent REJECT for this session.</summary>
    public sealed class Rejected
    {
        public static readonly Rejected Instance = new();
        private Rejected() { }
    }

    /// <summary>The app's control connection closed: a session still waiting is closed, a paired one goes on.</summary>
    public sealed class AppGone
    {
        public static readonly AppGone Instance = new();
        private AppGone() { }
    }

    /// <summary>The relay's drain deadline passed: reset both connections, so neither peer takes the end for a complete transfer.</summary>
    public sealed class Abort
    {
        public static readonly Abort Instance = new();
        private Abort() { }
    }

    /// <summary>Ask (tests): replies <see cref="Stats"/>.</summary>
    public sealed class GetStats
    {
        public static readonly GetStats Instance = new();
        private GetStats() { }
    }

    /// <summary>Bytes read from each side so far, and the bytes the relay holds for this session right now (read, not yet handed to the OS).</summary>
    public sealed record Stats(long ClientBytes, long AppBytes, long BufferedBytes);

    private sealed class PendingTimedOut
    {
        public static readonly PendingTimedOut Instance = new();
        private PendingTimedOut() { }
    }

    /// <summary>One of the two connections, and where its direction of the pipe stands.</summary>
    private sealed class Side(string name, IActorRef connection)
    {
        public readonly string Name = name;
        public IActorRef Connection = connection;
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

    private readonly SessionId _id;
    private readonly AppName _app;
    private readonly IPEndPoint _clientAddress;
    private readonly RelaySettings _settings;
    private readonly Side _client;
    private readonly Side _data = new("app", ActorRefs.Nobody);
    private readonly Stopwatch _age = Stopwatch.StartNew();
    private readonly RelayMetrics _metrics;
    private readonly SessionStatus _status;
    private ByteString? _early;
    private string _outcome = "open";
    private SessionEndCause _cause = SessionEndCause.Normal;

    public SessionActor(SessionId id, AppName app, IActorRef client, IPEndPoint clientAddress, RelaySettings settings, SessionStatus? status)
    {
        _id = id;
        _app = app;
        _clientAddress = clientAddress;
        _settings = settings;
        _client = new Side("client", client);
        _metrics = RelayTelemetry.Get(Context.System).Metrics;
        _status = status ?? new SessionStatus(null, id, clientAddress);
    }

    // States are methods switched with Become: an untyped actor builds no message matchers for
    // each new instance, and one is created per client.
    protected override void OnReceive(object message) => Pending(message);

    public ITimerScheduler Timers { get; set; } = null!;

    // status: the session's entry on the status board, put there (and counted as started) by its
    // app's actor before the app can hear of the session.
    public static Props CreateProps(SessionId id, AppName app, IActorRef client, IPEndPoint clientAddress, RelaySettings settings,
        SessionStatus? status = null) =>
        Props.Create<SessionActor>(id, app, client, clientAddress, settings, status);

    protected override void PreStart()
    {
        base.PreStart();
        _client.Connection.Tell(new Tcp.Register(Self, keepOpenOnPeerClosed: true, useResumeWriting: false));
        Context.Watch(_client.Connection);
        // One read while waiting: it lets a client's reset or FIN be seen, and holds at most one
        // frame of early bytes until the app is there to take them.
        RequestRead(_client);
        Timers.StartSingleTimer(PendingTimedOut.Instance, PendingTimedOut.Instance, _settings.PendingTimeout);
    }

    protected override void PostStop()
    {
        // Counted before it leaves the board: whoever sees it gone finds its cause counted.
        _metrics.SessionEnded(_cause);
        _status.End();
        Log.Info("Session {SessionId} of app {App} ended ({Outcome}): client {Client}, {ClientBytes} bytes from client, {AppBytes} bytes from app, {Duration}",
            new object[] { _id.Value, _app.Value, _outcome, _clientAddress, _client.BytesRead, _data.BytesRead, _age.Elapsed });
        base.PostStop();
    }

    /// <summary>The client is connected; the app has been sent CONNECT and has not dialled in yet.</summary>
    private void Pending(object message)
    {
        switch (message)
        {
            case Tcp.Received r:
                _client.Reading = false;
                _client.BytesRead += r.Data.Count;
                _status.AddFromClient(r.Data.Count);
                _early = r.Data;
                break;
            case Tcp.PeerClosed:
                _client.Reading = false;
                _client.FinReceived = true;
                break;
            case Tcp.ConnectionClosed closed:
                _outcome = $"client left before pairing: {Describe(closed)}";
                _cause = SessionEndCause.ClientLeft;
                Context.Stop(Self);
                break;
            case DataConnected connected:
                Pair(connected);
                break;
            case PendingTimedOut:
                CloseUnpaired($"no data connection within {Duration.Format(_settings.PendingTimeout)}", SessionEndCause.PendingTimeout);
                break;
            case Rejected:
                CloseUnpaired("rejected by the app", SessionEndCause.Rejected);
                break;
            case AppGone:
                CloseUnpaired("app left before pairing", SessionEndCause.AppLeft);
                break;
            case Abort:
                CloseUnpaired("the relay is stopping", SessionEndCause.Shutdown);
                break;
            case Terminated:
                _cause = SessionEndCause.ClientLeft;
                Context.Stop(Self);
                break;
            case GetStats:
                ReplyStats();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void ReplyStats() =>
        Sender.Tell(new Stats(_client.BytesRead, _data.BytesRead, (_early?.Count ?? 0) + _client.Unacked + _data.Unacked));

    private void CloseUnpaired(string why, SessionEndCause cause)
    {
        _outcome = why;
        _cause = cause;
        Log.Debug("Session {SessionId} closing its client: {Reason}", _id, why);
        _client.Connection.Tell(Tcp.Close.Instance);
        Timers.StartSingleTimer(CloseTimedOut.Instance, CloseTimedOut.Instance, _settings.CloseTimeout);
        Become(ClosingUnpaired);
    }

    /// <summary>Waiting for the client connection to confirm it closed; nothing is paired any more.</summary>
    private void ClosingUnpaired(object message)
    {
        switch (message)
        {
            case Tcp.ConnectionClosed or Terminated:
                Context.Stop(Self);
                break;
            case GetStats:
                ReplyStats();
                break;
            case CloseTimedOut or Abort:
                _client.Connection.Tell(Tcp.Abort.Instance);
                Context.Stop(Self);
                break;
            // Anything else, a data connection racing with the close included, is dropped: that
            // connection is closed by its own actor once this one stops.
        }
    }

    private void Pair(DataConnected connected)
    {
        Timers.Cancel(PendingTimedOut.Instance);
        _data.Connection = connected.Connection;
        Context.Watch(_data.Connection);
        _outcome = "paired";
        _status.MarkPaired();
        _metrics.SessionPaired(_age.Elapsed);
        Context.Parent.Tell(new AppActor.SessionPaired(_id));
        Log.Debug("Session {SessionId} paired: client {Client}", _id, _clientAddress);
        Become(Relaying);

        _data.BytesRead += connected.Leftover.Count;
        _status.AddFromApp(connected.Leftover.Count);
        if (!connected.Leftover.IsEmpty)
            Write(_client, connected.Leftover);
        if (_early is { } early)
        {
            _early = null;
            Write(_data, early);
        }
        if (_client.FinReceived)
            SendFinTo(_data);
        RequestRead(_data);
        RequestRead(_client);
    }

    /// <summary>Both connections are live and paired: bytes flow both ways.</summary>
    private void Relaying(object message)
    {
        switch (message)
        {
            case Tcp.Received r when SideOf(Sender) is { } from:
                from.Reading = false;
                from.BytesRead += r.Data.Count;
                if (ReferenceEquals(from, _client))
                    _status.AddFromClient(r.Data.Count);
                else
                    _status.AddFromApp(r.Data.Count);
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
                    Log.Debug("Session {SessionId}: {Side} connection dropped a queued write; aborting both", _id, SideOf(Sender)?.Name ?? "?");
                else
                    Log.Warning("Session {SessionId}: {Side} connection refused {Command}; aborting both", _id, SideOf(Sender)?.Name ?? "?", failed.Cmd.GetType().Name);
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
            case Abort:
                _cause = SessionEndCause.Shutdown;
                AbortBecause(_client, "aborted: the relay's drain deadline passed");
                AbortBecause(_data, "aborted: the relay's drain deadline passed");
                break;
            case GetStats:
                ReplyStats();
                break;
            // Events of a connection that is not (or no longer) ours, and news that no longer matters once paired.
            case Tcp.Event or Rejected or AppGone or DataConnected:
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
        if (_outcome is "paired" or "open")
            _outcome = why;
        if (_cause == SessionEndCause.Normal)
            _cause = SessionEndCause.Reset;
        if (side.Closed)
            return;
        side.FinSent = true;
        side.Connection.Tell(Tcp.Abort.Instance);
        Timers.StartSingleTimer(CloseTimedOut.Instance, CloseTimedOut.Instance, _settings.CloseTimeout);
    }

    private void StopWhenDone()
    {
        if (_client.Closed && _data.Closed)
            Context.Stop(Self);
    }

    private Side? SideOf(IActorRef sender) =>
        sender.Equals(_client.Connection) ? _client : sender.Equals(_data.Connection) ? _data : null;

    private Side Other(Side side) => ReferenceEquals(side, _client) ? _data : _client;

    private static string Describe(Tcp.ConnectionClosed closed) =>
        closed is Tcp.ErrorClosed error ? $"error ({error.Cause})" : closed.GetType().Name;
}
