using System.Net;
using Akka.Actor;
using Akka.Event;
using TcpRelay.Protocol;
using TcpRelay.Server.Registration;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// The relay's registry (<c>/user/relay/registry</c>): it answers every REGISTER, creates one
/// <see cref="PublicPortActor"/> per app (with the app's <see cref="AppActor"/> below it) and keeps
/// the table of names and public ports they hold. A single
/// relay's registry (<see cref="StandaloneRegistryActor"/>) decides registrations itself; a cluster
/// node's asks the cluster's directory. What both do with the apps once decided is here.
/// </summary>
internal abstract class RegistryActor : LifecycleLoggingActor
{
    /// <summary>
    /// From a control channel (the sender): an app asks to register. Of its resume token only the
    /// <see cref="ResumeHash"/> goes past the channel (null: the app gave none). <paramref name="User"/>:
    /// the user the channel found the app to be (null: admitted by the shared secret). <paramref name="Shared"/>: it asks to share its name.
    /// </summary>
    public sealed record RegisterApp(AppName? Name, int? Port, string? ResumeSha256, IPEndPoint Remote, bool Redirect = false, UserId? User = null,
        bool Shared = false);

    /// <summary>From an app's actor: its port could not be bound.</summary>
    public sealed record PortUnavailable(int Port, bool Requested);

    /// <summary>From an app's actor: it answered REGISTERED (on its first connection or a returning one).</summary>
    public sealed record AppServing(AppName Name);

    /// <summary>From an app's actor: its control connection closed, so its name is free.</summary>
    public sealed record AppDeparted(AppName Name);

    /// <summary>From an app's actor: one instance of its shared name is gone, the others hold the name on.</summary>
    public sealed record InstanceDeparted(AppName Name, string? ResumeSha256);

    /// <summary>From an app's actor: its public port is unbound, so another app may have it.</summary>
    public sealed record PortReleased(int Port);

    /// <summary>From the relay: it is stopping. Apps are told ERROR shutdown, registrations refused; <see cref="Drained"/> goes to the sender once every app's actor has stopped.</summary>
    public sealed class Drain
    {
        public static readonly Drain Instance = new();
        private Drain() { }
    }

    /// <summary>To whoever sent <see cref="Drain"/>: no app and no session is left.</summary>
    public sealed class Drained
    {
        public static readonly Drained Instance = new();
        private Drained() { }
    }

    /// <summary>
    /// An app as the registry decided it: its name, its port (and whether it asked for that one), its
    /// control channel (<see cref="ActorRefs.Nobody"/> while a restored registration waits for its
    /// owner), the hash of its resume token, whether it takes CONNECT data= (features=redirect), its user, and whether it shares its name.
    /// </summary>
    public sealed record Registration(AppName Name, int Port, bool PortRequested, IActorRef Channel, IPEndPoint? Remote, string? ResumeSha256,
        bool Redirect = false, UserId? User = null, bool Shared = false);

    private sealed record AppStopped(AppName Name, IActorRef App);

    // Tests put stand-ins in place of the apps' actors.
    private readonly Func<Registration, Props>? _appProps;
    private IActorRef? _drainRequester;
    private int _refusedWhileDraining;

    protected RegistryActor(RelaySettings settings, int dataPort, Func<Registration, Props>? appProps)
    {
        Settings = settings;
        DataPort = dataPort;
        Table = new AppTable<IActorRef>(settings.PublicPorts, settings.MaxApps, [settings.ControlPort, dataPort]);
        Users = settings.Users;
        _appProps = appProps;
    }

    protected RelaySettings Settings { get; }

    /// <summary>The data port apps are told to dial.</summary>
    protected int DataPort { get; }

    /// <summary>Names and public ports held by this relay's app actors.</summary>
    protected AppTable<IActorRef> Table { get; }

    /// <summary>The users file as last read (null: the relay has none).</summary>
    protected UserTable? Users { get; private set; }

    /// <summary>What each app's <see cref="PublicPortActor"/> was started for (its port as it is now).</summary>
    protected Dictionary<IActorRef, Registration> Apps { get; } = [];

    /// <summary>The relay is stopping.</summary>
    protected bool IsDraining => _drainRequester is not null;

    protected override LogLevel LifecycleLevel => LogLevel.InfoLevel;

    /// <summary>Decides a REGISTER from <paramref name="channel"/> of <paramref name="user"/> (the relay is not stopping).</summary>
    protected abstract void Register(RegisterApp register, UserGrant? user, IActorRef channel);

    /// <summary>The port of <paramref name="app"/> could not be bound; the table has freed it already.</summary>
    protected abstract void PortUnavailableFor(IActorRef app, Registration spec, PortUnavailable unavailable);

    /// <summary>An app answered REGISTERED.</summary>
    protected virtual void Serving(AppName name, IActorRef app) { }

    /// <summary>An app's name is free: it left, was not back in time, or its actor stopped.</summary>
    protected virtual void Gone(AppName name, IActorRef app) { }

    /// <summary>The table of names and ports changed.</summary>
    protected virtual void TableChanged() { }

    /// <summary>The relay began to stop: apps are about to be told ERROR shutdown.</summary>
    protected virtual void Draining() { }

    /// <summary>Whether this registry serves <paramref name="app"/>'s control side (a cluster node's mirrors are their owners' to dismiss).</summary>
    protected virtual bool Serves(IActorRef app) => true;

    protected override void PreStart()
    {
        base.PreStart();
        UserSessions.Get(Context.System).Apply(Users);
        if (Users is not null)
            Context.System.EventStream.Subscribe(Self, typeof(UsersFileActor.UsersChanged));
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        base.PostStop();
    }

    /// <summary>What every registry handles; a derived registry's constructor calls this after adding its own handlers.</summary>
    protected void ReceiveApps()
    {
        Receive<RegisterApp>(register =>
        {
            if (IsDraining)
            {
                _refusedWhileDraining++;
                Refuse(Sender, ErrorCode.Shutdown, "the relay is stopping");
                return;
            }
            // The channel checked the user's auth against the table it started with; the user may have gone since.
            UserGrant? user = null;
            if (register.User is { } id && (user = Users?.Find(id)) is null)
            {
                Refuse(Sender, ErrorCode.AuthFailed, "auth does not match");
                return;
            }
            Register(register, user, Sender);
        });
        Receive<UsersFileActor.UsersChanged>(changed => Apply(changed.Users));
        Receive<PortUnavailable>(unavailable =>
        {
            if (!Apps.TryGetValue(Sender, out var spec))
                return;
            Table.ReleasePort(unavailable.Port, Sender);
            PortUnavailableFor(Sender, spec, unavailable);
        });
        Receive<AppServing>(serving => Serving(serving.Name, Sender));
        Receive<AppDeparted>(departed =>
        {
            Table.ReleaseName(departed.Name, Sender);
            Gone(departed.Name, Sender);
            LogTree();
            TableChanged();
        });
        Receive<InstanceDeparted>(departed =>
        {
            Table.RemoveInstance(departed.Name, departed.ResumeSha256);
            TableChanged();
        });
        Receive<PortReleased>(released => Table.ReleasePort(released.Port, Sender));
        Receive<AppStopped>(stopped =>
        {
            Table.RemoveApp(stopped.App);
            Apps.Remove(stopped.App);
            Gone(stopped.Name, stopped.App);
            LogTree();
            TableChanged();
            ReportWhenDrained();
        });
        Receive<Drain>(_ =>
        {
            _drainRequester = Sender;
            Draining();
            Log.Info("Draining: {Apps} apps told ERROR shutdown", Table.Count);
            foreach (var app in Apps.Keys)
                app.Tell(AppActor.Dismiss.Shutdown);
            ReportWhenDrained();
        });
        Receive<PublicPortActor.AbortSessions>(abort =>
        {
            foreach (var app in Apps.Keys)
                app.Tell(abort);
        });
        Receive<PublicPortActor.CloseIdleSessions>(idle =>
        {
            foreach (var app in Apps.Keys)
                app.Tell(idle);
        });
    }

    // An app that fails is stopped; its control connection closes and the app can register again.
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(cause =>
        {
            Log.Error(cause, "An app's actor failed and is stopped");
            return Directive.Stop;
        });

    /// <summary>
    /// Starts the public port of an app the registry decided, with the app's control side as its
    /// role (or <paramref name="role"/>, named <paramref name="roleName"/>), and records its name and port.
    /// </summary>
    protected IActorRef StartApp(Registration spec, Func<PublicPortActor.Bound, Props>? role = null, string roleName = "control",
        bool keepTryingToBind = false, string? controlNode = null)
    {
        var props = _appProps?.Invoke(spec) ?? PublicPortActor.CreateProps(
            new PublicPortActor.Spec(spec.Name, spec.Port, spec.PortRequested, keepTryingToBind, controlNode, spec.User, spec.ResumeSha256, spec.Shared),
            Settings, role ?? ControlOf(spec), roleName);
        var app = Context.ActorOf(props, ActorNameFor(spec.Name));
        Context.WatchWith(app, new AppStopped(spec.Name, app));
        Table.Add(spec.Name, spec.Port, spec.ResumeSha256, app, spec.User, spec.Shared);
        Apps[app] = spec;
        LogTree();
        TableChanged();
        return app;
    }

    /// <summary>Another instance of the shared name <paramref name="held"/> holds: it is served beside the others on their port.</summary>
    protected void JoinApp(AppTable<IActorRef>.Entry held, Registration instance)
    {
        Table.AddInstance(held.Name, instance.ResumeSha256);
        held.App.Tell(new PublicPortActor.AddInstance(ControlOf(instance), instance.ResumeSha256, instance.Channel));
        Log.Info("App {App}: another instance joins from {Remote}", held.Name, instance.Remote?.ToString() ?? "the state file");
        TableChanged();
    }

    /// <summary>The app's control side, for an app whose control connection is on this relay.</summary>
    protected Func<PublicPortActor.Bound, Props> ControlOf(Registration spec) => bound =>
        AppActor.CreateProps(new AppActor.Spec(spec.Name, spec.Channel, spec.Remote, DataPort, spec.ResumeSha256), bound, Settings);

    protected static void Refuse(IActorRef channel, ErrorCode code, string text) =>
        channel.Tell(new ControlChannelActor.Refused(code, text));

    /// <summary>
    /// The users file changed: its limits apply from now, and every app this registry serves whose
    /// user is gone or whose grant no longer covers its name and port is dismissed at once (ERROR
    /// not-allowed, not held for a return); its paired sessions run on to their end.
    /// </summary>
    private void Apply(UserTable users)
    {
        Users = users;
        UserSessions.Get(Context.System).Apply(users);
        var dismissed = 0;
        foreach (var entry in Table.Entries.ToList())
        {
            if (!Serves(entry.App) || users.WhyNotHeld(entry.User, entry.Name, entry.Port) is not { } why)
                continue;
            Log.Warning("App {App} of user {User} is dismissed: {Why}", entry.Name, entry.User, why);
            entry.App.Tell(new AppActor.Dismiss(ErrorCode.NotAllowed, why));
            dismissed++;
        }
        Log.Info("Users file applied: {Users} users, {Dismissed} apps dismissed", users.Count, dismissed);
    }

    private void ReportWhenDrained()
    {
        if (_drainRequester is null || Apps.Count != 0)
            return;
        if (_refusedWhileDraining > 0)
            Log.Info("Refused {Registrations} registrations while draining (ERROR shutdown: apps come back once the relay is up again)", _refusedWhileDraining);
        _refusedWhileDraining = 0;
        _drainRequester.Tell(Drained.Instance);
    }

    /// <summary>
    /// app-NAME, or app-NAME~N while an earlier app of that name still drains its paired sessions.
    /// '~' cannot occur in an app name, so these never collide with another app's actor.
    /// </summary>
    private static string ActorNameFor(AppName name)
    {
        var actorName = $"app-{name}";
        for (var generation = 2; !Context.Child(actorName).IsNobody(); generation++)
            actorName = $"app-{name}~{generation}";
        return actorName;
    }

    private void LogTree()
    {
        if (Log.IsDebugEnabled)
            Log.Debug("Actor tree after a registration change:\n{Tree}", ActorTree.Render(Context.Parent));
    }
}
