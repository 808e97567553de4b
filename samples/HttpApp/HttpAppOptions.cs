namespace TcpRelay.Samples.HttpApp;

/// <summary>How the sample is reached: through a relay (<see cref="Relay"/>) or on a local address (<see cref="Listen"/>).</summary>
public sealed record HttpAppOptions
{
    /// <summary>The relay's control port as host[:port]; the app registers there.</summary>
    public string? Relay { get; init; }

    /// <summary>A local http://host:port to listen on instead, e.g. for <c>tcprelay agent</c> to expose.</summary>
    public string? Listen { get; init; }

    /// <summary>Name to register under.</summary>
    public string Name { get; init; } = "web";

    /// <summary>Public port to ask the relay for.</summary>
    public int? Port { get; init; }

    /// <summary>The relay's shared secret, if it has one.</summary>
    public string? Secret { get; init; }

    /// <summary>Reads the sample's flags.</summary>
    /// <exception cref="FormatException">A flag is unknown, repeated, or malformed; the message names it.</exception>
    public static HttpAppOptions Parse(string[] args, string? secret)
    {
        var options = new HttpAppOptions { Secret = secret };
        var seen = new HashSet<string>();
        for (var i = 0; i < args.Length; i += 2)
        {
            var flag = args[i];
            if (i + 1 >= args.Length)
                throw new FormatException($"{flag} needs a value");
            if (!seen.Add(flag))
                throw new FormatException($"{flag} given twice");
            var value = args[i + 1];
            options = flag switch
            {
                "--relay" => options with { Relay = value },
                "--listen" => options with { Listen = value },
                "--name" => options with { Name = value },
                "--port" => options with { Port = Protocol.PortNumber.Parse(value) is { IsOk: true } p ? p.Value : throw new FormatException($"--port: '{value}' is not a port") },
                _ => throw new FormatException($"unknown flag '{flag}'"),
            };
        }
        if ((options.Relay is null) == (options.Listen is null))
            throw new FormatException("give either --relay HOST:PORT or --listen http://HOST:PORT");
        return options;
    }
}
