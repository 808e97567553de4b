using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using TcpRelay.Client;

namespace TcpRelay.AspNetCore;

/// <summary>Serves an ASP.NET Core app through a TcpRelay.</summary>
public static class TcpRelayWebHostBuilderExtensions
{
    /// <summary>
    /// Has Kestrel serve the app on a public port of the relay: the app registers when the host
    /// starts (a refusal fails the start), and every client of that port is an HTTP connection.
    /// The resolved <see cref="RelayEndPoint"/> (a service) tells the public port once started.
    /// </summary>
    /// <example><code>builder.WebHost.UseTcpRelay(o => { o.Relay = "relay.example:8080"; o.Name = "web"; });</code></example>
    /// <exception cref="ArgumentException">The options are incomplete or malformed.</exception>
    public static IWebHostBuilder UseTcpRelay(this IWebHostBuilder builder, Action<TcpRelayTransportOptions> configure)
    {
        var options = new TcpRelayTransportOptions();
        configure(options);
        if (string.IsNullOrWhiteSpace(options.Relay))
            throw new ArgumentException("TcpRelayTransportOptions.Relay (host[:port] of the relay) is required", nameof(configure));
        IReadOnlyList<TcpRelay.Protocol.HostPort> nodes;
        try
        {
            nodes = RelayListenerOptions.ParseNodes(options.Relay);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"TcpRelayTransportOptions.Relay: {e.Message}", nameof(configure), e);
        }
        if (options.Name is { } name && TcpRelay.Protocol.AppName.Parse(name) is { IsOk: false } bad)
            throw new ArgumentException($"TcpRelayTransportOptions.Name: {bad.Error}", nameof(configure));
        var endPoint = new RelayEndPoint(new RelayListenerOptions
        {
            RelayHost = nodes[0].Host,
            ControlPort = nodes[0].Port,
            OtherNodes = nodes.Skip(1).ToList(),
            Name = options.Name,
            Port = options.Port,
            Secret = options.Secret,
            User = options.User,
            Shared = options.Shared,
            Reconnect = options.Reconnect,
            Tls = options.Tls,
            TlsCaFile = options.TlsCaFile,
            TlsPin = options.TlsPin,
            TlsServerName = options.TlsServerName,
        });
        builder.ConfigureServices(services =>
        {
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, RelayConnectionListenerFactory>());
            services.AddSingleton(endPoint);
        });
        builder.ConfigureKestrel(kestrel => kestrel.Listen(endPoint));
        return builder;
    }
}
