using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using TcpRelay.Protocol;
using TcpRelay.Server.Hosting;

namespace TcpRelay.Server.Cluster;

/// <summary>
/// The cluster layer, added by <see cref="TcpRelayHostingExtensions.AddTcpRelay"/> only when
/// <c>cluster-bind</c> is set: remoting on the cluster address, Akka.Cluster with the keep-majority
/// split-brain resolver, the <see cref="ClusterDirectoryActor"/> as a singleton, the serializer of
/// the messages nodes exchange, and a registry that asks the directory.
/// </summary>
internal static class RelayClusterHosting
{
    /// <summary>
    /// Adds the cluster to <paramref name="builder"/>; returns what makes the relay's registry once
    /// the actor system runs. Seeds are written as plain HOST:PORT, so every node's actor system must
    /// be named <see cref="TcpRelayHostingExtensions.ActorSystemName"/>. Settings built in code may
    /// leave the seeds empty: the node then starts a cluster of its own.
    /// </summary>
    public static Func<IActorRegistry, Func<int, Props>> AddRelayCluster(this AkkaConfigurationBuilder builder, RelaySettings settings, HostPort clusterBind)
    {
        // Akka's own tick for a node: the cluster's heartbeats and failure detector are timed by the
        // scheduler, and the single relay's 200ms has not been tried on them enough to trust it (the
        // cluster trial's failures seen with it came from the trial killing a node before every
        // node saw the third one up). A node's idle CPU is the price.
        builder.AddHocon("akka.scheduler.tick-duration = 10ms", HoconAddMode.Prepend);
        builder.WithRemoting(clusterBind.Host, clusterBind.Port);
        builder.WithClustering(new ClusterOptions
        {
            Roles = [TcpRelayHostingExtensions.ClusterRole],
            SeedNodes = settings.ClusterSeeds.Select(seed => $"akka.tcp://{TcpRelayHostingExtensions.ActorSystemName}@{seed}").ToArray(),
            SplitBrainResolver = new KeepMajorityOption(),
        });
        builder.WithCustomSerializer("tcprelay-cluster", ClusterMessageSerializer.BoundTypes, system => new ClusterMessageSerializer(system));
        builder.WithSingleton<ClusterDirectoryActor>("relay-directory", ClusterDirectoryActor.CreateProps(settings),
            new ClusterSingletonOptions { Role = TcpRelayHostingExtensions.ClusterRole }, createProxyToo: true);
        builder.WithActors((system, _) =>
        {
            // Configuration always names seeds; a host may start the first node of a cluster on a
            // port the OS picks, which it cannot name in advance: that node joins itself.
            var cluster = Akka.Cluster.Cluster.Get(system);
            if (settings.ClusterSeeds.Count == 0)
                cluster.Join(cluster.SelfAddress);
            system.ActorOf(ClusterMembersActor.CreateProps(), "cluster-members");
        });
        return registry =>
        {
            var directory = registry.Get<ClusterDirectoryActor>();
            return dataPort => NodeRegistryActor.CreateProps(settings, dataPort, directory);
        };
    }
}
