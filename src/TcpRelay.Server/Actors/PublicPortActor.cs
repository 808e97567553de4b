using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// One app's public port on this relay (<c>registry/app-NAME</c>): it binds the port, gives each
/// client that arrives a session id, puts it up in <see cref="WaitingClients"/> for the data
/// connection that will claim it, and closes the clients nobody claims in time. What the clients
/// are announced to is its child, the app's role here: an <see cref="AppActor"/> when the app's
/// control connection is on this relay. A shared name has one role per instance: each new client goes
/// to the live instance with the fewest sessions (ties in turn), and the clients waiting for an
/// instance that is lost or leaves are offered to the others at once. The port outlives its roles: when the app leaves it takes no
/// new client, closes the waiting ones, and keeps the port bound until its last paired session has
/// ended, because unbinding a listener resets every connection it accepted.
/// </summary>
internal sealed class PublicPortActor : LifecycleLoggingActor, IWithTimers, IWithStash
{
    /// <summary>
    /// The port the registry decided. <paramref name="KeepTryingToBind"/>: a bind that fails is tried
    /// again every few seconds rather than reported (the port was decided for an app this relay does
    /// not serve itself, and it serves the port once it is free). <paramref name="ControlNode"/>: where
    /// the app's control connection is, for the status board, when not on this relay.
    /// <paramref name="User"/>: the app's user, whose sessions on this relay are counted against its max-sessions.
    /// <paramref name="ResumeSha256"/>: the first role's resume hash; <paramref name="Shared"/>: other instances may join (<see cref="AddInstance"/>).
    /// </summary>
    public sealed record Spec(AppName Name, int Port, bool PortRequested, bool KeepTryingToBind = false, string? ControlNode = null, UserId? User = null,
        string? ResumeSha256 = null, bool Shared = false);

    /// <summary>What the app's role is started with: the port's actor, the bound port, and the app's entry on the status board.</summary>
    public sealed record Bound(IActorRef Port, int BoundPort, AppStatus? Status);

    /// <summary>From the registry: the app is served by another role from now on (its control connection moved here, or away).</summary>
    public sealed record ServeFor(Func<Bound, Props> Role, string RoleName);

    /// <summary>
    /// From the registry: another instance of the shared name, served by <paramref name="Role"/>, whose
    /// resume hash is <paramref name="ResumeSha256"/>; <paramref name="Channel"/> is its control channel,
    /// told to register again if the name is on its way out by the time this arrives.
    /// </summary>
    public sealed record AddInstance(Func<Bound, Props> Role, string? ResumeSha256, IActorRef Channel);

    /// <summary>From a role: its app's control connection is lost and it waits for a return; its waiting clients may go to another instance.</summary>
    public sealed class Away
    {
        public static readonly Away Instance = new();
        private Away() { }
    }

    /// <summary>From the registry after a failed bind: try this port instead.</summary>
    public sealed record BindPort(int Port);

    /// <summary>
    /// The app is gone for good (from its role, or from the registry): its name is free, waiting
    /// clients are closed, the port follows its last session. <paramref name="Leaving"/>: the control
    /// channel that said LEAVE, told <see cref="AppActor.Left"/> once name and port are free.
    /// </summary>
    public sealed record Depart(string Why, IActorRef? Leaving = null);

    /// <summary>Close this waiting client (the app rejected it, or cannot be told of it).</summary>
    public sealed record CloseClient(SessionId Id, string Why, SessionEndCause Cause);

    /// <summary>From a session: it is paired, so a returning app must not be told about it again.</summary>
    public sealed record SessionPaired(SessionId Id);

    /// <summary>From a paired session: it ended, and no longer holds the port.</summary>
    public sealed record SessionEnded(SessionId Id);

    /// <summary>From the registry: the relay drains; each paired session is closed once it is idle.</summary>
    public sealed record CloseIdleSessions(TimeSpan After);

    /// <summary>From the registry: the drain is cut short (<paramref name="Why"/>: its deadline passed, a second stop signal); every session is reset.</summary>
    public sealed record AbortSessions(string Why);

    /// <summary>A waiting client's time for its app to dial in is up.</summary>
    private sealed record PendingTimedOut(SessionId Id);

    /// <summary>The connection of a waiting client this actor closed has stopped.</summary>
    private sealed record WaitingClientClosed(SessionId Id);

    private sealed class RetryBind
    {
        public static readonly RetryBind Instance = new();
        private RetryBind() { }
    }

    private static readonly TimeSpan BindRetry = TimeSpan.FromSeconds(2);

    /// <summary>A role serving the app (one per instance of a shared name) and the sessions it was given.</summary>
    private sealed class Instance(IActorRef role, string? resumeSha256)
    {
        public IActorRef Role { get; } = role;
        public string? ResumeSha256 { get; } = resumeSha256;
        // Its control connection is up: it answered REGISTERED and has not been lost since.
        public bool Live { get; set; }
        // Clients given to it and not ended yet, waiting or paired.
        public int Sessions { get; set; }
    }

    private readonly Spec _spec;
    private readonly RelaySettings _settings;
    private readonly RelayTelemetry _telemetry;
    private readonly WaitingClients _waiting;
    private readonly UserSessions _userSessions;
    private Func<Bound, Props> _roleProps;
    private string _roleName;
    private readonly List<Instance> _instances = [];
    // Instances that joined while the port was being bound.
    private readonly List<AddInstance> _joining = [];
    // The instance each session was given to, from its arrival to its end.
    private readonly Dictionary<SessionId, Instance> _given = [];
    // Where the search for the next of several instances with equally few sessions starts.
    private int _turn;
    // On the status board from the bind until the actor stops.
    private AppStatus? _status;
    // Clients no data connection has claimed yet: a new role is told about them.
    private readonly Dictionary<SessionId, IPEndPoint> _unpaired = [];
    // Sessions a data connection claimed, by id: the drain closes or resets them.
    private readonly Dictionary<SessionId, IActorRef> _paired = [];
    private int _port;
    private IActorRef _listener = ActorRefs.Nobody;
    // Every client accepted and not yet ended: waiting, being closed, or paired. The port is released only at 0.
    private int _sessions;
    // Waiting clients this actor closed, whose connections have not stopped yet.
    private int _closingClients;
    private int _refused;
    private IActorRef _leaving = ActorRefs.Nobody;

    public PublicPortActor(Spec spec, RelaySettings settings, Func<Bound, Props> role, string roleName)
    {
        _spec = spec;
        _settings = settings;
        _roleProps = role;
        _roleName = roleName;
        _port = spec.Port;
        _telemetry = RelayTelemetry.Get(Context.System);
        _waiting = WaitingClients.Get(Context.System);
        _userSessions = UserSessions.Get(Context.System);
        Binding();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    protected override LogLevel LifecycleLevel => LogLevel.InfoLevel;

    /// <summary>Props for the port of an app whose role here <paramref name="role"/> makes, as the child <paramref name="roleName"/>.</summary>
    public static Props CreateProps(Spec spec, RelaySettings settings, Func<Bound, Props> role, string roleName) =>
        Props.Create(() => new PublicPortActor(spec, settings, role, roleName));

    protected override void PreStart()
    {
        base.PreStart();
        Bind();
    }

    // A role that fails takes its port down with it: the registry stops the app, frees its name and
    // port, and the app's control connection closes, so the app registers again on a clean slate.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Escalate);

    private void Bind() =>
        Context.System.Tcp().Tell(new Tcp.Bind(Self, new IPEndPoint(_settings.Bind, _port), _settings.Backlog,
            [new TcpKeepAlive(_settings.KeepAliveIdle)], pullMode: true));

    /// <summary>Binding the port; the role starts once it is bound, so REGISTERED comes when clients can connect.</summary>
    private void Binding()
    {
        Receive<Tcp.Bound>(bound =>
        {
            _listener = Sender;
            _port = ((IPEndPoint)bound.LocalAddress).Port;
            Log.Info("App {App} listening on {Endpoint}", _spec.Name, bound.LocalAddress);
            Serve();
        });
        Receive<Tcp.CommandFailed>(failed =>
        {
            var cause = failed.Cause.HasValue ? failed.Cause.Value.Message : "refused";
            if (_spec.KeepTryingToBind)
            {
                // Clients cannot reach the app through this relay until the port is free here; the app is served meanwhile.
                Log.Warning("App {App}: public port {Port} cannot be bound here (tried again every {Retry}): {Cause}",
                    _spec.Name, _port, Duration.Format(BindRetry), cause);
                Timers.StartSingleTimer(RetryBind.Instance, RetryBind.Instance, BindRetry);
                Serve();
                return;
            }
            Log.Warning("App {App}: public port {Port} cannot be bound (another process holds it?), trying another: {Cause}", _spec.Name, _port, cause);
            Context.Parent.Tell(new RegistryActor.PortUnavailable(_port, _spec.PortRequested));
        });
        Receive<BindPort>(bind =>
        {
            _port = bind.Port;
            Bind();
        });
        Receive<Depart>(depart => Context.Stop(Self)); // nothing was bound, nobody was told of it
        // Kept until the port is bound; refused if it never is (the actor stops).
        Receive<AddInstance>(add => _joining.Add(add));
        ReceiveAny(_ => Stash.Stash());
    }

    private void Serve()
    {
        _status = _telemetry.Status.AppRegistered(_spec.Name, _port, _spec.User, _spec.Shared);
        _status.ControlOn(_spec.ControlNode);
        StartRole(_roleProps, _spec.ResumeSha256);
        foreach (var join in _joining)
            StartRole(join.Role, join.ResumeSha256);
        _joining.Clear();
        Become(Serving);
        Stash.UnstashAll();
    }

    private Instance StartRole(Func<Bound, Props> props, string? resumeSha256)
    {
        var name = _roleName;
        for (var generation = 2; !Context.Child(name).IsNobody(); generation++)
            name = $"{_roleName}~{generation}";
        var instance = new Instance(Context.ActorOf(props(new Bound(Self, _port, _status)), name), resumeSha256);
        _instances.Add(instance);
        return instance;
    }

    /// <summary>The port takes clients; each is handed to the role to announce.</summary>
    private void Serving()
    {
        Receive<Tcp.Connected>(OnClient);
        Receive<CloseClient>(close =>
        {
            // An instance that departed closes what it was given; those clients went to another instance meanwhile.
            if (_spec.Shared && _given.TryGetValue(close.Id, out var given) && !given.Role.Equals(Sender))
                return;
            if (!CloseWaiting(close.Id, close.Why, close.Cause))
                Log.Debug("App {App}: session {SessionId} is no longer waiting ({Why})", _spec.Name, close.Id, close.Why);
        });
        Receive<PendingTimedOut>(timedOut =>
            CloseWaiting(timedOut.Id, $"no data connection within {Duration.Format(_settings.PendingTimeout)}", SessionEndCause.PendingTimeout));
        Receive<Depart>(OnDepart);
        Receive<ServeFor>(serveFor =>
        {
            // The old roles stop (a control channel one held is told it was superseded); the new one hears of every waiting client.
            foreach (var instance in _instances)
                Context.Stop(instance.Role);
            _instances.Clear();
            _roleProps = serveFor.Role;
            _roleName = serveFor.RoleName;
            var role = StartRole(_roleProps, _spec.ResumeSha256);
            foreach (var id in _unpaired.Keys)
                Give(id, role);
        });
        Receive<AddInstance>(add => StartRole(add.Role, add.ResumeSha256));
        // A client another node holds (in a cluster) is announced by one instance, not by each.
        Receive<AppActor.ClientWaiting>(waiting => Pick().Role.Forward(waiting));
        Receive<RegistryActor.AppServing>(serving =>
        {
            if (InstanceOf(Sender) is { } instance)
                instance.Live = true;
            OfferStranded();
            Context.Parent.Tell(serving);
        });
        Receive<Away>(_ =>
        {
            if (InstanceOf(Sender) is { } instance)
                instance.Live = false;
            OfferStranded();
        });
        Receive<AppActor.Resume>(resume =>
        {
            // The table decided that the token is an instance's; one that left just now cannot come back as it.
            if ((_instances.Count == 1 ? _instances[0] : _instances.Find(i => i.ResumeSha256 == resume.ResumeSha256)) is { } instance)
                instance.Role.Forward(resume);
            else
                resume.Channel.Tell(new ControlChannelActor.Refused(ErrorCode.NameInUse, $"the instance of '{_spec.Name}' that token held has left; register again"));
        });
        ReceiveRebinding();
        ReceiveSessions(departed: false);
        ReceiveAny(message =>
        {
            foreach (var instance in _instances)
                instance.Role.Forward(message);
        });
    }

    private Instance? InstanceOf(IActorRef role) => _instances.Find(i => i.Role.Equals(role));

    /// <summary>
    /// The instance a new client goes to: of the live ones (any, while none is), the one with the
    /// fewest sessions; of several with as few, the next in turn.
    /// </summary>
    private Instance Pick()
    {
        if (_instances.Count == 1)
            return _instances[0];
        var live = _instances.Exists(i => i.Live);
        Instance? best = null;
        for (var k = 0; k < _instances.Count; k++)
        {
            var candidate = _instances[(_turn + k) % _instances.Count];
            if ((candidate.Live || !live) && (best is null || candidate.Sessions < best.Sessions))
                best = candidate;
        }
        _turn = (_instances.IndexOf(best!) + 1) % _instances.Count;
        return best!;
    }

    /// <summary>Gives a waiting client to <paramref name="instance"/>, taking it from the one it had (which will not announce it again).</summary>
    private void Give(SessionId id, Instance instance)
    {
        if (_given.Remove(id, out var before))
        {
            before.Sessions--;
            if (_instances.Contains(before))
                before.Role.Tell(new AppActor.ClientSettled(id));
        }
        instance.Sessions++;
        _given[id] = instance;
        instance.Role.Tell(new AppActor.ClientWaiting(new Connect(id, _unpaired[id]), Self));
    }

    /// <summary>
    /// Clients waiting for an instance that is away or gone go to a live one, if there is one (a
    /// grace period holds an instance's place, not its clients); those of a gone one go to any.
    /// </summary>
    private void OfferStranded()
    {
        if (_instances.Count == 0)
            return;
        var offered = 0;
        foreach (var (id, instance) in _given.Where(g => _unpaired.ContainsKey(g.Key)).ToList())
        {
            var gone = !_instances.Contains(instance);
            if (!gone && (instance.Live || !_instances.Exists(i => i.Live)))
                continue;
            var to = Pick();
            if (to == instance)
                continue;
            Give(id, to);
            offered++;
        }
        if (offered > 0)
            Log.Info("App {App}: {Clients} waiting clients offered to another instance", _spec.Name, offered);
    }

    private void OnClient(Tcp.Connected connected)
    {
        var client = (IPEndPoint)connected.RemoteAddress;
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
        _unpaired[id] = client;
        // In the table before the app can possibly read CONNECT and dial in.
        _waiting.Add(new WaitingClient(id, _spec.Name, Self, Sender, client, status));
        Timers.StartSingleTimer(id, new PendingTimedOut(id), _settings.PendingTimeout);
        Give(id, Pick());
    }

    /// <summary>
    /// Paired sessions report in and out; closed waiting clients stop. Heard while serving and once
    /// <paramref name="departed"/>, when the last session to end unbinds the port.
    /// </summary>
    private void ReceiveSessions(bool departed)
    {
        Receive<SessionPaired>(paired =>
        {
            Timers.Cancel(paired.Id);
            _paired[paired.Id] = Sender;
            if (_unpaired.Remove(paired.Id))
                Settled(paired.Id);
        });
        Receive<SessionEnded>(ended =>
        {
            _paired.Remove(ended.Id);
            SessionGone(ended.Id, departed);
        });
        Receive<WaitingClientClosed>(closed =>
        {
            _closingClients--;
            SessionGone(closed.Id, departed);
        });
        // What a closed waiting client's connection reports to its commander, this actor; its stop is what counts.
        Receive<Tcp.ConnectionClosed>(_ => { });
        Receive<AbortSessions>(abort =>
        {
            var reset = new SessionActor.Abort(abort.Why);
            foreach (var session in _paired.Values)
                session.Tell(reset);
        });
        Receive<CloseIdleSessions>(idle =>
        {
            foreach (var session in _paired.Values)
                session.Tell(new SessionActor.CloseWhenIdle(idle.After));
        });
    }

    /// <summary>A port that could not be bound here yet is tried again, whatever the role.</summary>
    private void ReceiveRebinding()
    {
        Receive<RetryBind>(_ => Bind());
        Receive<Tcp.Bound>(bound =>
        {
            _listener = Sender;
            Log.Info("App {App} listening on {Endpoint} at last", _spec.Name, bound.LocalAddress);
        });
        Receive<Tcp.CommandFailed>(_ => Timers.StartSingleTimer(RetryBind.Instance, RetryBind.Instance, BindRetry));
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
        if (_unpaired.Remove(id))
            Settled(id);
        _closingClients++;
        // A client the app will not serve (its service refused, say) is reset, so that it can tell
        // "down" from "served and closed"; one whose app never came gets an orderly close.
        client.Connection.Tell(cause == SessionEndCause.Rejected ? Tcp.Abort.Instance : Tcp.Close.Instance);
        Context.WatchWith(client.Connection, new WaitingClientClosed(id));
        // Counted before it leaves the board: whoever sees it gone finds its cause counted.
        _telemetry.Metrics.SessionEnded(cause);
        client.Status.End();
        Log.Info("Session {SessionId} of app {App} ended ({Outcome}): client {Client}, never paired, {Duration}",
            id.Value, _spec.Name.Value, why, client.Address, ElapsedTime.Format(client.Status.Age));
        return true;
    }

    /// <summary>A waiting client was paired or closed: the instance it was given to stops announcing it.</summary>
    private void Settled(SessionId id)
    {
        if (_given.TryGetValue(id, out var instance))
            instance.Role.Tell(new AppActor.ClientSettled(id));
    }

    private void SessionGone(SessionId id, bool departed)
    {
        if (_given.Remove(id, out var instance))
            instance.Sessions--;
        _sessions--;
        if (_spec.User is { } user)
            _userSessions.Close(user);
        if (departed)
            UnbindWhenIdle();
    }

    /// <summary>Why a new client cannot be taken, or null (then it is counted against its user's max-sessions).</summary>
    private string? OverLimit() =>
        _sessions >= _settings.MaxSessionsPerApp ? $"{_sessions} sessions open, the most one app may have (max-sessions-per-app)"
        : _unpaired.Count >= _settings.MaxPendingPerApp ? $"{_unpaired.Count} clients wait for the app to dial in, the most allowed (max-pending-per-app)"
        : _spec.User is { } user && !_userSessions.TryOpen(user, out var max) ? $"user {user} has {max} sessions open, the most its grant allows (max-sessions)"
        : null;

    private void OnDepart(Depart depart)
    {
        var departing = InstanceOf(Sender);
        if (departing is not null && _instances.Count > 1)
        {
            InstanceDeparts(departing, depart);
            return;
        }
        // Told by the registry, not a role: the roles stop now (a control channel one held is told it was superseded).
        if (departing is null)
            foreach (var instance in _instances)
                Context.Stop(instance.Role);
        _status?.Depart();
        Timers.CancelAll();
        Log.Info("App {App} {Why}: {Sessions} sessions open", _spec.Name, depart.Why, _sessions);
        Context.Parent.Tell(new RegistryActor.AppDeparted(_spec.Name));
        _leaving = depart.Leaving ?? ActorRefs.Nobody;
        // protocol.md: clients still waiting are closed; paired sessions go on.
        foreach (var id in _unpaired.Keys.ToList())
            CloseWaiting(id, "app left before pairing", SessionEndCause.AppLeft);
        // Claimed just now, their sessions' news on the way: nobody announces them any more.
        _unpaired.Clear();
        // Paired sessions keep the port for as long as they run: a leaving app hears now that its name
        // is free. Clients still waiting are being closed, and the port is freed right after them:
        // then it hears once it is (on Unbound), so that it may register it again at once.
        if (_sessions > _closingClients)
            ConfirmLeft();
        Become(Departed);
        UnbindWhenIdle();
    }

    /// <summary>
    /// One instance of a shared name is gone while others hold it: its waiting clients go to them,
    /// its paired sessions run on, and a leaving app hears at once that it is out.
    /// </summary>
    private void InstanceDeparts(Instance instance, Depart depart)
    {
        _instances.Remove(instance);
        Context.Stop(instance.Role);
        Log.Info("App {App}: an instance {Why}, {Instances} instances hold the name on", _spec.Name, depart.Why, _instances.Count);
        Context.Parent.Tell(new RegistryActor.InstanceDeparted(_spec.Name, instance.ResumeSha256));
        depart.Leaving?.Tell(AppActor.Left.Instance);
        OfferStranded();
    }

    /// <summary>No new clients; paired sessions go on and hold the port until the last one ends.</summary>
    private void Departed()
    {
        Receive<Tcp.Connected>(_ => CloseOnArrival());
        ReceiveSessions(departed: true);
        ReceiveRebinding();
        Receive<CloseClient>(_ => { });
        Receive<Depart>(_ => { });
        Receive<RegistryActor.AppServing>(_ => { });
        Receive<Away>(_ => { });
        Receive<AddInstance>(RefuseJoin);
        ReceiveAny(message =>
        {
            foreach (var instance in _instances)
                instance.Role.Forward(message);
        });
    }

    /// <summary>An instance joined just as the last one left: the name is free now (or about to be), so it registers again.</summary>
    private void RefuseJoin(AddInstance join) =>
        join.Channel.Tell(new ControlChannelActor.Refused(ErrorCode.NameInUse, $"name '{_spec.Name}' is being released just now; register again"));

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
        foreach (var join in _joining)
            RefuseJoin(join);
        // Sessions still counted when the actor fails are not its user's any more.
        if (_spec.User is { } user && _sessions > 0)
            _userSessions.Close(user, _sessions);
        base.PostStop();
    }

    private void ConfirmLeft()
    {
        _leaving.Tell(AppActor.Left.Instance);
        _leaving = ActorRefs.Nobody;
    }

    private void UnbindWhenIdle()
    {
        if (_sessions != 0)
            return;
        if (_listener.IsNobody())
        {
            // A port that could not be bound here.
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
        Receive<AddInstance>(RefuseJoin);
        Receive<Tcp.Connected>(_ => CloseOnArrival());
        ReceiveAny(_ => { });
    }
}
