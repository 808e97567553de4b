using TcpRelay.Client;

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

    /// <summary>TLS to the relay, verified against the system's trust store and the relay's host name (<see cref="RelayListenerOptions.Tls"/>).</summary>
    public bool Tls { get; set; }

    /// <summary>A PEM file of the CA or self-signed certificate to trust for the relay instead; implies <see cref="Tls"/>.</summary>
    public string? TlsCaFile { get; set; }

    /// <summary>The relay key's pin (<c>sha256:HEX</c>, as <c>tcprelay cert</c> prints it) to trust instead; implies <see cref="Tls"/>.</summary>
    public string? TlsPin { get; set; }

    /// <summary>The name the relay's certificate must carry, when it is not the host in <see cref="Relay"/>.</summary>
    public string? TlsServerName { get; set; }

    /// <summary>Whether a lost control connection is re-established (same name and port); on by default.</summary>
    public bool Reconnect { get; set; } = true;
}
