using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using TcpRelay.Protocol;
using TcpRelay.Server.Cluster;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// One registered app: it binds the app's public port, puts each client up in
/// <see cref="WaitingClients"/> for the data connection that will claim it (a <see cref="SessionActor"/>)
/// and announces it with CONNECT. When the app's control connection ends, an app that gave
/// a resume token is held through the grace period (<see cref="Detached"/>): its name and port stay
/// its own and clients wait for it to come back. Otherwise, or once the grace period is over, it
/// stops taking clients, closes the sessions still waiting, and keeps the port bound until its last
/// paired session has ended, because unbinding a listener resets every connection it accepted.
/// </summary>
internal sealed class AppActor : LifecycleLoggingActor, IWithTimers, IWithStash
{
    /// <summary>
    /// What the registry decided an app gets: its name, the port to bind, and its control channel
    /// (<see cref="ActorRefs.Nobody"/> for a registration restored from the state file, whose owner
    /// is not back yet). <paramref name="ResumeSha256"/>: the hash of the app's resume token, or null
    /// if it gave none and is not held for a return. In a cluster, <paramref name="Redirect"/> says
    /// the app honours CONNECT data=, and <paramref name="DataAddress"/> is where apps reach this
    /// node's data port. A <paramref name="Mirror"/> binds the port of an app whose control
    /// connection is on another node (<paramref name="Owner"/>, that node's actor for it, or null
    /// while the app is away) and hands it the clients that arrive here.
    /// </summary>
    public sealed record Spec(AppName Name, int Port, bool PortRequested, IActorRef Channel, IPEndPoint? Remote, int DataPort, string? ResumeSha256,
        bool Redirect = false, HostPort? DataAddress = null, bool Mirror = false, IActorRef? Owner = null);

    /// <summary>
    /// Mirror → owner (across nodes): a client arrived at the mirror's node; <paramref name="Connect"/> is
    /// the CONNECT to send, with data= naming that node. Replies go to <paramref name="Mirror"/>.
    /// </summary>
    public sealed record RemoteClient(Connect Connect, IActorRef Mirror) : IClusterMessage;

    /// <summary>Owner → mirror: the app sent REJECT for this session.</summary>
    public sealed record RemoteReject(SessionId Id) : IClusterMessage;

    /// <summary>Mirror → owner: this session was paired or ended, so it is not announced again.</summary>
    public sealed record RemoteSettled(SessionId Id) : IClusterMessage;

    /// <summary>From the registry: the cluster's table names this actor of another node as the app's owner (null: the app is away).</summary>
    public sealed record OwnerIs(IActorRef? Owner, bool Redirect);

    /// <summary>From the registry: the app registered on this node, whose actor so far mirrored it; it becomes the owner.</summary>
    public sealed record TakeOver(IActorRef Channel, IPEndPoint Remote, bool Redirect);

    /// <summary>From the registry: the app is no longer in the cluster's table.</summary>
    public sealed class Gone
    {
        public static readonly Gone Instance = new();
        private Gone() { }
    }

    /// <summary>The app sent REJECT for a session.</summary>
    public sealed record RejectSession(SessionId Id);

    /// <summary>From the registry after a failed bind: try this port instead.</summary>
    public sealed record BindPort(int Port);

    /// <summary>From the registry: the app registered again with its resume token, on this control channel.</summary>
    public sealed record Resume(IActorRef Channel, IPEndPoint Remote);

    /// <summary>From a session: it is paired, so a returning app must not be told about it again.</summary>
    public sealed record SessionPaired(SessionId Id);

    /// <summary>From a paired session: it ended, and no longer holds the port.</summary>
    public sealed record SessionEnded(SessionId Id);

    /// <summary>A waiting client's time for its app to dial in is up.</summary>
    private sealed record PendingTimedOut(SessionId Id);

    /// <summary>The connection of a waiting client this actor closed has stopped.</summary>
    private sealed record WaitingClientClosed(SessionId Id);

    /// <summary>The app said LEAVE: it is not coming back, so nothing is held for it.</summary>
    public sealed class Leave
    {
        public static readonly Leave Instance = new();
        private Leave() { }
    }

    /// <summary>
    /// To the control channel that sent <see cref="Leave"/>: the name is free, and so is the port unless
    /// paired sessions still hold it. The channel closes only then, so an app that registers again the
    /// moment it sees the close finds both free.
    /// </summary>
    public sealed class Left
    {
        public static readonly Left Instance = new();
        private Left() { }
    }

    /// <summary>From the registry: the relay is stopping. The app is told ERROR shutdown; paired sessions may finish.</summary>
    public sealed class Drain
    {
        public static readonly Drain Instance = new();
        private Drain() { }
    }

    /// <summary>From the registry: the relay drains; each paired session is closed once it is idle.</summary>
    public sealed record CloseIdleSessions(TimeSpan After);

    /// <summary>From the registry: the drain deadline passed; every session is reset.</summary>
    public sealed class AbortSessions
    {
        public static readonly AbortSessions Instance = new();
        private AbortSessions() { }
    }

    private sealed class RetryBind
    {
        public static readonly RetryBind Instance = new();
        private RetryBind() { }
    }

    private static readonly TimeSpan MirrorBindRetry = TimeSpan.FromSeconds(2);

    private sealed class GraceExpired
    {
        public static readonly GraceExpired Instance = new();
        private GraceExpired() { }
    }

    private readonly Spec _spec;
    private readonly RelaySettings _settings;
    private readonly RelayTelemetry _telemetry;
    // On the status board from REGISTERED until the actor stops.
    private AppStatus? _status;
    private IPEndPoint? _controlRemote;
    private readonly WaitingClients _waiting;
    // Clients no data connection has claimed yet: a returning app is told about them again.
    private readonly Dictionary<SessionId, Connect> _unpaired = [];
    // Sessions a data connection claimed, by id: the drain's deadline resets them.
    private readonly Dictionary<SessionId, IActorRef> _paired = [];
    private IActorRef _channel;
    // In a cluster: sessions of other nodes announced through this app, by id, with the mirror to answer.
    private readonly Dictionary<SessionId, (Connect Connect, IActorRef Mirror)> _remote = [];
    private IActorRef? _owner;
    // Mirrors that announced sessions through this owner, watched so that a lost node's sessions are not announced again.
    private readonly HashSet<IActorRef> _mirrors = [];
    private bool _redirect;
    private int _port;
    private IActorRef _listener = ActorRefs.Nobody;
    // Every client accepted and not yet ended: waiting, being closed, or paired. The port is released only at 0.
    private int _sessions;
    // Waiting clients this actor closed, whose connections have not stopped yet.
    private int _closingClients;
    private int _refused;
    private bool _departed;
    private bool _mirroring;
    private IActorRef _leaving = ActorRefs.Nobody;

    public AppActor(Spec spec, RelaySettings settings)
    {
        _spec = spec;
        _settings = settings;
        _telemetry = RelayTelemetry.Get(Context.System);
        _waiting = WaitingClients.Get(Context.System);
        _controlRemote = spec.Remote;
        _channel = spec.Channel;
        _port = spec.Port;
        _owner = spec.Owner;
        _redirect = spec.Redirect;
        Binding();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    protected override LogLevel LifecycleLevel => LogLevel.InfoLevel;

    public static Props CreateProps(Spec spec, RelaySettings settings) => Props.Create<AppActor>(spec, settings);

    protected override void PreStart()
    {
        base.PreStart();
        if (!_channel.IsNobody())
            Context.Watch(_channel);
        Bind();
    }

    private void Bind() =>
        Context.System.Tcp().Tell(new Tcp.Bind(Self, new IPEndPoint(_settings.Bind, _port), _settings.Backlog,
            [new TcpKeepAlive(_settings.KeepAliveIdle)], pullMode: true));

    /// <summary>Binding the public port; REGISTERED waits for it so clients can connect as soon as the app reads it.</summary>
    private void Binding()
    {
        Receive<Tcp.Bound>(bound =>
        {
            _listener = Sender;
            _port = ((IPEndPoint)bound.LocalAddress).Port;
            if (_departed)
            {
                Unbind();
                return;
            }
            Log.Info("App {App} listening on {Endpoint}", _spec.Name, bound.LocalAddress);
            _status = _telemetry.Status.AppRegistered(_spec.Name, _port, _controlRemote);
            if (_spec.Mirror)
            {
                BecomeMirror();
                return;
            }
            if (_channel.Equals(ActorRefs.Nobody))
            {
                // Restored from the state file, and its owner is not back yet.
                Log.Info("App {App} restored from the state file: name and port {Port} held for {Grace}", _spec.Name, _port, Duration.Format(_settings.GracePeriod));
                Detach();
                Stash.UnstashAll();
                return;
            }
            AnswerRegistered();
            Become(Serving);
            Stash.UnstashAll();
        });
        Receive<Tcp.CommandFailed>(failed =>
        {
            if (_departed)
            {
                Context.Stop(Self);
                return;
            }
            if (_spec.Mirror)
            {
                // Clients cannot reach the app through this node until the port is free here; every other node still serves it.
                Log.Warning("App {App}: public port {Port} cannot be bound on this node (tried again every {Retry}): {Cause}",
                    _spec.Name, _port, Duration.Format(MirrorBindRetry), failed.Cause.HasValue ? failed.Cause.Value.Message : "refused");
                Timers.StartSingleTimer(RetryBind.Instance, RetryBind.Instance, MirrorBindRetry);
                BecomeMirror();
                return;
            }
            Log.Info("App {App}: public port {Port} cannot be bound, trying another: {Cause}", _spec.Name, _port,
                failed.Cause.HasValue ? failed.Cause.Value.Message : "refused");
            Context.Parent.Tell(new RegistryActor.PortUnavailable(_port, _spec.PortRequested));
        });
        Receive<BindPort>(bind =>
        {
            _port = bind.Port;
            Bind();
        });
        // A mirror learns of its owner, and may be told to become the owner, while it binds.
        Receive<OwnerIs>(owner =>
        {
            _owner = owner.Owner;
            _redirect = owner.Redirect;
        });
        Receive<TakeOver>(_ => Stash.Stash());
        Receive<Gone>(_ => Stash.Stash());
        // Other nodes may learn of an owner (from this node's report) before it is bound.
        Receive<RemoteClient>(_ => Stash.Stash());
        Receive<RemoteSettled>(_ => Stash.Stash());
        // Nothing has been answered yet: the new channel simply takes the old one's place.
        Receive<Resume>(resume =>
        {
            Adopt(resume);
            _departed = false;
        });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_channel))
                _departed = true;
        });
        Receive<Drain>(_ =>
        {
            TellShutdown();
            _departed = true;
        });
    }

    private void TellShutdown()
    {
        Context.Unwatch(_channel);
        _channel.Tell(new ControlChannelActor.Refused(ErrorCode.Shutdown, "the relay is stopping"));
    }

    /// <summary>The public port is bound and clients are announced to the app.</summary>
    private void Serving()
    {
        ReceiveClients();
        ReceiveAsOwner();
        Receive<RejectSession>(reject =>
        {
            if (_remote.Remove(reject.Id, out var remote))
            {
                remote.Mirror.Tell(new RemoteReject(reject.Id));
                return;
            }
            if (!CloseWaiting(reject.Id, "rejected by the app", SessionEndCause.Rejected))
                Log.Debug("App {App} rejected session {SessionId}, which is no longer waiting", _spec.Name, reject.Id);
        });
        Receive<Leave>(_ =>
        {
            if (!Sender.Equals(_channel))
                return;
            Context.Unwatch(_channel);
            _leaving = _channel;
            Depart("left");
            // Paired sessions keep the port for as long as they run: the app hears now that its name
            // is free. Clients still waiting are being closed, and the port is freed right after
            // them: then the app hears once it is (on Unbound), so that it may register it again.
            if (_sessions > _closingClients)
                ConfirmLeft();
        });
        Receive<Drain>(_ =>
        {
            TellShutdown();
            Depart("was told the relay is stopping");
        });
        // The app came back before the relay noticed its old connection die (a half-open connection).
        Receive<Resume>(resume =>
        {
            Adopt(resume);
            AnswerRegistered();
            AnnounceWaiting();
        });
        Receive<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(_channel))
            {
                MirrorLost(t.ActorRef);
                return;
            }
            if (_spec.ResumeSha256 is not null && _settings.GracePeriod > TimeSpan.Zero)
            {
                Log.Info("App {App} lost its control connection: name and port {Port} held for {Grace}, {Sessions} sessions open",
                    _spec.Name, _port, Duration.Format(_settings.GracePeriod), _sessions);
                Detach();
                return;
            }
            Depart("left");
        });
    }

    private void Detach()
    {
        Timers.StartSingleTimer(GraceExpired.Instance, GraceExpired.Instance, _settings.GracePeriod);
        _channel = ActorRefs.Nobody;
        _status?.ControlFrom(null);
        Become(Detached);
    }

    /// <summary>
    /// The control connection dropped and the grace period runs: clients are still accepted and wait
    /// for the app (each up to its pending timeout); the app's return announces them.
    /// </summary>
    private void Detached()
    {
        ReceiveClients();
        ReceiveAsOwner();
        Receive<Resume>(resume =>
        {
            Adopt(resume);
            Timers.Cancel(GraceExpired.Instance);
            Log.Info("App {App} is back from {Remote}: {Waiting} waiting clients announced again", _spec.Name, resume.Remote, _unpaired.Count + _remote.Count);
            AnswerRegistered();
            AnnounceWaiting();
            Become(Serving);
        });
        Receive<GraceExpired>(_ => Depart($"did not come back within {Duration.Format(_settings.GracePeriod)}"));
        Receive<Drain>(_ => Depart("is not held any longer: the relay is stopping"));
        Receive<Terminated>(t => MirrorLost(t.ActorRef));
    }

    /// <summary>Takes the control channel of a returning app, closing the one it replaces.</summary>
    private void Adopt(Resume resume)
    {
        Context.Unwatch(_channel);
        _channel.Tell(ControlChannelActor.Superseded.Instance);
        _channel = resume.Channel;
        _controlRemote = resume.Remote;
        _status?.ControlFrom(resume.Remote);
        Context.Watch(_channel);
    }

    private void AnswerRegistered()
    {
        _channel.Tell(new ControlChannelActor.Registered(Self, new Registered(_spec.Name, _port, _spec.DataPort)));
        Context.Parent.Tell(new RegistryActor.AppServing(_spec.Name));
    }

    private void AnnounceWaiting()
    {
        foreach (var connect in _unpaired.Values.Concat(_remote.Values.Select(r => r.Connect)))
            _channel.Tell(new ControlChannelActor.Send(connect));
    }

    /// <summary>New clients get a session each; it is announced at once, or when the app returns.</summary>
    private void ReceiveClients()
    {
        Receive<Tcp.Connected>(connected =>
        {
            var client = (IPEndPoint)connected.RemoteAddress;
            if (_mirroring && !_redirect && _owner is not null)
            {
                // protocol.md: an app that did not register with features=redirect only gets clients of its own node.
                CountRefused(SessionEndCause.Rejected);
                Sender.Tell(Tcp.Close.Instance);
                if (_refused++ == 0)
                    Log.Warning("App {App}: clients arriving at this node are closed: the app did not register with features=redirect, so it cannot be sent to dial this node", _spec.Name);
                return;
            }
            if (OverLimit() is { } limit)
            {
                // protocol.md: closed at once, and the app is not told (an ERROR would end its control connection).
                CountRefused(SessionEndCause.Limit);
                Sender.Tell(Tcp.Close.Instance);
                if (_refused++ == 0)
                    Log.Warning("App {App}: clients are closed on arrival from {Client} on: {Limit}", _spec.Name, client, limit);
                return;
            }
            if (_refused > 0)
            {
                Log.Info("App {App} takes clients again: {Refused} were closed on arrival", _spec.Name, _refused);
                _refused = 0;
            }
            var id = SessionId.New();
            // Counted and on the board before CONNECT goes out, so that no reader sees the app told of a session it does not list.
            _telemetry.Metrics.SessionStarted();
            var status = _status?.SessionStarted(id, client) ?? new SessionStatus(null, id, client);
            _sessions++;
            var connect = new Connect(id, client, _mirroring ? _spec.DataAddress : null);
            _unpaired[id] = connect;
            // In the table before the app can possibly read CONNECT and dial in.
            _waiting.Add(new WaitingClient(id, _spec.Name, Self, Sender, client, status));
            Timers.StartSingleTimer(id, new PendingTimedOut(id), _settings.PendingTimeout);
            if (_mirroring)
                _owner?.Tell(new RemoteClient(connect, Self));
            else if (!_channel.IsNobody())
                _channel.Tell(new ControlChannelActor.Send(connect));
        });
        Receive<PendingTimedOut>(timedOut =>
            CloseWaiting(timedOut.Id, $"no data connection within {Duration.Format(_settings.PendingTimeout)}", SessionEndCause.PendingTimeout));
        ReceiveSessionsEnding();
    }

    /// <summary>Paired sessions report in and out; closed waiting clients stop. Heard in every state.</summary>
    private void ReceiveSessionsEnding()
    {
        Receive<SessionPaired>(paired =>
        {
            Timers.Cancel(paired.Id);
            _paired[paired.Id] = Sender;
            if (_unpaired.Remove(paired.Id) && _mirroring)
                _owner?.Tell(new RemoteSettled(paired.Id));
        });
        Receive<SessionEnded>(ended =>
        {
            _paired.Remove(ended.Id);
            SessionGone();
        });
        Receive<WaitingClientClosed>(_ =>
        {
            _closingClients--;
            SessionGone();
        });
        // What a closed waiting client's connection reports to its commander, this actor; its stop is what counts.
        Receive<Tcp.ConnectionClosed>(_ => { });
    }

    /// <summary>
    /// Closes a client still waiting for its app; false if none waits with <paramref name="id"/> (a
    /// data connection claimed it just now, or it ended). Its session ends once its connection has
    /// stopped, so the port is not unbound under a close still in progress (which would reset it).
    /// </summary>
    private bool CloseWaiting(SessionId id, string why, SessionEndCause cause)
    {
        Timers.Cancel(id);
        if (!_waiting.TryTake(id, out var client))
            return false;
        if (_unpaired.Remove(id) && _mirroring)
            _owner?.Tell(new RemoteSettled(id));
        _closingClients++;
        client.Connection.Tell(Tcp.Close.Instance);
        Context.WatchWith(client.Connection, new WaitingClientClosed(id));
        // Counted before it leaves the board: whoever sees it gone finds its cause counted.
        _telemetry.Metrics.SessionEnded(cause);
        client.Status.End();
        Log.Info("Session {SessionId} of app {App} ended ({Outcome}): client {Client}, never paired, {Duration}",
            id.Value, _spec.Name.Value, why, client.Address, client.Status.Age);
        return true;
    }

    private void SessionGone()
    {
        _sessions--;
        if (_departed)
            UnbindWhenIdle();
    }

    private string? OverLimit() =>
        _sessions >= _settings.MaxSessionsPerApp ? $"{_sessions} sessions open, the most one app may have (max-sessions-per-app)"
        : _unpaired.Count >= _settings.MaxPendingPerApp ? $"{_unpaired.Count} clients wait for the app to dial in, the most allowed (max-pending-per-app)"
        : null;

    /// <summary>The app is gone for good: its name is free, waiting clients are closed, the port follows its last session.</summary>
    private void Depart(string why)
    {
        _departed = true;
        _status?.Depart();
        Timers.CancelAll();
        Log.Info("App {App} {Why}: {Sessions} sessions open", _spec.Name, why, _sessions);
        Context.Parent.Tell(new RegistryActor.AppDeparted(_spec.Name));
        // protocol.md: clients still waiting are closed; paired sessions go on.
        foreach (var id in _unpaired.Keys.ToList())
            CloseWaiting(id, "app left before pairing", SessionEndCause.AppLeft);
        // Claimed just now, their sessions' news on the way: nobody announces them any more.
        _unpaired.Clear();
        Become(Draining);
        UnbindWhenIdle();
    }

    /// <summary>
    /// In a cluster, as the app's owner: clients of other nodes are announced with data= naming their
    /// node, and the app may move to another node, which makes this actor a mirror of it.
    /// </summary>
    private void ReceiveAsOwner()
    {
        Receive<RemoteClient>(remote =>
        {
            var connect = remote.Connect;
            if (!_redirect)
            {
                remote.Mirror.Tell(new RemoteReject(connect.Id));
                return;
            }
            _remote[connect.Id] = (connect, remote.Mirror);
            if (_mirrors.Add(remote.Mirror))
                Context.Watch(remote.Mirror);
            if (!_channel.IsNobody())
                _channel.Tell(new ControlChannelActor.Send(connect));
        });
        Receive<RemoteSettled>(settled => _remote.Remove(settled.Id));
        ReceiveRebinding();
        Receive<Gone>(_ =>
        {
            // The cluster's table lost the app (it should not happen to a live owner): closing the
            // control connection makes the app register again, which puts it back.
            if (!_channel.IsNobody())
            {
                Context.Unwatch(_channel);
                _channel.Tell(ControlChannelActor.Superseded.Instance);
            }
            Depart("is no longer registered in the cluster");
        });
        Receive<OwnerIs>(owner =>
        {
            // The app registered again on another node with its resume token: it lives there now.
            Log.Info("App {App} moved to another node: this node mirrors it, {Waiting} waiting clients handed over",
                _spec.Name, _unpaired.Count + _remote.Count);
            Timers.Cancel(GraceExpired.Instance);
            if (!_channel.IsNobody())
            {
                Context.Unwatch(_channel);
                _channel.Tell(ControlChannelActor.Superseded.Instance);
                _channel = ActorRefs.Nobody;
            }
            _controlRemote = null;
            _status?.ControlFrom(null);
            foreach (var (session, connect) in _unpaired.ToList())
                _unpaired[session] = connect with { Data = _spec.DataAddress };
            var handed = _remote.Values.ToList();
            _remote.Clear();
            BecomeMirror();
            OnOwnerIs(owner);
            foreach (var (connect, mirror) in handed)
                _owner?.Tell(new RemoteClient(connect, mirror));
        });
    }

    private void BecomeMirror()
    {
        _mirroring = true;
        ShowOwner();
        Become(Mirroring);
        Stash.UnstashAll();
    }

    /// <summary>
    /// The app's control connection is on another node: clients arriving here get a session each, and
    /// the owner's node announces them to the app, which dials this node's data port.
    /// </summary>
    private void Mirroring()
    {
        ReceiveClients();
        Receive<OwnerIs>(OnOwnerIs);
        Receive<RemoteReject>(reject => CloseWaiting(reject.Id, "rejected by the app", SessionEndCause.Rejected));
        Receive<TakeOver>(takeOver =>
        {
            _mirroring = false;
            _owner = null;
            _redirect = takeOver.Redirect;
            _channel = takeOver.Channel;
            _controlRemote = takeOver.Remote;
            _status?.ControlFrom(takeOver.Remote);
            _status?.ControlOn(null);
            Context.Watch(_channel);
            foreach (var (session, connect) in _unpaired.ToList())
                _unpaired[session] = connect with { Data = null };
            Log.Info("App {App} registered on this node from {Remote}: {Waiting} waiting clients announced",
                _spec.Name, takeOver.Remote, _unpaired.Count);
            AnswerRegistered();
            AnnounceWaiting();
            Become(Serving);
        });
        Receive<Gone>(_ => Depart("is no longer registered in the cluster"));
        Receive<Drain>(_ => Depart("is not mirrored any longer: the relay is stopping"));
        ReceiveRebinding();
    }

    /// <summary>A mirror whose port another process held tries again, and goes on trying if it becomes the owner.</summary>
    private void ReceiveRebinding()
    {
        Receive<RetryBind>(_ => Bind());
        Receive<Tcp.Bound>(bound =>
        {
            _listener = Sender;
            Log.Info("App {App} listening on {Endpoint} at last", _spec.Name, bound.LocalAddress);
            _status ??= _telemetry.Status.AppRegistered(_spec.Name, _port, _controlRemote);
            if (_mirroring)
                ShowOwner();
        });
        Receive<Tcp.CommandFailed>(_ => Timers.StartSingleTimer(RetryBind.Instance, RetryBind.Instance, MirrorBindRetry));
    }

    /// <summary>On the status board, a mirrored app names the node its control connection is on.</summary>
    private void ShowOwner() => _status?.ControlOn(_owner is null ? "away" : _owner.Path.Address.ToString());

    private void OnOwnerIs(OwnerIs owner)
    {
        var changed = !Equals(owner.Owner, _owner);
        _owner = owner.Owner;
        _redirect = owner.Redirect;
        ShowOwner();
        // A new owner (or the app back after its node was lost) hears of every client still waiting here.
        if (changed && _owner is not null)
            foreach (var connect in _unpaired.Values)
                _owner.Tell(new RemoteClient(connect, Self));
    }

    /// <summary>No new clients; paired sessions go on and hold the port until the last one ends.</summary>
    private void Draining()
    {
        Receive<Tcp.Connected>(_ => CloseOnArrival());
        Receive<Terminated>(t => MirrorLost(t.ActorRef));
        ReceiveSessionsEnding();
        Receive<RejectSession>(_ => { });
        Receive<RemoteClient>(remote => remote.Mirror.Tell(new RemoteReject(remote.Connect.Id)));
        Receive<Leave>(_ => Sender.Tell(Left.Instance)); // gone already: the name is free
        Receive<Drain>(_ => { });
        Receive<AbortSessions>(_ =>
        {
            foreach (var session in _paired.Values)
                session.Tell(SessionActor.Abort.Instance);
        });
        Receive<CloseIdleSessions>(idle =>
        {
            foreach (var session in _paired.Values)
                session.Tell(new SessionActor.CloseWhenIdle(idle.After));
        });
    }

    /// <summary>A client of an app that is leaving: closed at once, counted as a session that ended so.</summary>
    private void CloseOnArrival()
    {
        CountRefused(_telemetry.Status.Draining ? SessionEndCause.Shutdown : SessionEndCause.AppLeft);
        Sender.Tell(Tcp.Close.Instance);
    }

    // A client closed on arrival counts as a session that started and ended at once, so that
    // sessions started always equals sessions ended plus sessions active. Counted before the close,
    // so the client cannot see it before a reader of the metrics does.
    private void CountRefused(SessionEndCause cause)
    {
        _telemetry.Metrics.SessionStarted();
        _telemetry.Metrics.SessionEnded(cause);
    }

    protected override void PostStop()
    {
        // Only if the actor failed: it stops on its own only once no client waits.
        foreach (var id in _unpaired.Keys)
            if (_waiting.TryTake(id, out var client))
                client.Connection.Tell(Tcp.Abort.Instance);
        if (_status is not null)
            _telemetry.Status.AppStopped(_status);
        base.PostStop();
    }

    private void ConfirmLeft()
    {
        _leaving.Tell(Left.Instance);
        _leaving = ActorRefs.Nobody;
    }

    /// <summary>Another node's mirror is gone (its node was lost): its waiting clients went with it.</summary>
    private void MirrorLost(IActorRef mirror)
    {
        if (!_mirrors.Remove(mirror))
            return;
        foreach (var (id, remote) in _remote.Where(r => r.Value.Mirror.Equals(mirror)).ToList())
            _remote.Remove(id);
    }

    private void UnbindWhenIdle()
    {
        if (_sessions == 0)
            Unbind();
    }

    private void Unbind()
    {
        if (_listener.IsNobody())
        {
            // A mirror whose port could not be bound on this node.
            ConfirmLeft();
            Context.Stop(Self);
            return;
        }
        _listener.Tell(Tcp.Unbind.Instance);
        Become(Unbinding);
    }

    /// <summary>The last session is gone; the port is released once the listener confirms.</summary>
    private void Unbinding()
    {
        Receive<Tcp.Unbound>(_ =>
        {
            // Told before the actor stops (the registry would otherwise learn it only from the
            // death watch), so that it is free by the time the leaving app sees its channel close.
            Context.Parent.Tell(new RegistryActor.PortReleased(_port));
            ConfirmLeft();
            Context.Stop(Self);
        });
        Receive<Tcp.Connected>(_ => CloseOnArrival());
        ReceiveAny(_ => { });
    }
}
