namespace TcpRelay.Bench;

/// <summary>Every target, in the table's column order, and the selection a run's options make.</summary>
public static class TargetCatalog
{
    private static readonly string[] PeerKeys = [BoreTarget.KeyName, SeedTarget.DotnetKey, SeedTarget.GoKey];

    public static IReadOnlyList<Target> All(int clusterNodes) =>
    [
        new DirectTarget(), new TcpRelayAgentTarget(), new TcpRelayAgentTarget(tls: true), new BoreTarget(), new TcpRelayAppTarget(),
        new SeedTarget(dotnetApp: true), new SeedTarget(dotnetApp: false), new TcpRelayClusterTarget(clusterNodes is 0 ? 3 : clusterNodes),
    ];

    public static IEnumerable<string> Keys => All(0).Select(t => t.Key);

    /// <summary>
    /// The targets to run: <c>--targets</c>, else all but the cluster (<c>--cluster N</c> adds it), less
    /// the peers with <c>--no-peers</c>. Direct always: every ratio is to it.
    /// </summary>
    public static IReadOnlyList<Target> Select(BenchOptions options) =>
        All(options.ClusterNodes).Where(t =>
            t.Key == DirectTarget.KeyName
            || (options.Targets?.Contains(t.Key) ?? (t.Key != TcpRelayClusterTarget.KeyName || options.ClusterNodes > 0))
            && !(options.NoPeers && PeerKeys.Contains(t.Key))).ToList();
}
