using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>A local service the agent exposes: where it listens, and what to register it as.</summary>
/// <param name="Host">Host name or address of the local service.</param>
/// <param name="LocalPort">The local service's port.</param>
/// <param name="Name">Name to register under; the relay makes one up when null.</param>
/// <param name="Port">Public port to ask for; the relay allocates one when null.</param>
public sealed record ExposedService(string Host, int LocalPort, string? Name = null, int? Port = null)
{
    /// <summary>The service as host:port, for logs.</summary>
    public string Address => Host.Contains(':') ? $"[{Host}]:{LocalPort}" : $"{Host}:{LocalPort}";

    /// <summary>Builds a service from the agent's flags, checking each.</summary>
    /// <exception cref="FormatException">One of the values is malformed; the message names it.</exception>
    public static ExposedService Parse(string to, string? name, string? port)
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
        return new ExposedService(host, localPort.Value, name, publicPort);
    }
}
