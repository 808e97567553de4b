namespace TcpRelay.AspNetCore;

/// <summary>Where the relay is and what to register the app as; set in <see cref="TcpRelayWebHostBuilderExtensions.UseTcpRelay"/>.</summary>
public sealed class TcpRelayTransportOptions
{
    /// <summary>The relay's control port as host[:port] (8080 when the port is left out). Required.</summary>
    public string Relay { get; set; } = "";

    /// <summary>Name to register under; the relay makes one up when null.</summary>
    public string? Name { get; set; }

    /// <summary>Public port to ask for; the relay allocates one when null.</summary>
    public int? Port { get; set; }

    /// <summary>The relay's shared secret, when it has one.</summary>
    public string? Secret { get; set; }

    /// <summary>The user of the relay's users file to register as; <see cref="Secret"/> is then that user's secret.</summary>
    public string? User { get; set; }

    /// <summary>Whether this app shares <see cref="Name"/> with other instances that ask the same (each new client goes to one of them).</summary>
    public bool Shared { get; set; }

    /// <summary>Whether a lost control connection is re-established (same name and port); on by default.</summary>
    public bool Reconnect { get; set; } = true;
}
