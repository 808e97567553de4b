using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace TcpRelay.Server.Cluster;

/// <summary>
/// A clustered node's view of its cluster, one line per change: a node up, unreachable, reachable
/// again or removed, with how many are up as this node sees it. The split-brain resolver decides
/// on this view, so it is the one an operator (or the cluster trial) needs before taking a node down.
/// </summary>
internal sealed class ClusterMembersActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    // From the events themselves: the cluster's read view may lag behind the event being handled.
    private readonly HashSet<Address> _up = [];
    private readonly HashSet<Address> _unreachable = [];

    public ClusterMembersActor()
    {
        Receive<ClusterEvent.MemberUp>(up => Report("is up", up.Member.Address, () => _up.Add(up.Member.Address)));
        Receive<ClusterEvent.UnreachableMember>(lost => Report("is unreachable", lost.Member.Address, () => _unreachable.Add(lost.Member.Address)));
        Receive<ClusterEvent.ReachableMember>(back => Report("is reachable again", back.Member.Address, () => _unreachable.Remove(back.Member.Address)));
        Receive<ClusterEvent.MemberRemoved>(removed => Report("was removed", removed.Member.Address, () =>
        {
            _up.Remove(removed.Member.Address);
            _unreachable.Remove(removed.Member.Address);
        }));
    }

    public static Props CreateProps() => Props.Create<ClusterMembersActor>();

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.UnreachableMember), typeof(ClusterEvent.ReachableMember), typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Report(string what, Address node, Action change)
    {
        change();
        _log.Info("Cluster: node {Node} {What}; {Up} nodes up and reachable as {Self} sees it",
            node, what, _up.Count(a => !_unreachable.Contains(a)), _cluster.SelfAddress);
    }
}
