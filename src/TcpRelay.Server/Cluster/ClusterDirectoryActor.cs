using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Registration;

namespace TcpRelay.Server.Cluster;

/// <summary>
/// The cluster's one table of registered apps (a cluster singleton): it alone decides who gets a name
/// and a public port, so two apps racing for a name on different nodes cannot both win. Each node's
/// <see cref="NodeRegistryActor"/> asks it to <see cref="Claim"/> and is sent the whole <see cref="Table"/>
/// after every change, from which it binds every app's port on its own address.
/// <para>
/// Its state is soft: every node reports what it owns (and the ports it has bound) once a second,
/// and what it mirrors when asked, so a singleton that starts afresh on another node (its old node
/// was lost) rebuilds the table from those reports before it answers a claim. An app whose node is lost is held for the grace period, so that it can come
/// back on another node with its resume token and keep its name and port.
/// </para>
/// It decides through the same <see cref="AppTable{TApp}"/> as a single relay's registry, with the
/// ports bound anywhere in the cluster as unavailable. Every message here crosses nodes
/// (<see cref="ClusterMessageSerializer"/>).
/// </summary>
internal sealed class ClusterDirectoryActor : LifecycleLoggingActor, IWithTimers, IWithStash
{
    /// <summary>
    /// One app as the cluster knows it. <paramref name="OwnerNode"/> is the registry of the node its
    /// control connection is on, <paramref name="OwnerApp"/> the app's actor there (null until it has
    /// started); both are null while the app is held after its node was lost. <paramref name="User"/>:
    /// the app's user (null: admitted by the shared secret).
    /// </summary>
    public sealed record AppEntry(AppName Name, int Port, string? ResumeSha256, bool Redirect, IActorRef? OwnerNode, IActorRef? OwnerApp, UserId? User = null);

    /// <summary>From a node's registry: an app (of <paramref name="User"/>, proven at that node) asks for a name (null: any) and a port (null: any).</summary>
    public sealed record Claim(long Ref, AppName? Name, int? Port, string? ResumeSha256, bool Redirect, UserId? User = null) : IClusterMessage;

    /// <summary>To the claiming registry: the app is the owner of this name and port.</summary>
    public sealed record Granted(long Ref, AppName Name, int Port) : IClusterMessage;

    /// <summary>To the claiming registry: refused with an ERROR code and its text.</summary>
    public sealed record Denied(long Ref, ErrorCode Code, string Text) : IClusterMessage;

    /// <summary>From the owner's registry: the app's actor is running and takes clients from other nodes.</summary>
    public sealed record Owned(AppName Name, IActorRef App) : IClusterMessage;

    /// <summary>From the owner's registry: the app is gone for good (LEAVE, or no return within the grace period).</summary>
    public sealed record Released(AppName Name) : IClusterMessage;

    /// <summary>
    /// From the registry a claim was granted to: the app's connection closed before it could be
    /// answered (or the node is stopping). Like an app whose control connection drops, it is held for
    /// its return if it gave a resume token.
    /// </summary>
    public sealed record Unclaimed(AppName Name) : IClusterMessage;

    /// <summary>
    /// From every node's registry, once a second: the apps it owns, and the public ports it has bound
    /// (an app that is gone may hold its port until its last session ends). <paramref name="Full"/>:
    /// the apps it mirrors too, sent when the directory asks for them with <see cref="SendFullReport"/>.
    /// </summary>
    public sealed record NodeReport(AppEntry[] Apps, int[] BoundPorts, bool Full = false) : IClusterMessage;

    /// <summary>To a node's registry from a directory rebuilding its table: report what you mirror as well.</summary>
    public sealed class SendFullReport : IClusterMessage
    {
        public static readonly SendFullReport Instance = new();
        private SendFullReport() { }
    }

    /// <summary>From a node's registry: the node is stopping (SIGTERM). Its apps are held for their return elsewhere.</summary>
    public sealed class NodeDraining : IClusterMessage
    {
        public static readonly NodeDraining Instance = new();
        private NodeDraining() { }
    }

    /// <summary>To every node's registry after each change: every app in the cluster.</summary>
    public sealed record Table(AppEntry[] Apps) : IClusterMessage;

    /// <summary>How often a node reports; the directory waits a little longer than this before it trusts its table.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(1);

    private sealed class Ready
    {
        public static readonly Ready Instance = new();
        private Ready() { }
    }

    private sealed record HoldExpired(AppName Name);

    /// <summary>Who serves an app: the node's registry and its actor for the app (both null while the app is held for its return).</summary>
    private sealed record Owner(IActorRef? Node, IActorRef? App, bool Redirect);

    private readonly RelaySettings _settings;
    private readonly AppTable<Owner> _apps;
    // The users file of this node (every node reads its own copy): the grants claims are decided by.
    private UserTable? _users;
    private readonly HashSet<IActorRef> _nodes = [];
    private readonly HashSet<IActorRef> _fullyReported = [];
    // Recent answers by claiming node and claim, so that a claim asked again is answered the same.
    private readonly Dictionary<(IActorRef Node, long Ref), object> _answers = [];
    private readonly Queue<(IActorRef Node, long Ref)> _answerOrder = new();
    private const int MaxAnswersKept = 10_000;
    // How long a new directory waits at most for every node's report before it decides anything.
    private static readonly TimeSpan MaxRebuildWait = ReportInterval * 6;
    private DateTime _rebuildingSince;
    // Public ports each node reported bound, and released ports not yet reported unbound by every
    // node: neither is handed out, or a node still draining the old app's sessions could not bind it.
    private readonly Dictionary<IActorRef, HashSet<int>> _bound = [];
    private readonly Dictionary<int, HashSet<IActorRef>> _cooling = [];

    public ClusterDirectoryActor(RelaySettings settings)
    {
        _settings = settings;
        // Every node is expected to run with the same ports; none of them is handed to an app.
        _apps = new AppTable<Owner>(settings.PublicPorts, settings.MaxApps, [settings.ControlPort, settings.DataPort]);
        _users = settings.Users;
        Rebuilding();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    public static Props CreateProps(RelaySettings settings) => Props.Create<ClusterDirectoryActor>(settings);

    protected override void PreStart()
    {
        base.PreStart();
        _rebuildingSince = DateTime.UtcNow;
        Timers.StartSingleTimer(Ready.Instance, Ready.Instance, ReportInterval * 2.5);
        if (_users is not null)
            Context.System.EventStream.Subscribe(Self, typeof(UsersFileActor.UsersChanged));
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        base.PostStop();
    }

    /// <summary>A fresh singleton: it learns the table from the nodes' reports before deciding anything.</summary>
    private void Rebuilding()
    {
        Receive<UsersFileActor.UsersChanged>(changed => _users = changed.Users);
        Receive<NodeReport>(report =>
        {
            Merge(report, rebuilding: true);
            if (!report.Full)
            {
                Sender.Tell(SendFullReport.Instance);
                return;
            }
            _fullyReported.Add(Sender);
            // Every node that is up has reported in full: nothing more is to be learnt by waiting.
            if (NodesNotReported().Count == 0)
                Self.Tell(Ready.Instance);
        });
        Receive<Ready>(_ =>
        {
            // A node that is up but has not reported yet (its proxy is still looking for this new
            // directory) owns apps this table lacks: deciding now could grant its names and ports
            // to others, and a table without its apps makes every other node drop their mirrors.
            var missing = NodesNotReported();
            if (missing.Count > 0 && DateTime.UtcNow - _rebuildingSince < MaxRebuildWait)
            {
                Timers.StartSingleTimer(Ready.Instance, Ready.Instance, ReportInterval);
                return;
            }
            Timers.Cancel(Ready.Instance);
            if (missing.Count > 0)
                Log.Warning("Cluster directory ready on {Node} without reports from {Missing} after {Wait}: their apps are learnt when they report",
                    Cluster().SelfAddress, string.Join(", ", missing), Duration.Format(MaxRebuildWait));
            Log.Info("Cluster directory ready on {Node}: {Apps} apps known from {Nodes} nodes",
                Cluster().SelfAddress, _apps.Count, _nodes.Count);
            Broadcast();
            Stash.UnstashAll();
            Become(Serving);
        });
        // No table goes out before the rebuilt one: a partial one would drop other nodes' mirrors.
        Receive<Terminated>(t =>
        {
            NodeLost(t.ActorRef, broadcast: false);
            if (NodesNotReported().Count == 0)
                Self.Tell(Ready.Instance);
        });
        ReceiveAny(_ => Stash.Stash());
    }

    /// <summary>Reachable relay nodes that are up and have not reported in full to this directory.</summary>
    private List<Address> NodesNotReported()
    {
        var state = Cluster().State;
        return state.Members
            .Where(m => m.Status == MemberStatus.Up && m.HasRole(Hosting.TcpRelayHostingExtensions.ClusterRole)
                        && !state.Unreachable.Any(u => u.Address.Equals(m.Address)))
            .Select(m => m.Address)
            .Where(address => !_fullyReported.Any(n => NodeOf(n).Equals(address)))
            .ToList();
    }

    private void Serving()
    {
        // Apps outside a new grant are dismissed by the node serving them, from its own copy of the file.
        Receive<UsersFileActor.UsersChanged>(changed => _users = changed.Users);
        Receive<Ready>(_ => { }); // every node had reported before the timer
        Receive<NodeReport>(report => Merge(report, rebuilding: false));
        Receive<Claim>(OnClaim);
        Receive<Owned>(owned =>
        {
            if (Find(owned.Name) is { } app && Sender.Equals(app.OwnerNode))
            {
                Put(app with { OwnerApp = owned.App });
                Broadcast();
            }
        });
        Receive<Released>(released =>
        {
            // A held app (its owner's node was lost, or the table was rebuilt without its owner's
            // report) is released by the node that owned it, which knows.
            if (Find(released.Name) is { } app && (Sender.Equals(app.OwnerNode) || app.OwnerNode is null))
            {
                _apps.Remove(released.Name);
                Timers.Cancel(new HoldExpired(released.Name));
                Cool(app.Port);
                Log.Info("Cluster directory: app {App} released port {Port}", released.Name, app.Port);
                Broadcast();
            }
        });
        Receive<Unclaimed>(unclaimed =>
        {
            if (Find(unclaimed.Name) is not { } app || !Sender.Equals(app.OwnerNode))
                return;
            _apps.Remove(unclaimed.Name);
            Hold(app);
            Broadcast();
        });
        Receive<NodeDraining>(_ =>
        {
            Log.Info("Cluster directory: node {Node} is stopping", NodeOf(Sender));
            HoldAppsOf(Sender);
            Broadcast();
        });
        Receive<HoldExpired>(expired =>
        {
            if (Find(expired.Name) is { } app && app.OwnerNode is null)
            {
                _apps.Remove(expired.Name);
                Cool(app.Port);
                Log.Info("Cluster directory: app {App} did not come back within {Grace}; port {Port} released",
                    expired.Name, Duration.Format(_settings.GracePeriod), app.Port);
                Broadcast();
            }
        });
        Receive<Terminated>(t => NodeLost(t.ActorRef, broadcast: true));
    }

    private void Merge(NodeReport report, bool rebuilding)
    {
        var joined = Know(Sender);
        _bound[Sender] = [.. report.BoundPorts];
        foreach (var (port, waitingFor) in _cooling.ToList())
            if (!_bound[Sender].Contains(port) && waitingFor.Remove(Sender) && waitingFor.Count == 0)
                _cooling.Remove(port);
        var changed = false;
        foreach (var app in report.Apps)
        {
            var known = Find(app.Name);
            // What a node owns is the truth, unless another node owns the name already. What a node
            // only mirrors matters while rebuilding: the owner's node may be the one that was lost,
            // and the app is then held for its return (until its owner reports it after all).
            if (Sender.Equals(app.OwnerNode))
            {
                // The owner's Owned may have been lost while this directory moved: the report says it too.
                if (Sender.Equals(known?.OwnerNode) && known.OwnerApp is null && app.OwnerApp is not null)
                {
                    Put(known with { OwnerApp = app.OwnerApp });
                    changed = true;
                    continue;
                }
                if (known?.OwnerNode is not null || PortHeldByAnother(app))
                    continue;
                Timers.Cancel(new HoldExpired(app.Name));
                Put(app);
            }
            else if (known is null && rebuilding && !PortHeldByAnother(app))
            {
                Hold(app);
            }
            else
            {
                continue;
            }
            changed = true;
        }
        if (rebuilding)
            return;
        if (changed)
            Broadcast();
        else if (joined)
            Sender.Tell(new Table(Entries().ToArray()));
    }

    /// <summary>
    /// Whether another app holds the port a report names (granted while the reporting node was
    /// not heard from): one port serves one app, so the first one keeps it.
    /// </summary>
    private bool PortHeldByAnother(AppEntry app)
    {
        if (Entries().FirstOrDefault(a => a.Port == app.Port && a.Name != app.Name) is not { } holder)
            return false;
        Log.Warning("Cluster directory: node {Node} reports app {App} on port {Port}, which app {Holder} holds; it is not taken up",
            NodeOf(Sender), app.Name, app.Port, holder.Name);
        return true;
    }

    private void OnClaim(Claim claim)
    {
        if (Know(Sender))
            Sender.Tell(new Table(Entries().ToArray()));
        // A node asks again while it has no answer (it may have been lost while this directory
        // moved): the same question gets the same answer, not a second name and port.
        if (_answers.TryGetValue((Sender, claim.Ref), out var answer))
        {
            Sender.Tell(answer);
            return;
        }
        var decided = Decide(claim);
        _answers[(Sender, claim.Ref)] = decided;
        _answerOrder.Enqueue((Sender, claim.Ref));
        while (_answerOrder.Count > MaxAnswersKept)
            _answers.Remove(_answerOrder.Dequeue());
        Sender.Tell(decided);
    }

    /// <summary>Grants or denies a claim; the answer is for the claiming node.</summary>
    private object Decide(Claim claim)
    {
        UserGrant? user = null;
        if (claim.User is { } id && (user = _users?.Find(id)) is null)
            return new Denied(claim.Ref, ErrorCode.AuthFailed, "auth does not match");
        var decision = _apps.Decide(claim.Name, claim.Port, claim.ResumeSha256, BoundOrCooling, user);
        if (decision is AppTable<Owner>.Refusal refusal)
            return new Denied(claim.Ref, refusal.Code, refusal.Text);
        if (decision is AppTable<Owner>.Return back)
        {
            var held = EntryOf(back.Held);
            Timers.Cancel(new HoldExpired(held.Name));
            if (!Sender.Equals(held.OwnerNode))
                Log.Info("Cluster directory: app {App} moves to node {Node}", held.Name, NodeOf(Sender));
            Put(held with { OwnerNode = Sender, OwnerApp = Sender.Equals(held.OwnerNode) ? held.OwnerApp : null, Redirect = claim.Redirect });
            Broadcast();
            return new Granted(claim.Ref, held.Name, held.Port);
        }
        var grant = (AppTable<Owner>.Grant)decision;
        Put(new AppEntry(grant.Name, grant.Port, claim.ResumeSha256, claim.Redirect, Sender, null, claim.User));
        Log.Info("Cluster directory: app {App} registered on node {Node} with port {Port}", grant.Name, NodeOf(Sender), grant.Port);
        Broadcast();
        return new Granted(claim.Ref, grant.Name, grant.Port);
    }

    /// <summary>Ports bound somewhere, or released but not yet unbound everywhere: not handed out.</summary>
    private bool BoundOrCooling(int port) => _cooling.ContainsKey(port) || _bound.Values.Any(ports => ports.Contains(port));

    /// <summary>Starts sending a node's registry the table and watching for its loss; true if it was new.</summary>
    private bool Know(IActorRef node)
    {
        if (!_nodes.Add(node))
            return false;
        Context.Watch(node);
        Log.Info("Cluster directory: node {Node} joined", NodeOf(node));
        return true;
    }

    /// <summary>The node is gone (the cluster downed it, or it left): its apps are held for their return or dropped.</summary>
    private void NodeLost(IActorRef node, bool broadcast)
    {
        if (!_nodes.Remove(node))
            return;
        Log.Warning("Cluster directory: node {Node} is gone", NodeOf(node));
        _bound.Remove(node);
        foreach (var (port, waitingFor) in _cooling.ToList())
            if (waitingFor.Remove(node) && waitingFor.Count == 0)
                _cooling.Remove(port);
        HoldAppsOf(node);
        if (broadcast)
            Broadcast();
    }

    private void HoldAppsOf(IActorRef node)
    {
        foreach (var app in Entries().Where(a => node.Equals(a.OwnerNode)).ToList())
        {
            _apps.Remove(app.Name);
            Hold(app);
        }
    }

    /// <summary>A released port is free once every node has reported it unbound.</summary>
    private void Cool(int port)
    {
        if (_nodes.Count > 0)
            _cooling[port] = [.. _nodes];
    }

    private void Hold(AppEntry app)
    {
        if (app.ResumeSha256 is null || _settings.GracePeriod <= TimeSpan.Zero)
        {
            Cool(app.Port);
            return;
        }
        Put(app with { OwnerNode = null, OwnerApp = null });
        Timers.StartSingleTimer(new HoldExpired(app.Name), new HoldExpired(app.Name), _settings.GracePeriod);
        Log.Info("Cluster directory: app {App} lost its node; name and port {Port} held for {Grace}",
            app.Name, app.Port, Duration.Format(_settings.GracePeriod));
    }

    private void Broadcast()
    {
        var table = new Table(Entries().ToArray());
        foreach (var node in _nodes)
            node.Tell(table);
    }

    private IEnumerable<AppEntry> Entries() => _apps.Entries.Select(EntryOf);

    private AppEntry? Find(AppName name) => _apps.TryGet(name, out var entry) ? EntryOf(entry) : null;

    private static AppEntry EntryOf(AppTable<Owner>.Entry entry) =>
        new(entry.Name, entry.Port, entry.ResumeSha256, entry.App.Redirect, entry.App.Node, entry.App.App, entry.User);

    /// <summary>Records what is known of an app, in place of what was.</summary>
    private void Put(AppEntry app)
    {
        _apps.Remove(app.Name);
        _apps.Add(app.Name, app.Port, app.ResumeSha256, new Owner(app.OwnerNode, app.OwnerApp, app.Redirect), app.User);
    }

    private Akka.Cluster.Cluster Cluster() => Akka.Cluster.Cluster.Get(Context.System);

    // A registry on this node has a local path, which names no host.
    private Address NodeOf(IActorRef registry) =>
        registry.Path.Address.HasGlobalScope ? registry.Path.Address : Cluster().SelfAddress;
}
