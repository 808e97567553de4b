using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>A local service the agent exposes: where it listens, and what to register it as.</summary>
/// <param name="Host">Host name or address of the local service.</param>
/// <param name="LocalPort">The local service's port.</param>
/// <param name="Name">Name to register under; the relay makes one up when null.</param>
/// <param name="Port">Public port to ask for; the relay allocates one when null.</param>
public sealed record ExposedService(string Host, int LocalPort, string? Name = null, int? Port = null)
{
    /// <summary>
    /// The PROXY protocol header written to the service at the start of every session (the client's
    /// address as source, the relay's public address and port as destination); null: none.
    /// </summary>
    public ProxyProtocolVersion? ProxyProtocol { get; init; }

    /// <summary>Whether the <see cref="Name"/> is shared with other instances (<see cref="RelayListenerOptions.Shared"/>).</summary>
    public bool Shared { get; init; }

    /// <summary>
    /// How often the agent tries a TCP connect to the service; null: never. After
    /// <see cref="RelayAgent.FailuresToWithdraw"/> failures in a row the service is deregistered,
    /// after <see cref="RelayAgent.SuccessesToReturn"/> successes in a row registered again.
    /// </summary>
    public TimeSpan? HealthInterval { get; init; }

    /// <summary>The service as host:port, for logs.</summary>
    public string Address => Host.Contains(':') ? $"[{Host}]:{LocalPort}" : $"{Host}:{LocalPort}";

    /// <summary>Builds a service from the agent's flags, checking each.</summary>
    /// <exception cref="FormatException">One of the values is malformed; the message names it.</exception>
    public static ExposedService Parse(string to, string? name, string? port, string? proxyProtocol = null, string? shared = null)
    {
        var colon = to.LastIndexOf(':');
        var host = colon > 0 ? to[..colon].Trim('[', ']') : "";
        var localPort = colon > 0 ? PortNumber.Parse(to[(colon + 1)..]) : ParseResult<int>.Fail("");
        if (host.Length == 0 || !localPort.IsOk)
            throw new FormatException($"--to: '{to}' is not host:port");
        if (name is not null && AppName.Parse(name) is { IsOk: false } badName)
            throw new FormatException($"--name: '{name}': {badName.Error}");
        int? publicPort = null;
        if (port is not null)
        {
            var parsed = PortNumber.Parse(port);
            publicPort = parsed.IsOk ? parsed.Value : throw new FormatException($"--port: '{port}' is not a port (1-65535)");
        }
        ProxyProtocolVersion? version = null;
        if (proxyProtocol is not null)
        {
            var parsed = ProxyHeader.ParseVersion(proxyProtocol);
            version = parsed.IsOk ? parsed.Value : throw new FormatException($"--proxy-protocol: {parsed.Error}");
        }
        var isShared = shared?.ToLowerInvariant() switch
        {
            null or "no" or "false" => false,
            "yes" or "true" => true,
            _ => throw new FormatException($"--shared: '{shared}' is not one of yes, no, true, false"),
        };
        if (isShared && name is null)
            throw new FormatException($"--shared needs a --name for --to {to}: instances share the name they register under");
        return new ExposedService(host, localPort.Value, name, publicPort) { ProxyProtocol = version, Shared = isShared };
    }
}
