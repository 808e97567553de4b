using System.Net;
using Akka.Configuration;
using TcpRelay.Protocol;

namespace TcpRelay.Server;

/// <summary>A configuration value that cannot be used; the message names the key and the rule.</summary>
public sealed class RelayConfigException(string message) : Exception(message);

/// <summary>
/// Everything the relay reads from configuration, read once at start-up from the <c>tcprelay</c>
/// section (defaults in hocon/relay.hocon) and validated as a whole.
/// </summary>
public sealed record RelaySettings
{
    /// <summary>Address every port listens on.</summary>
    public required IPAddress Bind { get; init; }

    /// <summary>Port apps register on; 0 picks a free one (for tests).</summary>
    public required int ControlPort { get; init; }

    /// <summary>Port apps dial per session; 0 picks a free one (for tests).</summary>
    public required int DataPort { get; init; }

    /// <summary>Ports handed to apps.</summary>
    public required PublicPortRange PublicPorts { get; init; }

    /// <summary>The shared secret apps must prove, or null for none.</summary>
    public string? Secret { get; init; }

    /// <summary>The users file (<c>users-file</c>), watched while the relay runs; null for none.</summary>
    public string? UsersFile { get; init; }

    /// <summary>The users file's table as read at start-up (null: no users file); edits arrive as <see cref="Actors.UsersFileActor.UsersChanged"/>.</summary>
    public Registration.UserTable? Users { get; init; }

    /// <summary>
    /// The certificate and key of the control and data ports (<c>tls-cert</c>, <c>tls-key</c>): with
    /// them both ports speak TLS only (1.2 and 1.3), and the admin endpoint HTTPS; null: plain TCP.
    /// Public ports are plain TCP either way: they carry the app's own protocol.
    /// </summary>
    public Tls.RelayCertificate? Tls { get; init; }

    /// <summary>Time a new control or data connection has to send its first line.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = ProtocolDefaults.HandshakeTimeout;

    /// <summary>Time a client waits for its app to dial the data port.</summary>
    public TimeSpan PendingTimeout { get; init; } = ProtocolDefaults.PendingTimeout;

    /// <summary>PING interval on an idle control connection.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = ProtocolDefaults.HeartbeatInterval;

    /// <summary>Time a session's connections have to finish closing once both directions ended.</summary>
    public TimeSpan CloseTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Idle time after which the relay's TCP keepalive starts probing a connection's peer; a peer
    /// that vanished without closing is noticed after this plus about a minute of unanswered probes.
    /// </summary>
    public TimeSpan KeepAliveIdle { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long an app that registered with a resume token keeps its name and public port after its
    /// control connection drops; zero turns the grace period off.
    /// </summary>
    public TimeSpan GracePeriod { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>On SIGTERM, how long paired sessions may go on before what is left is aborted.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// During a drain, a paired session that has moved no byte this long (and holds none unwritten)
    /// is closed both ways instead of holding the drain to its deadline; zero: idle sessions wait as busy ones do.
    /// </summary>
    public TimeSpan DrainIdleAfter { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Most apps registered at once.</summary>
    public int MaxApps { get; init; } = 1000;

    /// <summary>Most sessions (waiting or paired) one app has at once; a client beyond it is closed at once.</summary>
    public int MaxSessionsPerApp { get; init; } = 10_000;

    /// <summary>Most sessions of one app waiting for their data connection; a client beyond it is closed at once.</summary>
    public int MaxPendingPerApp { get; init; } = 1024;

    /// <summary>Most control and data connections from one address that have not sent their first line yet.</summary>
    public int MaxHandshakesPerAddress { get; init; } = 256;

    /// <summary>Most control and data connections in all that have not sent their first line yet.</summary>
    public int MaxHandshakes { get; init; } = 4096;

    /// <summary>Whether a relay bound to a non-loopback address may run without a shared secret.</summary>
    public bool AllowAnonymous { get; init; }

    /// <summary>Listen backlog of every port.</summary>
    public int Backlog { get; init; } = 4096;

    /// <summary>Where this node listens for the other relay nodes, or null for a single relay (no remoting at all).</summary>
    public HostPort? ClusterBind { get; init; }

    /// <summary>Nodes this node contacts to join the cluster (it may name itself to start one).</summary>
    public IReadOnlyList<HostPort> ClusterSeeds { get; init; } = [];

    /// <summary>
    /// The host apps dial to reach this node's data port when a client arrived here for an app whose
    /// control connection is on another node (CONNECT data=); null means the bind address.
    /// </summary>
    public string? AdvertiseHost { get; init; }

    /// <summary>
    /// Where the relay keeps its registrations across restarts (<c>state-dir</c>, resolved), or null:
    /// in memory only. A clustered node does not use it.
    /// </summary>
    public string? StateDirectory { get; init; }

    /// <summary>Whether this relay is one node of a cluster.</summary>
    public bool Clustered => ClusterBind is not null;

    /// <summary>Reads and validates the <c>tcprelay</c> section.</summary>
    /// <exception cref="RelayConfigException">A value is missing, malformed or impossible.</exception>
    public static RelaySettings FromConfig(Config config)
    {
        var section = config.GetConfig("tcprelay") ?? throw new RelayConfigException("configuration has no 'tcprelay' section");
        var bindText = Read(section, "bind", (c, k) => c.GetString(k));
        if (!IPAddress.TryParse(bindText, out var bind))
            throw new RelayConfigException($"tcprelay.bind: '{bindText}' is not an IP address");
        var range = PublicPortRange.Parse(Read(section, "public-ports", (c, k) => c.GetString(k)));
        if (!range.IsOk)
            throw new RelayConfigException($"tcprelay.public-ports: {range.Error}");
        var usersFile = section.HasPath("users-file") ? section.GetString("users-file") ?? "" : "";
        var settings = new RelaySettings
        {
            UsersFile = usersFile.Length == 0 ? null : usersFile,
            Users = usersFile.Length == 0 ? null : Registration.UsersFile.Load(usersFile, range.Value!),
            Bind = bind,
            ControlPort = ReadPort(section, "control-port"),
            DataPort = ReadPort(section, "data-port"),
            PublicPorts = range.Value!,
            Secret = ReadSecret(section),
            Tls = ReadCertificate(section),
            HandshakeTimeout = ReadDuration(section, "handshake-timeout"),
            PendingTimeout = ReadDuration(section, "pending-timeout"),
            HeartbeatInterval = ReadDuration(section, "heartbeat-interval"),
            CloseTimeout = ReadDuration(section, "close-timeout"),
            KeepAliveIdle = ReadDuration(section, "keepalive-idle"),
            GracePeriod = ReadDuration(section, "grace-period"),
            DrainTimeout = ReadDuration(section, "drain-timeout"),
            DrainIdleAfter = ReadDuration(section, "drain-idle-after"),
            MaxApps = ReadPositive(section, "max-apps"),
            MaxSessionsPerApp = ReadPositive(section, "max-sessions-per-app"),
            MaxPendingPerApp = ReadPositive(section, "max-pending-per-app"),
            MaxHandshakesPerAddress = ReadPositive(section, "max-handshakes-per-address"),
            MaxHandshakes = ReadPositive(section, "max-handshakes"),
            AllowAnonymous = Read(section, "allow-anonymous", (c, k) => c.GetString(k)) switch
            {
                "on" or "true" or "yes" => true,
                "off" or "false" or "no" => false,
                var other => throw new RelayConfigException($"tcprelay.allow-anonymous: '{other}' is not on or off"),
            },
            Backlog = ReadPositive(section, "backlog"),
            ClusterBind = ReadHostPort(section, "cluster-bind"),
            ClusterSeeds = ReadHostPorts(section, "cluster-seeds"),
            AdvertiseHost = ReadOptionalHost(section, "advertise-host"),
            StateDirectory = State.StateDirectory.Resolve(Read(section, "state-dir", (c, k) => c.GetString(k)), Environment.GetEnvironmentVariable, "tcprelay.state-dir"),
        };
        settings.Validate();
        return settings;
    }

    /// <summary>Checks the values against each other.</summary>
    /// <exception cref="RelayConfigException">The first rule broken.</exception>
    public void Validate()
    {
        foreach (var (key, port) in new[] { ("control-port", ControlPort), ("data-port", DataPort) })
            if (port is < 0 or > 65535)
                throw new RelayConfigException($"tcprelay.{key}: {port} is not a port (1-65535)");
        if (ControlPort != 0 && ControlPort == DataPort)
            throw new RelayConfigException($"tcprelay.control-port and tcprelay.data-port are both {ControlPort}");
        foreach (var (key, value) in new[]
                 {
                     ("handshake-timeout", HandshakeTimeout), ("pending-timeout", PendingTimeout),
                     ("heartbeat-interval", HeartbeatInterval), ("close-timeout", CloseTimeout),
                     ("keepalive-idle", KeepAliveIdle),
                 })
            if (value <= TimeSpan.Zero)
                throw new RelayConfigException($"tcprelay.{key}: must be longer than zero");
        if (KeepAliveIdle > TcpKeepAlive.MaxIdle)
            throw new RelayConfigException($"tcprelay.keepalive-idle: at most {Duration.Format(TcpKeepAlive.MaxIdle)} (the kernel's limit)");
        if (DrainTimeout <= TimeSpan.Zero)
            throw new RelayConfigException("tcprelay.drain-timeout: must be longer than zero");
        if (MaxPendingPerApp > MaxSessionsPerApp)
            throw new RelayConfigException($"tcprelay.max-pending-per-app ({MaxPendingPerApp}) is above tcprelay.max-sessions-per-app ({MaxSessionsPerApp})");
        if (MaxHandshakesPerAddress > MaxHandshakes)
            throw new RelayConfigException($"tcprelay.max-handshakes-per-address ({MaxHandshakesPerAddress}) is above tcprelay.max-handshakes ({MaxHandshakes})");
        if (!IPAddress.IsLoopback(Bind) && Secret is null && Users is null && !AllowAnonymous)
            throw new RelayConfigException(
                $"the relay would listen on {Bind} without a shared secret or a users file, so anyone could register apps: " +
                "set TCPRELAY_SECRET, --secret-file or --users-file, or pass --allow-anonymous if that is what you want");
        if ((UsersFile is null) != (Users is null))
            throw new RelayConfigException("tcprelay.users-file: the users file and its table go together");
        if (DrainIdleAfter < TimeSpan.Zero)
            throw new RelayConfigException("tcprelay.drain-idle-after: must not be negative");
        if (GracePeriod < TimeSpan.Zero)
            throw new RelayConfigException("tcprelay.grace-period: must not be negative");
        if (Secret is "")
            throw new RelayConfigException("the shared secret is empty");
        if (ClusterBind is null && ClusterSeeds.Count > 0)
            throw new RelayConfigException("tcprelay.cluster-seeds is set but tcprelay.cluster-bind is not: a node needs an address of its own to join a cluster");
        if (ClusterBind is not null && ClusterSeeds.Count == 0)
            throw new RelayConfigException("tcprelay.cluster-bind is set but tcprelay.cluster-seeds is empty: name at least one node to join (the first node names itself)");
        if (Clustered && AdvertiseHost is null && (Bind.Equals(IPAddress.Any) || Bind.Equals(IPAddress.IPv6Any)))
            throw new RelayConfigException($"tcprelay.advertise-host: the relay listens on {Bind}, so apps cannot be told which address reaches this node's data port; set the address they should dial");
    }

    /// <summary>Where apps dial this node's data port (<see cref="AdvertiseHost"/> or the bind address).</summary>
    public HostPort DataAddress(int dataPort) =>
        new(AdvertiseHost ?? Bind.ToString(), dataPort);

    /// <summary>The settings with the secret masked, for logs.</summary>
    public override string ToString() =>
        $"bind={Bind} control-port={ControlPort} data-port={DataPort} public-ports={PublicPorts} " +
        $"secret={(Secret is null ? "none" : "***")} users-file={UsersFile ?? "none"} handshake-timeout={Duration.Format(HandshakeTimeout)} " +
        $"pending-timeout={Duration.Format(PendingTimeout)} heartbeat-interval={Duration.Format(HeartbeatInterval)} " +
        $"close-timeout={Duration.Format(CloseTimeout)} keepalive-idle={Duration.Format(KeepAliveIdle)} grace-period={Duration.Format(GracePeriod)} " +
        $"drain-timeout={Duration.Format(DrainTimeout)} drain-idle-after={Duration.Format(DrainIdleAfter)} max-apps={MaxApps} max-sessions-per-app={MaxSessionsPerApp} " +
        $"max-pending-per-app={MaxPendingPerApp} max-handshakes-per-address={MaxHandshakesPerAddress} max-handshakes={MaxHandshakes} " +
        $"allow-anonymous={(AllowAnonymous ? "on" : "off")} state-dir={StateDirectory ?? "none"} tls={Tls?.ToString() ?? "off"}" +
        (Clustered ? $" cluster-bind={ClusterBind} cluster-seeds={string.Join(',', ClusterSeeds)} advertise-host={AdvertiseHost ?? Bind.ToString()}" : "");

    private static HostPort? ReadHostPort(Config section, string key)
    {
        var text = section.HasPath(key) ? section.GetString(key) ?? "" : "";
        if (text.Length == 0)
            return null;
        var parsed = HostPort.Parse(text, key);
        return parsed.IsOk ? parsed.Value : throw new RelayConfigException($"tcprelay.{key}: {parsed.Error}");
    }

    private static IReadOnlyList<HostPort> ReadHostPorts(Config section, string key)
    {
        var text = section.HasPath(key) ? section.GetString(key) ?? "" : "";
        if (text.Length == 0)
            return [];
        var list = new List<HostPort>();
        foreach (var item in text.Split(','))
        {
            var parsed = HostPort.Parse(item.Trim(), key);
            list.Add(parsed.IsOk ? parsed.Value : throw new RelayConfigException($"tcprelay.{key}: {parsed.Error}"));
        }
        return list;
    }

    private static string? ReadOptionalHost(Config section, string key)
    {
        var text = section.HasPath(key) ? section.GetString(key) ?? "" : "";
        if (text.Length == 0)
            return null;
        // A host is valid where HOST:PORT with it is.
        var parsed = HostPort.Parse(text.Contains(':') && !text.StartsWith('[') ? $"[{text}]:1" : $"{text}:1", key);
        return parsed.IsOk ? parsed.Value.Host : throw new RelayConfigException($"tcprelay.{key}: '{text}' is not a host name or IP address");
    }

    private static T Read<T>(Config section, string key, Func<Config, string, T> read)
    {
        if (!section.HasPath(key))
            throw new RelayConfigException($"tcprelay.{key} is missing");
        try
        {
            return read(section, key) ?? throw new RelayConfigException($"tcprelay.{key} has no value");
        }
        catch (Exception e) when (e is not RelayConfigException)
        {
            throw new RelayConfigException($"tcprelay.{key}: {e.Message}");
        }
    }

    private static int ReadPort(Config section, string key)
    {
        var text = Read(section, key, (c, k) => c.GetString(k));
        if (text == "0")
            return 0;
        var port = PortNumber.Parse(text);
        return port.IsOk ? port.Value : throw new RelayConfigException($"tcprelay.{key}: '{text}' is not a port (1-65535)");
    }

    private static int ReadPositive(Config section, string key)
    {
        var text = Read(section, key, (c, k) => c.GetString(k));
        return int.TryParse(text, out var n) && n > 0
            ? n
            : throw new RelayConfigException($"tcprelay.{key}: '{text}' is not a positive whole number");
    }

    private static TimeSpan ReadDuration(Config section, string key)
    {
        var text = Read(section, key, (c, k) => c.GetString(k));
        return Duration.Parse(text) is { } d
            ? d
            : throw new RelayConfigException($"tcprelay.{key}: '{text}' is not {Duration.Forms}");
    }

    private static Tls.RelayCertificate? ReadCertificate(Config section)
    {
        var cert = section.HasPath("tls-cert") ? section.GetString("tls-cert") ?? "" : "";
        var key = section.HasPath("tls-key") ? section.GetString("tls-key") ?? "" : "";
        return (cert.Length, key.Length) switch
        {
            (0, 0) => null,
            (_, 0) => throw new RelayConfigException("tcprelay.tls-cert is set but tcprelay.tls-key is not: TLS needs the certificate's private key too"),
            (0, _) => throw new RelayConfigException("tcprelay.tls-key is set but tcprelay.tls-cert is not: TLS needs the certificate too"),
            _ => TcpRelay.Server.Tls.RelayCertificate.Load(cert, key, DateTimeOffset.UtcNow),
        };
    }

    private static string? ReadSecret(Config section)
    {
        var secret = section.HasPath("secret") ? section.GetString("secret") : null;
        if (!string.IsNullOrEmpty(secret))
            return secret;
        var file = section.HasPath("secret-file") ? section.GetString("secret-file") : null;
        if (string.IsNullOrEmpty(file))
            return null;
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RelayConfigException($"tcprelay.secret-file: cannot read '{file}': {e.Message}");
        }
        var firstLine = text.Split('\n')[0].TrimEnd('\r');
        return firstLine.Length > 0
            ? firstLine
            : throw new RelayConfigException($"tcprelay.secret-file: '{file}' is empty");
    }
}
