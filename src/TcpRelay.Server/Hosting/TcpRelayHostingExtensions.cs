using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Cluster;

namespace TcpRelay.Server.Hosting;

/// <summary>Wires the relay into an Akka.Hosting actor system (a worker service, an ASP.NET app, a test).</summary>
public static class TcpRelayHostingExtensions
{
    /// <summary>
    /// Starts the relay as <c>/user/relay</c> with <paramref name="settings"/>, and adds the relay's
    /// Akka settings (IO buffers, log levels) from <paramref name="akkaConfig"/>, by default
    /// hocon/relay.hocon, behind any HOCON the host adds itself. The relay's actor is registered in
    /// the ActorRegistry; a host reaches it through <see cref="GetTcpRelay"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddTcpRelay(this AkkaConfigurationBuilder builder, RelaySettings settings, Config? akkaConfig = null)
    {
        builder.AddHocon(akkaConfig ?? RelayConfiguration.LoadDefaults(), HoconAddMode.Append);
        // The drain runs inside this phase, so the phase must outlast the drain timeout.
        var phaseTimeout = (long)(settings.DrainTimeout + DrainMargin).TotalMilliseconds;
        builder.AddHocon($"akka.coordinated-shutdown.phases.service-requests-done.timeout = {phaseTimeout}ms", HoconAddMode.Prepend);
        // A client's connection waits unregistered until its app dials in (the session registers for
        // it then): the app's actor closes it at the pending timeout, before Akka.IO's own timeout would.
        var registerTimeout = (long)(settings.PendingTimeout + RegisterMargin).TotalMilliseconds;
        builder.AddHocon($"akka.io.tcp.register-timeout = {registerTimeout}ms", HoconAddMode.Prepend);
        // The cluster is a layer of its own: it brings the registry a node needs instead of a single relay's.
        Func<IActorRegistry, Func<int, Props>?> registryOf = _ => null;
        if (settings.ClusterBind is { } clusterBind)
            registryOf = builder.AddRelayCluster(settings, clusterBind);
        return builder.WithActors((system, registry) =>
        {
            var relay = system.ActorOf(RelayActor.CreateProps(settings, registryOf(registry)), "relay");
            registry.Register<RelayActor>(relay);
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "tcprelay-drain", async () =>
            {
                try
                {
                    await relay.Ask<RelayActor.Drained>(RelayActor.Drain.Instance, settings.DrainTimeout + DrainMargin);
                }
                catch (AskTimeoutException)
                {
                    // The relay is stuck; the actor system's own shutdown ends every connection anyway.
                }
                return Done.Instance;
            });
        });
    }

    /// <summary>The actor system name of <c>tcprelay serve</c>, which a clustered relay's host must use too.</summary>
    public const string ActorSystemName = "tcprelay";

    /// <summary>The cluster role every relay node has.</summary>
    public const string ClusterRole = "relay";

    /// <summary>How long past the drain timeout shutdown waits for the resets to be confirmed.</summary>
    public static readonly TimeSpan DrainMargin = TimeSpan.FromSeconds(10);

    // Akka.IO's register timeout is a backstop behind the pending timeout, never the one that fires.
    private static readonly TimeSpan RegisterMargin = TimeSpan.FromSeconds(5);

    /// <summary>The relay <see cref="AddTcpRelay"/> started in this host's actor system.</summary>
    public static RunningRelay GetTcpRelay(this IServiceProvider services) =>
        new(services.GetRequiredService<ActorRegistry>().Get<RelayActor>());
}
