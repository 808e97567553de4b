using Akka.Actor;
using Akka.Event;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Registration;

namespace TcpRelay.Server.Cluster;

/// <summary>
/// A cluster node's registry: the <see cref="ClusterDirectoryActor"/> decides names and ports, so a
/// REGISTER here is a <see cref="ClusterDirectoryActor.Claim"/> (unless it is an app coming back to
/// the node that serves it). From the directory's table it runs an app actor for every app of the
/// cluster: the app's own node serves its control connection, every other node mirrors the app,
/// binding its public port too and handing the clients that arrive there to the serving node.
/// </summary>
internal sealed class NodeRegistryActor : RegistryActor, IWithTimers
{
    private sealed record ClaimAbandoned(long Ref);

    private sealed class ReportDue
    {
        public static readonly ReportDue Instance = new();
        private ReportDue() { }
    }

    private readonly IActorRef _directory;
    // Registrations waiting for the directory's answer, by claim.
    private readonly Dictionary<long, (RegisterApp Register, IActorRef Channel, DateTime Sent)> _claims = [];
    private long _nextClaim;
    // Public ports another process held when this node tried to bind them, reported as bound for a while.
    private readonly Dictionary<int, DateTime> _heldElsewhere = [];
    private static readonly TimeSpan HeldElsewhereFor = TimeSpan.FromMinutes(1);
    // This node's actors that serve their app's control connection (the others mirror one).
    private readonly HashSet<IActorRef> _owned = [];
    // The directory's last table.
    private Dictionary<AppName, ClusterDirectoryActor.AppEntry> _cluster = [];

    public NodeRegistryActor(RelaySettings settings, int dataPort, IActorRef directory, Func<Registration, Props>? appProps)
        : base(settings, dataPort, appProps)
    {
        _directory = directory;
        Receive<ClusterDirectoryActor.Granted>(OnGranted);
        Receive<ClusterDirectoryActor.Denied>(denied =>
        {
            if (!_claims.Remove(denied.Ref, out var claim))
                return;
            Context.Unwatch(claim.Channel);
            Refuse(claim.Channel, denied.Code, denied.Text);
            UnclaimIfNobodyTakesItUp(claim.Register.Name);
        });
        Receive<ClaimAbandoned>(abandoned => _claims.Remove(abandoned.Ref));
        Receive<ClusterDirectoryActor.Table>(OnTable);
        Receive<ReportDue>(_ =>
        {
            _directory.Tell(Report(full: false));
            // While the directory moves (its node was lost), claims sent to its old place are lost
            // until the proxy learns the new one: ask again until answered (an answer is by Ref, so
            // a claim answered twice is taken once).
            foreach (var (claim, (register, _, sent)) in _claims)
                if (DateTime.UtcNow - sent >= ClusterDirectoryActor.ReportInterval)
                    _directory.Tell(ClaimFor(claim, register));
        });
        Receive<ClusterDirectoryActor.SendFullReport>(_ => Sender.Tell(Report(full: true)));
        ReceiveApps();
    }

    /// <summary>Props for a node's registry; <paramref name="directory"/> is the proxy of the cluster's directory singleton.</summary>
    public static Props CreateProps(RelaySettings settings, int dataPort, IActorRef directory, Func<Registration, Props>? appProps = null) =>
        Props.Create(() => new NodeRegistryActor(settings, dataPort, directory, appProps));

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        base.PreStart();
        _directory.Tell(new ClusterDirectoryActor.NodeReport([], []));
        Timers.StartPeriodicTimer(ReportDue.Instance, ReportDue.Instance, ClusterDirectoryActor.ReportInterval);
    }

    /// <summary>An app coming back to the node that serves it is resumed here, as on a single relay; anything else is a claim.</summary>
    protected override void Register(RegisterApp register, UserGrant? user, IActorRef channel)
    {
        switch (Table.Decide(register.Name, register.Port, register.ResumeSha256, user: user, shared: register.Shared))
        {
            case AppTable<IActorRef>.Return back when _owned.Contains(back.Held.App):
                back.Held.App.Tell(new AppActor.Resume(channel, register.Remote, register.ResumeSha256));
                return;
            case AppTable<IActorRef>.Join join:
                // The directory knows one holder per name; instances spread over nodes would need it to know each of them.
                Refuse(channel, ErrorCode.NameInUse, $"name '{join.Held.Name}' is in use: a relay cluster does not share a name between instances yet");
                return;
        }
        SendClaim(register, channel);
    }

    protected override void Serving(AppName name, IActorRef app)
    {
        _owned.Add(app);
        _directory.Tell(new ClusterDirectoryActor.Owned(name, app));
    }

    // A node that is stopping leaves its apps to the directory, which holds them for their return.
    protected override void Gone(AppName name, IActorRef app)
    {
        if (_owned.Remove(app) && !IsDraining)
            _directory.Tell(new ClusterDirectoryActor.Released(name));
    }

    // The cluster holds this node's apps for their return elsewhere, as if the node were lost.
    protected override void Draining() => _directory.Tell(ClusterDirectoryActor.NodeDraining.Instance);

    protected override bool Serves(IActorRef app) => _owned.Contains(app);

    /// <summary>
    /// Another process holds the port on this node. The app gives up its grant (and the actor that
    /// failed is no longer this node's owner, so its stop releases nothing more); a port it asked
    /// for is refused, as on a single relay; else the cluster is asked for another one, told by this
    /// node's reports that this one is taken here.
    /// </summary>
    protected override void PortUnavailableFor(IActorRef app, Registration spec, PortUnavailable unavailable)
    {
        _owned.Remove(app);
        Table.ReleaseName(spec.Name, app);
        Context.Stop(app);
        _directory.Tell(new ClusterDirectoryActor.Released(spec.Name));
        if (unavailable.Requested)
        {
            Refuse(spec.Channel, ErrorCode.PortInUse, $"port {unavailable.Port} is in use by another process on this node");
            return;
        }
        _heldElsewhere[unavailable.Port] = DateTime.UtcNow + HeldElsewhereFor;
        SendClaim(new RegisterApp(spec.Name, null, spec.ResumeSha256, spec.Remote!, spec.Redirect, spec.User, spec.Shared), spec.Channel);
    }

    private void SendClaim(RegisterApp register, IActorRef channel)
    {
        var claim = ++_nextClaim;
        _claims[claim] = (register, channel, DateTime.UtcNow);
        Context.WatchWith(channel, new ClaimAbandoned(claim));
        _directory.Tell(ClaimFor(claim, register));
    }

    /// <summary>
    /// A name granted here for a claim whose connection closed meanwhile is kept for a waiting claim
    /// with its token (<see cref="OnGranted"/>); when that one is refused, nobody here takes the name
    /// up, and the directory must hear so, or the name and port stay taken with nobody serving them.
    /// </summary>
    private void UnclaimIfNobodyTakesItUp(AppName? name)
    {
        if (name is not { } taken || !_cluster.TryGetValue(taken, out var entry) || !Self.Equals(entry.OwnerNode)
            || Table.TryGet(taken, out _) || ClaimWaitsWithTokenOf(entry))
            return;
        _directory.Tell(new ClusterDirectoryActor.Unclaimed(taken));
    }

    private bool ClaimWaitsWithTokenOf(ClusterDirectoryActor.AppEntry entry) =>
        entry.ResumeSha256 is not null && _claims.Values.Any(c => c.Register.Name == entry.Name && c.Register.ResumeSha256 == entry.ResumeSha256);

    private static ClusterDirectoryActor.Claim ClaimFor(long claim, RegisterApp register) =>
        new(claim, register.Name, register.Port, register.ResumeSha256, register.Redirect, register.User);

    private void OnGranted(ClusterDirectoryActor.Granted granted)
    {
        var name = granted.Name;
        if (!_claims.Remove(granted.Ref, out var claim) || IsDraining)
        {
            // The app's connection closed while it waited, or this node is stopping: nobody takes the
            // name up here, unless the app's next registration does (it may be waiting already).
            if (claim.Channel is { } channel)
            {
                Context.Unwatch(channel);
                Refuse(channel, ErrorCode.Shutdown, "the relay is stopping");
            }
            // Only a waiting claim with the granted app's resume token will be granted the same name.
            var again = (_cluster.TryGetValue(name, out var entry) && ClaimWaitsWithTokenOf(entry))
                        || (Table.TryGet(name, out var held) && _owned.Contains(held.App));
            if (!again)
                _directory.Tell(new ClusterDirectoryActor.Unclaimed(name));
            return;
        }
        Context.Unwatch(claim.Channel);
        var register = claim.Register;
        if (Table.TryGet(name, out var local) && local.Port == granted.Port)
        {
            if (_owned.Contains(local.App))
            {
                // Granted to this node twice (the first connection gave up waiting): a return, as on a single relay.
                local.App.Tell(new AppActor.Resume(claim.Channel, register.Remote));
                return;
            }
            // This node mirrors the app already and holds its port: the port stays, the app is served here from now.
            var served = Apps[local.App] with { Channel = claim.Channel, Remote = register.Remote, ResumeSha256 = register.ResumeSha256, Redirect = register.Redirect, User = register.User };
            Apps[local.App] = served;
            Table.Update(name, e => e with { ResumeSha256 = register.ResumeSha256, User = register.User });
            _owned.Add(local.App);
            Log.Info("App {App} registered on this node from {Remote}: it was mirrored here, its waiting clients are announced", name, register.Remote);
            local.App.Tell(new PublicPortActor.ServeFor(ControlOf(served), "control"));
            return;
        }
        if (local is not null)
        {
            Table.ReleaseName(name, local.App);
            local.App.Tell(NoLongerRegistered);
        }
        // Owned from now, so that however it ends (even before it is bound) the directory hears of it.
        _owned.Add(StartApp(new Registration(name, granted.Port, register.Port is not null, claim.Channel, register.Remote,
            register.ResumeSha256, register.Redirect, register.User, register.Shared)));
    }

    /// <summary>Every app of the cluster gets an actor here: the owner's node has it, every other node mirrors it.</summary>
    private void OnTable(ClusterDirectoryActor.Table table)
    {
        _cluster = table.Apps.ToDictionary(a => a.Name);
        if (IsDraining)
            return; // stopping: no new mirrors, and the ones there are drain
        foreach (var entry in table.Apps)
        {
            if (Self.Equals(entry.OwnerNode))
                continue;
            if (Table.TryGet(entry.Name, out var local))
            {
                if (local.Port == entry.Port)
                {
                    if (_owned.Remove(local.App))
                    {
                        // The app registered again on another node with its resume token: it lives there now.
                        Log.Info("App {App} moved to another node: this node mirrors it, its waiting clients are handed over", entry.Name);
                        local.App.Tell(new PublicPortActor.ServeFor(MirrorOf(entry), "mirror"));
                    }
                    else
                    {
                        local.App.Tell(new MirrorActor.OwnerIs(entry.OwnerApp, entry.Redirect));
                    }
                    continue;
                }
                local.App.Tell(NoLongerRegistered);
                Table.ReleaseName(entry.Name, local.App);
            }
            StartApp(new Registration(entry.Name, entry.Port, true, ActorRefs.Nobody, null, entry.ResumeSha256, entry.Redirect, entry.User),
                MirrorOf(entry), "mirror", keepTryingToBind: true, controlNode: OwnerNodeOf(entry));
        }
        // The cluster's table lost the app (it should not happen to a live owner): closing the
        // control connection makes the app register again, which puts it back.
        foreach (var local in Table.Entries.Where(e => !_cluster.ContainsKey(e.Name)).ToList())
        {
            Table.ReleaseName(local.Name, local.App);
            local.App.Tell(NoLongerRegistered);
        }
    }

    /// <summary>
    /// What this node owns (and, in full, what it mirrors, for a directory rebuilding its table), and
    /// the ports its apps' actors still hold.
    /// </summary>
    private ClusterDirectoryActor.NodeReport Report(bool full) =>
        // A stopping node has left its apps to the directory: it owns none any more.
        new(Table.Entries.Where(e => (full || _owned.Contains(e.App)) && !(IsDraining && _owned.Contains(e.App))).Select(e =>
            {
                var spec = Apps[e.App];
                var owned = _owned.Contains(e.App);
                _cluster.TryGetValue(e.Name, out var entry);
                return new ClusterDirectoryActor.AppEntry(e.Name, e.Port, e.ResumeSha256, spec.Redirect,
                    owned ? Self : entry?.OwnerNode, owned ? e.App : entry?.OwnerApp, spec.User);
            }).ToArray(),
            [.. Table.HeldPorts, .. HeldElsewhere()], full);

    private static readonly PublicPortActor.Depart NoLongerRegistered = new("is no longer registered in the cluster");

    /// <summary>The app's role on this node while its control connection is on another one.</summary>
    private Func<PublicPortActor.Bound, Props> MirrorOf(ClusterDirectoryActor.AppEntry entry) => bound =>
        MirrorActor.CreateProps(entry.Name, entry.OwnerApp, entry.Redirect, Settings.DataAddress(DataPort), bound);

    private static string OwnerNodeOf(ClusterDirectoryActor.AppEntry entry) => entry.OwnerApp?.Path.Address.ToString() ?? "away";

    private IEnumerable<int> HeldElsewhere()
    {
        foreach (var (port, until) in _heldElsewhere.ToList())
            if (until < DateTime.UtcNow)
                _heldElsewhere.Remove(port);
        return _heldElsewhere.Keys;
    }
}
