using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Reflection;
using TcpRelay.Protocol;

namespace TcpRelay.Server.Telemetry;

/// <summary>
/// The relay's live status board. Each entry is written only by the actor it describes (an app's
/// actor its <see cref="AppStatus"/>, a session's actor its <see cref="SessionStatus"/>) and read by
/// anyone, so a scrape or a status page needs no message to the actors and never holds one up.
/// </summary>
public sealed class RelayStatus
{
    private readonly ConcurrentDictionary<AppStatus, byte> _apps = new();
    private long _endedFromClients;
    private long _endedFromApps;
    private readonly Lock _reported = new();
    private long _reportedFromClients;
    private long _reportedFromApps;
    private readonly long[] _endedByCause = new long[Enum.GetValues<SessionEndCause>().Length];
    private volatile bool _ready;
    private volatile bool _draining;
    private volatile RelayIdentity? _identity;

    /// <summary>This relay's version, as its assembly carries it (Directory.Build.props' Version).</summary>
    public static string Version { get; } =
        typeof(RelayStatus).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";

    /// <summary>When the board was made: the relay's actor system started.</summary>
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>What the relay is and listens on, once it is ready; null before.</summary>
    public RelayIdentity? Identity => _identity;

    /// <summary>This relay's address in its cluster (akka.tcp://tcprelay@HOST:PORT), or null for a single relay.</summary>
    public string? Node { get; internal set; }

    /// <summary>Both the control and the data port are bound.</summary>
    public bool Ready => _ready;

    /// <summary>The relay is draining for shutdown: no new apps or clients.</summary>
    public bool Draining => _draining;

    // Apps mirrored from other nodes are theirs to count.
    internal int AppCount => _apps.Keys.Count(a => !a.Departed && a.ControlNode is null);

    internal int SessionCount => _apps.Keys.Sum(a => a.SessionCount);

    internal void MarkReady(RelayIdentity identity)
    {
        _identity = identity;
        _ready = true;
    }

    internal void CountEnded(SessionEndCause cause) => Interlocked.Increment(ref _endedByCause[(int)cause]);

    internal void MarkDraining() => _draining = true;

    internal AppStatus AppRegistered(AppName name, int port, UserId? user = null, bool shared = false)
    {
        var app = new AppStatus(this, name, port, user, shared);
        _apps[app] = 0;
        return app;
    }

    internal void AppStopped(AppStatus app) => _apps.TryRemove(app, out _);

    internal void AddEnded(long fromClient, long fromApp)
    {
        Interlocked.Add(ref _endedFromClients, fromClient);
        Interlocked.Add(ref _endedFromApps, fromApp);
    }

    /// <summary>
    /// Bytes relayed since start, each way: sessions that ended plus those still open. Never less
    /// than an earlier answer, as a counter must be: a session ending during the sum leaves the open
    /// ones before its bytes reach the ended totals, so one sum can come out short by it.
    /// </summary>
    public (long FromClients, long FromApps) TotalBytes()
    {
        long fromClients = Interlocked.Read(ref _endedFromClients), fromApps = Interlocked.Read(ref _endedFromApps);
        foreach (var app in _apps.Keys)
        foreach (var session in app.LiveSessions)
        {
            fromClients += session.BytesFromClient;
            fromApps += session.BytesFromApp;
        }
        lock (_reported)
        {
            _reportedFromClients = Math.Max(_reportedFromClients, fromClients);
            _reportedFromApps = Math.Max(_reportedFromApps, fromApps);
            return (_reportedFromClients, _reportedFromApps);
        }
    }

    /// <summary>A consistent-enough copy for a status page: each figure is exact, taken a moment apart.</summary>
    public RelaySnapshot Snapshot()
    {
        var now = DateTimeOffset.UtcNow;
        var apps = _apps.Keys
            .OrderBy(a => a.Name.Value, StringComparer.Ordinal).ThenBy(a => a.Departed)
            .Select(a => a.Snapshot(now))
            .ToList();
        var (fromClients, fromApps) = TotalBytes();
        var ended = Enum.GetValues<SessionEndCause>().ToDictionary(c => c.Tag(), c => Interlocked.Read(ref _endedByCause[(int)c]));
        return new RelaySnapshot(Node, Ready, Draining, apps.Count(a => !a.Leaving && a.ControlNode is null), apps.Sum(a => a.SessionsActive),
            fromClients, fromApps, apps)
        {
            Relay = _identity,
            UptimeSeconds = Math.Round((now - StartedAt).TotalSeconds, 1),
            SessionsEnded = ended.Values.Sum(),
            SessionsEndedByCause = ended,
        };
    }
}

/// <summary>One app's entry on the board, written by its actor.</summary>
public sealed class AppStatus
{
    private readonly RelayStatus _relay;
    private readonly ConcurrentDictionary<SessionId, SessionStatus> _sessions = new();
    private long _endedFromClients;
    private long _endedFromApp;
    // Each role's control connection, in the order they came (null: away in its grace period); a shared name has several.
    private readonly List<(string Instance, IPEndPoint? Control)> _controls = [];
    private volatile string? _controlNode;
    private volatile bool _departed;

    internal AppStatus(RelayStatus relay, AppName name, int port, UserId? user, bool shared)
    {
        _relay = relay;
        Name = name;
        Port = port;
        User = user;
        Shared = shared;
        RegisteredAt = DateTimeOffset.UtcNow;
    }

    /// <summary>Whether several instances may hold the name.</summary>
    public bool Shared { get; }

    /// <summary>The app's name.</summary>
    public AppName Name { get; }

    /// <summary>Its public port.</summary>
    public int Port { get; }

    /// <summary>The user of the users file it registered as; null: admitted by the shared secret.</summary>
    public UserId? User { get; }

    /// <summary>When it registered.</summary>
    public DateTimeOffset RegisteredAt { get; }

    internal bool Departed => _departed;

    internal int SessionCount => _sessions.Count;

    internal IEnumerable<SessionStatus> LiveSessions => _sessions.Values;

    /// <summary>The control connection of the role <paramref name="instance"/> is (back) on this address; null while it is away in its grace period.</summary>
    internal void ControlFrom(string instance, IPEndPoint? control)
    {
        lock (_controls)
        {
            var at = _controls.FindIndex(c => c.Instance == instance);
            if (at < 0)
                _controls.Add((instance, control));
            else
                _controls[at] = (instance, control);
        }
    }

    /// <summary>The role <paramref name="instance"/> is gone (an instance of a shared name left, or another role serves the app now).</summary>
    internal void InstanceGone(string instance)
    {
        lock (_controls)
            _controls.RemoveAll(c => c.Instance == instance);
    }

    /// <summary>In a cluster: the node the app's control connection is on, when it is not this one.</summary>
    internal string? ControlNode => _controlNode;

    /// <summary>The app is mirrored from <paramref name="node"/> (its control connection is there), or null: its control connection is here.</summary>
    internal void ControlOn(string? node) => _controlNode = node;

    /// <summary>The name is free again; paired sessions may still be finishing.</summary>
    internal void Depart() => _departed = true;

    internal SessionStatus SessionStarted(SessionId id, IPEndPoint client)
    {
        var session = new SessionStatus(this, id, client);
        _sessions[id] = session;
        return session;
    }

    internal void SessionEnded(SessionStatus session)
    {
        if (!_sessions.TryRemove(session.Id, out _))
            return;
        Interlocked.Add(ref _endedFromClients, session.BytesFromClient);
        Interlocked.Add(ref _endedFromApp, session.BytesFromApp);
        _relay.AddEnded(session.BytesFromClient, session.BytesFromApp);
    }

    internal AppSnapshot Snapshot(DateTimeOffset now)
    {
        var sessions = _sessions.Values.OrderBy(s => s.Age).Select(s => s.Snapshot()).ToList();
        List<string?> controls;
        lock (_controls)
            controls = _controls.Select(c => c.Control is { } ep ? Connect.FormatEndPoint(ep) : null).ToList();
        return new AppSnapshot(Name.Value, Port, controls.Find(c => c is not null), _controlNode, RegisteredAt,
            _departed, sessions.Count,
            Interlocked.Read(ref _endedFromClients) + sessions.Sum(s => s.BytesFromClient),
            Interlocked.Read(ref _endedFromApp) + sessions.Sum(s => s.BytesFromApp),
            sessions)
        {
            User = User?.Value,
            Instances = Shared ? controls.Select(c => c ?? AppSnapshot.Away).ToList() : null,
        };
    }
}

/// <summary>One session's entry on the board. Its byte counts are written by the session's actor alone.</summary>
public sealed class SessionStatus
{
    private readonly AppStatus? _app;
    private readonly Stopwatch _age = Stopwatch.StartNew();
    private long _fromClient;
    private long _fromApp;
    private volatile bool _paired;

    /// <param name="app">The app whose board lists the session; none for a session tested on its own.</param>
    /// <param name="id">The session's id.</param>
    /// <param name="client">The client's address.</param>
    internal SessionStatus(AppStatus? app, SessionId id, IPEndPoint client)
    {
        _app = app;
        Id = id;
        Client = client;
    }

    /// <summary>The session's id.</summary>
    public SessionId Id { get; }

    /// <summary>The client's address.</summary>
    public IPEndPoint Client { get; }

    internal TimeSpan Age => _age.Elapsed;

    /// <summary>Bytes read from the client so far.</summary>
    public long BytesFromClient => Volatile.Read(ref _fromClient);

    /// <summary>Bytes read from the app so far.</summary>
    public long BytesFromApp => Volatile.Read(ref _fromApp);

    // One writer (the session's actor), so a plain add published with a volatile write suffices.
    internal void AddFromClient(int bytes) => Volatile.Write(ref _fromClient, _fromClient + bytes);

    internal void AddFromApp(int bytes) => Volatile.Write(ref _fromApp, _fromApp + bytes);

    internal void MarkPaired() => _paired = true;

    /// <summary>Off the board; its bytes move to the app's and the relay's totals.</summary>
    internal void End() => _app?.SessionEnded(this);

    internal SessionSnapshot Snapshot() =>
        new(SessionIds.Prefix(Id), Connect.FormatEndPoint(Client), Math.Round(Age.TotalSeconds, 3), _paired, BytesFromClient, BytesFromApp);
}

/// <summary>
/// The relay as <c>/status</c> shows it; <paramref name="AppsRegistered"/> counts neither apps that are
/// leaving nor, in a cluster, apps mirrored from another node. <paramref name="Node"/> is this node's
/// cluster address, null for a single relay.
/// </summary>
public sealed record RelaySnapshot(
    string? Node, bool Ready, bool Draining, int AppsRegistered, int SessionsActive, long BytesFromClients, long BytesFromApps,
    IReadOnlyList<AppSnapshot> Apps)
{
    // Fields added later are init properties, not parameters: a reader of an older relay's JSON gets their defaults.

    /// <summary>What the relay is and listens on; null until it is ready (or from an older relay).</summary>
    public RelayIdentity? Relay { get; init; }

    /// <summary>Seconds since the relay started.</summary>
    public double UptimeSeconds { get; init; }

    /// <summary>Sessions ended since start, whatever the cause.</summary>
    public long SessionsEnded { get; init; }

    /// <summary>Sessions ended since start by cause, keyed by the <c>cause</c> tag of <c>tcprelay.sessions.ended</c>.</summary>
    public IReadOnlyDictionary<string, long> SessionsEndedByCause { get; init; } = new Dictionary<string, long>();

    /// <summary>Of the sessions ended, those turned away: rejected by their app, or at a limit.</summary>
    public long SessionsRejected() => EndedBy("rejected", "limit");

    /// <summary>Of the sessions ended, those that failed: reset, never claimed in time, or whose app left before pairing.</summary>
    public long SessionsFailed() => EndedBy("reset", "pending-timeout", "app-left");

    private long EndedBy(params string[] causes) => causes.Sum(cause => SessionsEndedByCause.GetValueOrDefault(cause));
}

/// <summary>What a relay is and how it is set up, as the status page introduces it.</summary>
/// <param name="Version">The relay's version.</param>
/// <param name="ControlPort">The control port it listens on.</param>
/// <param name="DataPort">The data port it listens on.</param>
/// <param name="PublicPorts">The range public ports are handed out from, as configured (e.g. 20000-20999).</param>
/// <param name="Secret">Whether apps must prove a shared secret.</param>
/// <param name="MaxApps">Most apps registered at once.</param>
/// <param name="MaxSessionsPerApp">Most sessions one app has at once.</param>
/// <param name="MaxPendingPerApp">Most sessions of one app waiting for their data connection.</param>
public sealed record RelayIdentity(
    string Version, int ControlPort, int DataPort, string PublicPorts, bool Secret, int MaxApps, int MaxSessionsPerApp, int MaxPendingPerApp);

/// <summary>
/// One app in <see cref="RelaySnapshot"/>; <paramref name="Control"/> is null while the app is away in
/// its grace period. In a cluster, <paramref name="ControlNode"/> is the node its control connection is
/// on when that is another node (this one lists the app for the sessions of clients that came here).
/// </summary>
public sealed record AppSnapshot(
    string Name, int Port, string? Control, string? ControlNode, DateTimeOffset RegisteredSince, bool Leaving, int SessionsActive,
    long BytesFromClients, long BytesFromApp, IReadOnlyList<SessionSnapshot> Sessions)
{
    /// <summary>The user of the users file the app registered as; null: admitted by the shared secret.</summary>
    public string? User { get; init; }

    /// <summary>A shared name's instances: each one's control address, or <see cref="Away"/> while it is in its grace period; null for a name that is not shared.</summary>
    public IReadOnlyList<string>? Instances { get; init; }

    /// <summary>What <see cref="Instances"/> says of an instance whose control connection is lost and held for a return.</summary>
    public const string Away = "away";

    /// <summary>Bytes per second from clients over the admin endpoint's last sampling interval (0 before two samples).</summary>
    public double BytesPerSecondFromClients { get; init; }

    /// <summary>Bytes per second from the app over the admin endpoint's last sampling interval (0 before two samples).</summary>
    public double BytesPerSecondFromApp { get; init; }
}

/// <summary>One session in <see cref="AppSnapshot"/>; <paramref name="IdPrefix"/> is the first 8 digits of its id.</summary>
public sealed record SessionSnapshot(string IdPrefix, string Client, double AgeSeconds, bool Paired, long BytesFromClient, long BytesFromApp);
