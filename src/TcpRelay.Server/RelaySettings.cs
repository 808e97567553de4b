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

    /// <summary>Time a new control or data connection has to send its first line.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = ProtocolDefaults.HandshakeTimeout;

    /// <summary>Time a client waits for its app to dial the data port.</summary>
    public TimeSpan PendingTimeout { get; init; } = ProtocolDefaults.PendingTimeout;

    /// <summary>PING interval on an idle control connection.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = ProtocolDefaults.HeartbeatInterval;

    /// <summary>Time a session's connections have to finish closing once both directions ended.</summary>
    public TimeSpan CloseTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long an app that registered with a resume token keeps its name and public port after its
    /// control connection drops; zero turns the grace period off.
    /// </summary>
    public TimeSpan GracePeriod { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>On SIGTERM, how long paired sessions may go on before what is left is aborted.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

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
    public int Backlog { get; init; } = 256;

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
        var settings = new RelaySettings
        {
            Bind = bind,
            ControlPort = ReadPort(section, "control-port"),
            DataPort = ReadPort(section, "data-port"),
            PublicPorts = range.Value!,
            Secret = ReadSecret(section),
            HandshakeTimeout = ReadDuration(section, "handshake-timeout"),
            PendingTimeout = ReadDuration(section, "pending-timeout"),
            HeartbeatInterval = ReadDuration(section, "heartbeat-interval"),
            CloseTimeout = ReadDuration(section, "close-timeout"),
            GracePeriod = ReadDuration(section, "grace-period"),
            DrainTimeout = ReadDuration(section, "drain-timeout"),
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
                 })
            if (value <= TimeSpan.Zero)
                throw new RelayConfigException($"tcprelay.{key}: must be longer than zero");
        if (DrainTimeout <= TimeSpan.Zero)
            throw new RelayConfigException("tcprelay.drain-timeout: must be longer than zero");
        if (MaxPendingPerApp > MaxSessionsPerApp)
            throw new RelayConfigException($"tcprelay.max-pending-per-app ({MaxPendingPerApp}) is above tcprelay.max-sessions-per-app ({MaxSessionsPerApp})");
        if (MaxHandshakesPerAddress > MaxHandshakes)
            throw new RelayConfigException($"tcprelay.max-handshakes-per-address ({MaxHandshakesPerAddress}) is above tcprelay.max-handshakes ({MaxHandshakes})");
        if (!IPAddress.IsLoopback(Bind) && Secret is null && !AllowAnonymous)
            throw new RelayConfigException(
                $"the relay would listen on {Bind} without a shared secret, so anyone could register apps: " +
                "set TCPRELAY_SECRET or --secret-file, or pass --allow-anonymous if that is what you want");
        if (GracePeriod < TimeSpan.Zero)
            throw new RelayConfigException("tcprelay.grace-period: must not be negative");
        if (Secret is "")
            throw new RelayConfigException("the shared secret is empty");
    }

    /// <summary>The settings with the secret masked, for logs.</summary>
    public override string ToString() =>
        $"bind={Bind} control-port={ControlPort} data-port={DataPort} public-ports={PublicPorts} " +
        $"secret={(Secret is null ? "none" : "***")} handshake-timeout={Duration.Format(HandshakeTimeout)} " +
        $"pending-timeout={Duration.Format(PendingTimeout)} heartbeat-interval={Duration.Format(HeartbeatInterval)} " +
        $"close-timeout={Duration.Format(CloseTimeout)} grace-period={Duration.Format(GracePeriod)} " +
        $"drain-timeout={Duration.Format(DrainTimeout)} max-apps={MaxApps} max-sessions-per-app={MaxSessionsPerApp} " +
        $"max-pending-per-app={MaxPendingPerApp} max-handshakes-per-address={MaxHandshakesPerAddress} max-handshakes={MaxHandshakes} " +
        $"allow-anonymous={(AllowAnonymous ? "on" : "off")}";

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
            : throw new RelayConfigException($"tcprelay.{key}: '{text}' is not a duration (e.g. 500ms, 10s, 2m)");
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
