using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>Where the relay is and what to register as.</summary>
public sealed record RelayListenerOptions
{
    /// <summary>Host name or address of the relay.</summary>
    public required string RelayHost { get; init; }

    /// <summary>The relay's control port.</summary>
    public int ControlPort { get; init; } = ProtocolDefaults.ControlPort;

    /// <summary>
    /// Further nodes of the same relay (host and control port), for a relay made of several nodes.
    /// Registration goes to the first that answers, starting with <see cref="RelayHost"/>; when the
    /// node in use is lost and cannot be reached again, the next one is tried.
    /// </summary>
    public IReadOnlyList<HostPort> OtherNodes { get; init; } = [];

    /// <summary>Name to register under; the relay makes one up when null.</summary>
    public string? Name { get; init; }

    /// <summary>Public port to ask for; the relay allocates one when null.</summary>
    public int? Port { get; init; }

    /// <summary>The relay's shared secret, when it has one; with <see cref="User"/>, that user's secret.</summary>
    public string? Secret { get; init; }

    /// <summary>
    /// The user of the relay's users file to register as (<c>REGISTER … user=</c>), whose secret
    /// <see cref="Secret"/> is; null: the relay's shared secret, if any.
    /// </summary>
    public string? User { get; init; }

    /// <summary>
    /// Whether this app shares its <see cref="Name"/> with other instances that ask the same
    /// (<c>REGISTER … shared=yes</c>): they share one public port, and each new client goes to the
    /// live instance with the fewest sessions. A shared name needs a <see cref="Name"/>.
    /// </summary>
    public bool Shared { get; init; }

    /// <summary>
    /// The token sent with every REGISTER (<c>resume=</c>), by which the relay tells this app's
    /// return from another app wanting its name. Null draws a new one per listener; give the same
    /// one across restarts (kept in a file) and a restarted process gets its name and port back
    /// at once within the relay's grace period.
    /// </summary>
    public ResumeToken? ResumeToken { get; init; }

    /// <summary>How long connecting and registering, or dialling the data port for a session, may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether a lost control connection is re-established (same name and port, sessions already
    /// paired untouched). When false, <see cref="RelayListener.AcceptAsync"/> fails once it is lost.
    /// </summary>
    public bool Reconnect { get; init; } = true;

    /// <summary>The first wait before reconnecting; each failed attempt doubles it, up to <see cref="ReconnectDelayMax"/>, with jitter.</summary>
    public TimeSpan ReconnectDelayMin { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait between reconnect attempts.</summary>
    public TimeSpan ReconnectDelayMax { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Idle time after which a session's sockets (to the relay's data port, and the agent's to its
    /// service) get TCP keepalive probes, so that a peer whose host vanished without closing ends
    /// the session about a minute later instead of never.
    /// </summary>
    public TimeSpan KeepAliveIdle { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// PING interval on the control connection; a relay silent for 3 intervals is taken as lost.
    /// Keep it at or below the relay's own heartbeat interval.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; init; } = ProtocolDefaults.HeartbeatInterval;

    /// <summary>
    /// TLS to the relay's control and data ports, the relay verified against the system's trust
    /// store and by its host name (<see cref="RelayHost"/>, or <see cref="TlsServerName"/>).
    /// <see cref="TlsCaFile"/> or <see cref="TlsPin"/> turn TLS on as well, trusting what they name instead.
    /// </summary>
    public bool Tls { get; init; }

    /// <summary>A PEM file of the CA (or the self-signed certificate) the relay's certificate must chain to, instead of the system's trust store; implies <see cref="Tls"/>.</summary>
    public string? TlsCaFile { get; init; }

    /// <summary>
    /// <c>sha256:</c> and the hex SHA-256 of the relay key's SubjectPublicKeyInfo, as <c>tcprelay cert</c>
    /// prints it: exactly that key is trusted, whatever issued its certificate or names it; implies <see cref="Tls"/>.
    /// </summary>
    public string? TlsPin { get; init; }

    /// <summary>The name the relay's certificate must carry, when it is not the host dialled (an address, a cluster node's redirect).</summary>
    public string? TlsServerName { get; init; }

    /// <summary>Whether the connections to the relay use TLS (<see cref="Tls"/>, <see cref="TlsCaFile"/> or <see cref="TlsPin"/>).</summary>
    public bool UsesTls => Tls || TlsCaFile is not null || TlsPin is not null;

    /// <summary>Checks the values a listener cannot work with; the listener and the agent call it on construction.</summary>
    /// <exception cref="ArgumentException">A value is out of range, or the CA file cannot be read; the message names the option.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(RelayHost))
            throw new ArgumentException("RelayHost is empty", nameof(RelayHost));
        if (ControlPort is < 1 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(ControlPort), ControlPort, "ControlPort must be from 1 to 65535");
        if (Port is { } port and (< 1 or > 65535))
            throw new ArgumentOutOfRangeException(nameof(Port), port, "Port must be from 1 to 65535");
        if (User is not null)
        {
            if (UserId.Parse(User) is { IsOk: false } bad)
                throw new ArgumentException($"User: {bad.Error}", nameof(User));
            if (string.IsNullOrEmpty(Secret))
                throw new ArgumentException("User needs that user's Secret", nameof(Secret));
        }
        if (Shared && Name is null)
            throw new ArgumentException("Shared needs a Name: instances share the name they register under", nameof(Shared));
        if (TlsPin is not null && TlsCaFile is not null)
            throw new ArgumentException("TlsPin and TlsCaFile exclude each other: a pin trusts one key, whoever issued its certificate", nameof(TlsPin));
        if (TlsServerName is not null && (TlsServerName.Length == 0 || !UsesTls))
            throw new ArgumentException(TlsServerName.Length == 0 ? "TlsServerName is empty" : "TlsServerName is set but TLS is off (set Tls, TlsCaFile or TlsPin)", nameof(TlsServerName));
        // Checks the pin and reads the CA file: one that cannot be used is an error now, not at the first connection.
        _ = RelayTrust.From(this);
        Positive(ConnectTimeout, nameof(ConnectTimeout));
        Positive(ReconnectDelayMin, nameof(ReconnectDelayMin));
        Positive(HeartbeatInterval, nameof(HeartbeatInterval));
        Positive(KeepAliveIdle, nameof(KeepAliveIdle));
        if (KeepAliveIdle > TimeSpan.FromSeconds(32767))
            throw new ArgumentOutOfRangeException(nameof(KeepAliveIdle), KeepAliveIdle, "KeepAliveIdle must be at most 32767s (the kernel's limit)");
        if (ReconnectDelayMax < ReconnectDelayMin)
            throw new ArgumentOutOfRangeException(nameof(ReconnectDelayMax), ReconnectDelayMax,
                $"ReconnectDelayMax must not be below ReconnectDelayMin ({ReconnectDelayMin})");
    }

    // Zero would make a reconnect loop spin and a heartbeat fire without pause; Task.Delay and
    // CancelAfter throw on most negative values only once the listener runs in the background.
    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be more than zero and at most a day");
    }

    /// <summary>Parses "host:port[,host:port…]" (a port left out is 8080), e.g. from a --relay flag: the relay's nodes, first one first.</summary>
    /// <exception cref="FormatException">An element is not host[:port].</exception>
    public static IReadOnlyList<HostPort> ParseNodes(string text) =>
        text.Split(',', StringSplitOptions.TrimEntries).Select(node =>
        {
            var (host, port) = ParseAddress(node);
            return new HostPort(host, port);
        }).ToList();

    /// <summary>Parses "host:port" or "host" (control port 8080), e.g. from a --relay flag.</summary>
    /// <exception cref="FormatException">The text is not host[:port].</exception>
    public static (string Host, int Port) ParseAddress(string text)
    {
        if (text.Length == 0)
            throw new FormatException("an empty relay address");
        var colon = text.LastIndexOf(':');
        var bracketed = text.StartsWith('[');
        if (colon < 0 || (bracketed && text.LastIndexOf(']') > colon))
            return (bracketed ? text.Trim('[', ']') : text, ProtocolDefaults.ControlPort);
        var host = text[..colon].Trim('[', ']');
        var port = PortNumber.Parse(text[(colon + 1)..]);
        if (host.Length == 0 || !port.IsOk)
            throw new FormatException($"'{text}' is not host:port");
        return (host, port.Value);
    }
}
