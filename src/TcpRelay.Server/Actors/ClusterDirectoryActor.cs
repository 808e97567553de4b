using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace TcpRelay.Server.Actors;

/// <summary>
/// The cluster's one table of registered apps (a cluster singleton): it alone decides who gets a name
/// and a public port, so two apps racing for a name on different nodes cannot both win. Each node's
/// <see cref="RegistryActor"/> asks it to <see cref="Claim"/> and is sent the whole <see cref="Table"/>
/// after every change, from which it binds every app's port on its own address.
/// <para>
/// Its state is soft: every node reports what it owns (and the ports it has bound) once a second,
/// and what it mirrors when asked, so a singleton that starts afresh on another node (its old node
/// was lost) rebuilds the table from those reports before it answers a claim. An app whose node is lost is held for the grace period, so that it can come
/// back on another node with its resume token and keep its name and port.
/// </para>
/// Every message here crosses nodes: only strings, numbers and actor references, never bytes.
/// </summary>
internal sealed class ClusterDirectoryActor : LifecycleLoggingActor, IWithTimers, IWithStash
{
    /// <summary>
    /// One app as the cluster knows it. <paramref name="OwnerNode"/> is the registry of the node its
    /// control connection is on, <paramref name="OwnerApp"/> the app's actor there (null until it has
    /// started); both are null while the app is held after its node was lost.
    /// </summary>
    public sealed record AppEntry(string Name, int Port, string? Resume, bool Redirect, IActorRef? OwnerNode, IActorRef? OwnerApp);

    /// <summary>From a node's registry: an app asks for a name (null: any) and a port (null: any).</summary>
    public sealed record Claim(long Ref, string? Name, int? Port, string? Resume, bool Redirect);

    /// <summary>To the claiming registry: the app is the owner of this name and port.</summary>
    public sealed record Granted(long Ref, string Name, int Port);

    /// <summary>To the claiming registry: refused with an ERROR code and its text.</summary>
    public sealed record Denied(long Ref, string Code, string Text);

    /// <summary>From the owner's registry: the app's actor is running and takes clients from other nodes.</summary>
    public sealed record Owned(string Name, IActorRef App);

    /// <summary>From the owner's registry: the app is gone for good (LEAVE, or no return within the grace period).</summary>
    public sealed record Released(string Name);

    /// <summary>
    /// From the registry a claim was granted to: the app's connection closed before it could be
    /// answered (or the node is stopping). Like an app whose control connection drops, it is held for
    /// its return if it gave a resume token.
    /// </summary>
    public sealed record Unclaimed(string Name);

    /// <summary>
    /// From every node's registry, once a second: the apps it owns, and the public ports it has bound
    /// (an app that is gone may hold its port until its last session ends). <paramref name="Full"/>:
    /// the apps it mirrors too, sent when the directory asks for them with <see cref="SendFullReport"/>.
    /// </summary>
    public sealed record NodeReport(AppEntry[] Apps, int[] BoundPorts, bool Full = false);

    /// <summary>To a node's registry from a directory rebuilding its table: report what you mirror as well.</summary>
    public sealed class SendFullReport
    {
        public static readonly SendFullReport Instance = new();
        private SendFullReport() { }
    }

    /// <summary>From a node's registry: the node is stopping (SIGTERM). Its apps are held for their return elsewhere.</summary>
    public sealed class NodeDraining
    {
        public static readonly NodeDraining Instance = new();
        private NodeDraining() { }
    }

    /// <summary>To every node's registry after each change: every app in the cluster.</summary>
    public sealed record Table(AppEntry[] Apps);

    /// <summary>How often a node reports; the directory waits a little longer than this before it trusts its table.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(1);

    private sealed class Ready
    {
        public static readonly Ready Instance = new();
        private Ready() { }
    }

    private sealed record HoldExpired(string Name);

    private readonly RelaySettings _settings;
    private readonly HashSet<int> _reserved;
    private readonly Dictionary<string, AppEntry> _apps = [];
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
    private int _generatedNames;

    public ClusterDirectoryActor(RelaySettings settings)
    {
        _settings = settings;
        // Every node is expected to run with the same ports; none of them is handed to an app.
        _reserved = [settings.ControlPort, settings.DataPort];
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
    }

    /// <summary>A fresh singleton: it learns the table from the nodes' reports before deciding anything.</summary>
    private void Rebuilding()
    {
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
        Receive<Ready>(_ => { }); // every node had reported before the timer
        Receive<NodeReport>(report => Merge(report, rebuilding: false));
        Receive<Claim>(OnClaim);
        Receive<Owned>(owned =>
        {
            if (_apps.TryGetValue(owned.Name, out var app) && Sender.Equals(app.OwnerNode))
            {
                _apps[owned.Name] = app with { OwnerApp = owned.App };
                Broadcast();
            }
        });
        Receive<Released>(released =>
        {
            // A held app (its owner's node was lost, or the table was rebuilt without its owner's
            // report) is released by the node that owned it, which knows.
            if (_apps.TryGetValue(released.Name, out var app) && (Sender.Equals(app.OwnerNode) || app.OwnerNode is null))
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
            if (!_apps.TryGetValue(unclaimed.Name, out var app) || !Sender.Equals(app.OwnerNode))
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
            if (_apps.TryGetValue(expired.Name, out var app) && app.OwnerNode is null)
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
            _apps.TryGetValue(app.Name, out var known);
            // What a node owns is the truth, unless another node owns the name already. What a node
            // only mirrors matters while rebuilding: the owner's node may be the one that was lost,
            // and the app is then held for its return (until its owner reports it after all).
            if (Sender.Equals(app.OwnerNode))
            {
                // The owner's Owned may have been lost while this directory moved: the report says it too.
                if (Sender.Equals(known?.OwnerNode) && known.OwnerApp is null && app.OwnerApp is not null)
                {
                    _apps[app.Name] = known with { OwnerApp = app.OwnerApp };
                    changed = true;
                    continue;
                }
                if (known?.OwnerNode is not null || PortHeldByAnother(app))
                    continue;
                Timers.Cancel(new HoldExpired(app.Name));
                _apps[app.Name] = app;
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
            Sender.Tell(new Table(_apps.Values.ToArray()));
    }

    /// <summary>
    /// Whether another app holds the port a report names (granted while the reporting node was
    /// not heard from): one port serves one app, so the first one keeps it.
    /// </summary>
    private bool PortHeldByAnother(AppEntry app)
    {
        if (_apps.Values.FirstOrDefault(a => a.Port == app.Port && a.Name != app.Name) is not { } holder)
            return false;
        Log.Warning("Cluster directory: node {Node} reports app {App} on port {Port}, which app {Holder} holds; it is not taken up",
            NodeOf(Sender), app.Name, app.Port, holder.Name);
        return true;
    }

    private void OnClaim(Claim claim)
    {
        if (Know(Sender))
            Sender.Tell(new Table(_apps.Values.ToArray()));
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
        if (claim.Name is { } name && _apps.TryGetValue(name, out var held))
        {
            // The token, not the node, tells a returning app from another one wanting its name.
            if (claim.Resume is not null && claim.Resume == held.Resume)
            {
                if (claim.Port is { } asked && asked != held.Port)
                    return new Denied(claim.Ref, "name-in-use", $"name '{name}' is held with port {held.Port}, not {asked}");
                Timers.Cancel(new HoldExpired(name));
                if (!Sender.Equals(held.OwnerNode))
                    Log.Info("Cluster directory: app {App} moves to node {Node}", name, NodeOf(Sender));
                _apps[name] = held with { OwnerNode = Sender, OwnerApp = Sender.Equals(held.OwnerNode) ? held.OwnerApp : null, Redirect = claim.Redirect };
                Broadcast();
                return new Granted(claim.Ref, name, held.Port);
            }
            return new Denied(claim.Ref, "name-in-use", $"name '{name}' is in use");
        }
        int port;
        if (claim.Port is { } requested)
        {
            if (Taken().Contains(requested))
                return new Denied(claim.Ref, "port-in-use", $"port {requested} is in use");
            port = requested;
        }
        else
        {
            port = 0;
        }
        if (_apps.Count >= _settings.MaxApps)
            return new Denied(claim.Ref, "limit", $"the relay serves its maximum of {_settings.MaxApps} apps");
        if (port == 0)
        {
            var taken = Taken();
            var free = Enumerable.Range(_settings.PublicPorts.First, _settings.PublicPorts.Last - _settings.PublicPorts.First + 1)
                .FirstOrDefault(p => !taken.Contains(p));
            if (free == 0)
                return new Denied(claim.Ref, "limit", $"no free port left in the public range {_settings.PublicPorts}");
            port = free;
        }
        var granted = claim.Name ?? GenerateName();
        _apps[granted] = new AppEntry(granted, port, claim.Resume, claim.Redirect, Sender, null);
        Log.Info("Cluster directory: app {App} registered on node {Node} with port {Port}", granted, NodeOf(Sender), port);
        Broadcast();
        return new Granted(claim.Ref, granted, port);
    }

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
        foreach (var app in _apps.Values.Where(a => node.Equals(a.OwnerNode)).ToList())
        {
            _apps.Remove(app.Name);
            Hold(app);
        }
    }

    /// <summary>Ports that cannot be handed out: apps', the relay's own, bound somewhere, or released but not yet unbound everywhere.</summary>
    private HashSet<int> Taken() =>
        [.. _apps.Values.Select(a => a.Port), .. _reserved, .. _bound.Values.SelectMany(p => p), .. _cooling.Keys];

    /// <summary>A released port is free once every node has reported it unbound.</summary>
    private void Cool(int port)
    {
        if (_nodes.Count > 0)
            _cooling[port] = [.. _nodes];
    }

    private void Hold(AppEntry app)
    {
        if (app.Resume is null || _settings.GracePeriod <= TimeSpan.Zero)
        {
            Cool(app.Port);
            return;
        }
        _apps[app.Name] = app with { OwnerNode = null, OwnerApp = null };
        Timers.StartSingleTimer(new HoldExpired(app.Name), new HoldExpired(app.Name), _settings.GracePeriod);
        Log.Info("Cluster directory: app {App} lost its node; name and port {Port} held for {Grace}",
            app.Name, app.Port, Duration.Format(_settings.GracePeriod));
    }

    private void Broadcast()
    {
        var table = new Table(_apps.Values.ToArray());
        foreach (var node in _nodes)
            node.Tell(table);
    }

    private string GenerateName()
    {
        while (true)
        {
            var name = $"app-{++_generatedNames}";
            if (!_apps.ContainsKey(name))
                return name;
        }
    }

    private Cluster Cluster() => Akka.Cluster.Cluster.Get(Context.System);

    // A registry on this node has a local path, which names no host.
    private Address NodeOf(IActorRef registry) =>
        registry.Path.Address.HasGlobalScope ? registry.Path.Address : Cluster().SelfAddress;
}
