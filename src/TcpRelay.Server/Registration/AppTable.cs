using TcpRelay.Protocol;

namespace TcpRelay.Server.Registration;

/// <summary>
/// The registration rules, decided in this one place for a single relay (its registry) and for a
/// cluster (its directory): who may have a name and a public port, which name an app that asks
/// for none gets, which port an app that asks for none gets, when a REGISTER is an app coming
/// back, and the limits. It only decides and records; telling apps is its owner's business.
/// <para>
/// A name is held by one app, or by several instances of one app that all asked to share it (one
/// public port, one <typeparamref name="TApp"/> serving them all); a port by the app it was given
/// to, and it may stay held after the name is free (a single relay keeps the port bound until the
/// app's last paired session ends).
/// <typeparamref name="TApp"/> is whatever the owner knows an app by (an actor, a cluster entry).
/// </para>
/// </summary>
internal sealed class AppTable<TApp>
{
    /// <summary>
    /// A name held: its port, the hash of its resume token (null: not held for a return), the app, its
    /// user (null: admitted by the shared secret), and whether it is shared; a shared name's
    /// <see cref="Instances"/> are the resume hashes of the instances that hold it with a token.
    /// </summary>
    public sealed record Entry(AppName Name, int Port, string? ResumeSha256, TApp App, UserId? User = null, bool Shared = false)
    {
        /// <summary>The resume hashes of a shared name's instances (the first one's is <see cref="ResumeSha256"/>); empty for a name that is not shared.</summary>
        public IReadOnlySet<string> Instances { get; init; } = NoInstances;

        /// <summary>Whether the holder of <paramref name="resumeSha256"/> is this name's app, or one of its instances.</summary>
        public bool HeldWith(string? resumeSha256) => resumeSha256 is not null && (resumeSha256 == ResumeSha256 || Instances.Contains(resumeSha256));
    }

    /// <summary>What the table makes of a REGISTER.</summary>
    public abstract record Decision;

    /// <summary>A new registration: the app may have this name and port (<see cref="Add"/> records it).</summary>
    public sealed record Grant(AppName Name, int Port) : Decision;

    /// <summary>The holder of the name coming back with its resume token: it keeps name and port.</summary>
    public sealed record Return(Entry Held) : Decision;

    /// <summary>Another instance of a shared name: it joins the instances of <paramref name="Held"/> on their port (<see cref="AddInstance"/> records it).</summary>
    public sealed record Join(Entry Held) : Decision;

    /// <summary>Refused with this ERROR code and text.</summary>
    public sealed record Refusal(ErrorCode Code, string Text) : Decision;

    // One empty set for every name that is not shared, so that such entries compare by their values.
    private static readonly IReadOnlySet<string> NoInstances = new HashSet<string>();

    private readonly PublicPortRange _publicPorts;
    private readonly int _maxApps;
    private readonly Dictionary<AppName, Entry> _names = [];
    // Held ports and who holds them; a reserved port (one of the relay's own) has no holder.
    private readonly Dictionary<int, Holder> _ports = [];
    private int _generatedNames;

    private readonly record struct Holder(TApp? App, bool Reserved);

    /// <param name="publicPorts">The range apps' ports come from.</param>
    /// <param name="maxApps">How many names may be held at once.</param>
    /// <param name="reserved">The relay's own ports: never handed out, and asking for one is port-in-use
    /// (a public range may be configured to contain the data port, as protocol.md's 8081-8180 and 8082 do).</param>
    public AppTable(PublicPortRange publicPorts, int maxApps, IEnumerable<int> reserved)
    {
        _publicPorts = publicPorts;
        _maxApps = maxApps;
        foreach (var port in reserved)
            if (port != 0)
                _ports[port] = new Holder(default, Reserved: true);
    }

    /// <summary>How many names are held.</summary>
    public int Count => _names.Count;

    /// <summary>Every name held.</summary>
    public IEnumerable<Entry> Entries => _names.Values;

    /// <summary>The entry holding <paramref name="name"/>, if any.</summary>
    public bool TryGet(AppName name, out Entry entry) => _names.TryGetValue(name, out entry!);

    /// <summary>Ports held by an app (not the reserved ones), with or without a name.</summary>
    public IEnumerable<int> HeldPorts => _ports.Where(p => !p.Value.Reserved).Select(p => p.Key);

    /// <summary>
    /// Decides a REGISTER in protocol.md's order: the user's grant of name and port, the name (an app
    /// coming back with its token keeps it, and may not ask for another port), then the port asked
    /// for, then the limits (the relay's, the user's), then a free port (within the user's ports).
    /// Records nothing: a <see cref="Grant"/> is the owner's to <see cref="Add"/>.
    /// </summary>
    /// <param name="name">The name asked for, or null for a generated one.</param>
    /// <param name="port">The port asked for, or null for the lowest free one.</param>
    /// <param name="unavailable">Ports the owner knows to be unusable beyond the table (bound on some node, still draining).</param>
    /// <param name="resumeSha256">The <see cref="ResumeHash"/> of the REGISTER's token, or null if it gave none.</param>
    /// <param name="user">The user the app proved to be, or null (admitted by the shared secret: no grant beyond the relay's rules).</param>
    /// <param name="shared">The app asks to share its name: it joins a holder that asked the same, of the same user.</param>
    public Decision Decide(AppName? name, int? port, string? resumeSha256, Func<int, bool>? unavailable = null, UserGrant? user = null,
        bool shared = false)
    {
        if (user is not null)
        {
            if (name is { } wanted && user.WhyNotName(wanted) is { } notName)
                return new Refusal(ErrorCode.NotAllowed, notName);
            if (port is { } inRange && _publicPorts.Contains(inRange) && user.WhyNotPort(inRange) is { } notPort)
                return new Refusal(ErrorCode.NotAllowed, notPort);
        }
        if (name is { } asked && _names.TryGetValue(asked, out var held))
        {
            // The token, not the connection or the node, tells a returning app from another one
            // wanting its name; and a token is only good for the user that registered with it.
            var sameUser = held.User == user?.Id;
            if (sameUser && held.HeldWith(resumeSha256))
            {
                if (port is { } other && other != held.Port)
                    return new Refusal(ErrorCode.NameInUse, $"name '{asked}' is held with port {held.Port}, not {other}");
                return new Return(held);
            }
            // Sharing takes both sides asking for it, so that nobody ends up sharing by surprise.
            if (!shared || !held.Shared || !sameUser)
                return new Refusal(ErrorCode.NameInUse, $"name '{asked}' is in use" + (shared && held.Shared ? " by another user" : shared ? " and not shared" : ""));
            if (port is { } fixedPort && fixedPort != held.Port)
                return new Refusal(ErrorCode.NameInUse, $"name '{asked}' is shared on port {held.Port}, not {fixedPort}");
            return new Join(held);
        }
        if (port is { } requested)
        {
            if (!_publicPorts.Contains(requested))
                return new Refusal(ErrorCode.PortNotAllowed, $"port {requested} is outside the public range {_publicPorts}");
            if (_ports.ContainsKey(requested) || unavailable?.Invoke(requested) == true)
                return new Refusal(ErrorCode.PortInUse, $"port {requested} is in use");
        }
        if (_names.Count >= _maxApps)
            return new Refusal(ErrorCode.Limit, $"the relay serves its maximum of {_maxApps} apps");
        if (user?.MaxApps is { } most && _names.Values.Count(e => e.User == user.Id) >= most)
            return new Refusal(ErrorCode.Limit, $"user {user.Id} has {most} apps registered, the most its grant allows (max-apps)");
        var range = user?.Ports ?? _publicPorts;
        var granted = port ?? FreePortFrom(range.First, unavailable, range.Last);
        if (granted is null)
            return new Refusal(ErrorCode.Limit, $"no free port left in {(user?.Ports is null ? "the public range" : $"user {user.Id}'s ports")} {range}");
        if (name is null && user is not null)
            return user.NameFor(GenerateName, _names.ContainsKey) is { } made
                ? new Grant(made, granted.Value)
                : new Refusal(ErrorCode.NotAllowed, $"user {user.Id} must ask for a name: each of {string.Join(", ", user.Names!)} is in use");
        return new Grant(name ?? GenerateName("app-"), granted.Value);
    }

    /// <summary>
    /// Whether a registration the relay held before (its state file, a node's report) may be taken
    /// up again: null if so, else why not. The same rules as <see cref="Decide"/>, without a token.
    /// </summary>
    public string? WhyNotRestored(AppName name, int port) =>
        Decide(name, port, null) is Refusal refusal ? refusal.Text : null;

    /// <summary>Records a name and its port for <paramref name="app"/> of <paramref name="user"/>; <paramref name="shared"/>: other instances may join it.</summary>
    public Entry Add(AppName name, int port, string? resumeSha256, TApp app, UserId? user = null, bool shared = false)
    {
        var entry = new Entry(name, port, resumeSha256, app, user, shared)
        {
            Instances = shared && resumeSha256 is not null ? new HashSet<string> { resumeSha256 } : NoInstances,
        };
        _names[name] = entry;
        _ports[port] = new Holder(app, Reserved: false);
        return entry;
    }

    /// <summary>Another instance holds the shared name with <paramref name="resumeSha256"/> (null: it gave no token and is not held for a return).</summary>
    public void AddInstance(AppName name, string? resumeSha256)
    {
        if (resumeSha256 is not null && _names.TryGetValue(name, out var entry))
            _names[name] = entry with { Instances = new HashSet<string>(entry.Instances) { resumeSha256 } };
    }

    /// <summary>
    /// One instance of a shared name is gone (the others hold it on); a token that was the name's own
    /// passes to another instance's, so that the name is saved and restored with a live one.
    /// </summary>
    public void RemoveInstance(AppName name, string? resumeSha256)
    {
        if (resumeSha256 is null || !_names.TryGetValue(name, out var entry))
            return;
        var instances = new HashSet<string>(entry.Instances);
        instances.Remove(resumeSha256);
        var own = entry.ResumeSha256 == resumeSha256 ? instances.FirstOrDefault() : entry.ResumeSha256;
        _names[name] = entry with { ResumeSha256 = own, Instances = instances };
    }

    /// <summary>Changes what is known of a name's app (its token, its owner); the port is <see cref="Move"/>'s.</summary>
    public void Update(AppName name, Func<Entry, Entry> change)
    {
        if (_names.TryGetValue(name, out var entry))
            _names[name] = change(entry) with { Name = name, Port = entry.Port };
    }

    /// <summary>The app of a name holds another port from now on (the one it had could not be bound); the old one is free.</summary>
    public void Move(AppName name, int port)
    {
        if (!_names.TryGetValue(name, out var entry))
            return;
        ReleasePort(entry.Port, entry.App);
        _names[name] = entry with { Port = port };
        _ports[port] = new Holder(entry.App, Reserved: false);
    }

    /// <summary>Frees the name if <paramref name="app"/> holds it; its port stays held until <see cref="ReleasePort"/>.</summary>
    public bool ReleaseName(AppName name, TApp app)
    {
        if (!_names.TryGetValue(name, out var entry) || !Same(entry.App, app))
            return false;
        _names.Remove(name);
        return true;
    }

    /// <summary>Frees the port if <paramref name="app"/> holds it.</summary>
    public bool ReleasePort(int port, TApp app)
    {
        if (!_ports.TryGetValue(port, out var holder) || holder.Reserved || !Same(holder.App, app))
            return false;
        _ports.Remove(port);
        return true;
    }

    /// <summary>Frees the name and port of <paramref name="name"/>, whoever holds them.</summary>
    public Entry? Remove(AppName name)
    {
        if (!_names.Remove(name, out var entry))
            return null;
        ReleasePort(entry.Port, entry.App);
        return entry;
    }

    /// <summary>Frees every name and port <paramref name="app"/> holds (its actor stopped).</summary>
    public void RemoveApp(TApp app)
    {
        foreach (var name in _names.Values.Where(e => Same(e.App, app)).Select(e => e.Name).ToList())
            _names.Remove(name);
        foreach (var port in _ports.Where(p => !p.Value.Reserved && Same(p.Value.App, app)).Select(p => p.Key).ToList())
            _ports.Remove(port);
    }

    /// <summary>The lowest free public port from <paramref name="first"/> on, up to <paramref name="last"/> (lowest free first, skipping ports known unusable).</summary>
    public int? FreePortFrom(int first, Func<int, bool>? unavailable = null, int? last = null)
    {
        for (var port = Math.Max(first, _publicPorts.First); port <= Math.Min(last ?? _publicPorts.Last, _publicPorts.Last); port++)
            if (!_ports.ContainsKey(port) && unavailable?.Invoke(port) != true)
                return port;
        return null;
    }

    /// <summary>A free name of <paramref name="prefix"/> and a number (the prefix is a granted one, or the relay's app-).</summary>
    private AppName GenerateName(string prefix)
    {
        while (true)
        {
            var name = AppName.Parse($"{prefix}{++_generatedNames}").Value;
            if (!_names.ContainsKey(name))
                return name;
        }
    }

    private static bool Same(TApp? a, TApp? b) => EqualityComparer<TApp>.Default.Equals(a, b);
}
