using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;

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
        if (settings.ClusterBind is { } clusterBind)
            AddCluster(builder, settings, clusterBind);
        return builder.WithActors((system, registry) =>
        {
            var directory = settings.Clustered ? registry.Get<ClusterDirectoryActor>() : null;
            // Configuration always names seeds; a host may start the first node of a cluster on a
            // port the OS picks, which it cannot name in advance: that node joins itself.
            if (settings.Clustered && settings.ClusterSeeds.Count == 0)
                Akka.Cluster.Cluster.Get(system).Join(Akka.Cluster.Cluster.Get(system).SelfAddress);
            if (settings.Clustered)
                system.ActorOf(ClusterMembersActor.CreateProps(), "cluster-members");
            var relay = system.ActorOf(RelayActor.CreateProps(settings, directory), "relay");
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

    /// <summary>
    /// Remoting on the cluster address, Akka.Cluster with the keep-majority split-brain resolver, and the
    /// cluster directory as a singleton (its proxy is what the relay talks to). Seeds are written as
    /// plain HOST:PORT, so every node's actor system must be named <see cref="ActorSystemName"/>.
    /// Settings built in code may leave the seeds empty: the node then starts a cluster of its own.
    /// </summary>
    private static void AddCluster(AkkaConfigurationBuilder builder, RelaySettings settings, HostPort clusterBind)
    {
        // Akka's own tick for a node: the cluster's heartbeats and failure detector are timed by the
        // scheduler, and the single relay's 200ms has not been tried on them enough to trust it (the
        // cluster trial's failures seen with it came from the trial killing a node before every
        // node saw the third one up). A node's idle CPU is the price.
        builder.AddHocon("akka.scheduler.tick-duration = 10ms", HoconAddMode.Prepend);
        builder.WithRemoting(clusterBind.Host, clusterBind.Port);
        builder.WithClustering(new ClusterOptions
        {
            Roles = [ClusterRole],
            SeedNodes = settings.ClusterSeeds.Select(seed => $"akka.tcp://{ActorSystemName}@{seed}").ToArray(),
            SplitBrainResolver = new KeepMajorityOption(),
        });
        builder.WithSingleton<ClusterDirectoryActor>("relay-directory", ClusterDirectoryActor.CreateProps(settings),
            new ClusterSingletonOptions { Role = ClusterRole }, createProxyToo: true);
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
