using TcpRelay.Protocol;

namespace TcpRelay.Server.Registration;

/// <summary>
/// The registration rules, decided in this one place for a single relay (its registry) and for a
/// cluster (its directory): who may have a name and a public port, which name an app that asks
/// for none gets, which port an app that asks for none gets, when a REGISTER is an app coming
/// back, and the limits. It only decides and records; telling apps is its owner's business.
/// <para>
/// A name is held by one app; a port by the app it was given to, and it may stay held after the
/// name is free (a single relay keeps the port bound until the app's last paired session ends).
/// <typeparamref name="TApp"/> is whatever the owner knows an app by (an actor, a cluster entry).
/// </para>
/// </summary>
internal sealed class AppTable<TApp>
{
    /// <summary>A name held: its port, the hash of its resume token (null: not held for a return), and the app.</summary>
    public sealed record Entry(AppName Name, int Port, string? ResumeSha256, TApp App);

    /// <summary>What the table makes of a REGISTER.</summary>
    public abstract record Decision;

    /// <summary>A new registration: the app may have this name and port (<see cref="Add"/> records it).</summary>
    public sealed record Grant(AppName Name, int Port) : Decision;

    /// <summary>The holder of the name coming back with its resume token: it keeps name and port.</summary>
    public sealed record Return(Entry Held) : Decision;

    /// <summary>Refused with this ERROR code and text.</summary>
    public sealed record Refusal(ErrorCode Code, string Text) : Decision;

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
    /// Decides a REGISTER in protocol.md's order: the name (an app coming back with its token keeps
    /// it, and may not ask for another port), then the port asked for, then the limits, then a free
    /// port. Records nothing: a <see cref="Grant"/> is the owner's to <see cref="Add"/>.
    /// </summary>
    /// <param name="name">The name asked for, or null for a generated one.</param>
    /// <param name="port">The port asked for, or null for the lowest free one.</param>
    /// <param name="unavailable">Ports the owner knows to be unusable beyond the table (bound on some node, still draining).</param>
    /// <param name="resumeSha256">The <see cref="ResumeHash"/> of the REGISTER's token, or null if it gave none.</param>
    public Decision Decide(AppName? name, int? port, string? resumeSha256, Func<int, bool>? unavailable = null)
    {
        if (name is { } asked && _names.TryGetValue(asked, out var held))
        {
            // The token, not the connection or the node, tells a returning app from another one wanting its name.
            if (resumeSha256 is null || held.ResumeSha256 != resumeSha256)
                return new Refusal(ErrorCode.NameInUse, $"name '{asked}' is in use");
            if (port is { } other && other != held.Port)
                return new Refusal(ErrorCode.NameInUse, $"name '{asked}' is held with port {held.Port}, not {other}");
            return new Return(held);
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
        var granted = port ?? FreePortFrom(_publicPorts.First, unavailable);
        if (granted is null)
            return new Refusal(ErrorCode.Limit, $"no free port left in the public range {_publicPorts}");
        return new Grant(name ?? GenerateName(), granted.Value);
    }

    /// <summary>
    /// Whether a registration the relay held before (its state file, a node's report) may be taken
    /// up again: null if so, else why not. The same rules as <see cref="Decide"/>, without a token.
    /// </summary>
    public string? WhyNotRestored(AppName name, int port) =>
        Decide(name, port, null) is Refusal refusal ? refusal.Text : null;

    /// <summary>Records a name and its port for <paramref name="app"/>.</summary>
    public Entry Add(AppName name, int port, string? resumeSha256, TApp app)
    {
        var entry = new Entry(name, port, resumeSha256, app);
        _names[name] = entry;
        _ports[port] = new Holder(app, Reserved: false);
        return entry;
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

    /// <summary>The lowest free public port from <paramref name="first"/> on (lowest free first, skipping ports known unusable).</summary>
    public int? FreePortFrom(int first, Func<int, bool>? unavailable = null)
    {
        for (var port = Math.Max(first, _publicPorts.First); port <= _publicPorts.Last; port++)
            if (!_ports.ContainsKey(port) && unavailable?.Invoke(port) != true)
                return port;
        return null;
    }

    private AppName GenerateName()
    {
        while (true)
        {
            var name = AppName.Parse($"app-{++_generatedNames}").Value;
            if (!_names.ContainsKey(name))
                return name;
        }
    }

    private static bool Same(TApp? a, TApp? b) => EqualityComparer<TApp>.Default.Equals(a, b);
}
