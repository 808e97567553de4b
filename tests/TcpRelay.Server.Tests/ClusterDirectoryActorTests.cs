using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using TcpRelay.Protocol;
using TcpRelay.Server.Cluster;
using TcpRelay.Server.Registration;
using Xunit;

namespace TcpRelay.Server.Tests;

/// <summary>The cluster's directory on a one-node cluster, with test probes playing the nodes' registries.</summary>
public sealed class ClusterDirectoryActorTests : TestKit
{
    internal static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly RelaySettings _settings = DirectorySettings();

    /// <summary>An actor system with the cluster provider on a free loopback port.</summary>
    internal const string ClusterHocon = """
        akka.loglevel = WARNING
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        """;

    internal static AppName N(string name) => AppName.Parse(name).Value;

    internal static RelaySettings DirectorySettings() => TestSettings.Relay(publicPorts: 3) with { GracePeriod = TimeSpan.FromSeconds(30) };

    public ClusterDirectoryActorTests() : base(ClusterHocon)
    {
    }

    /// <summary>A directory past its rebuilding, with <paramref name="node"/> known to it.</summary>
    private IActorRef ReadyDirectory(TestProbe node)
    {
        var directory = Sys.ActorOf(ClusterDirectoryActor.CreateProps(_settings));
        directory.Tell(new ClusterDirectoryActor.NodeReport([], [], Full: true), node.Ref);
        // Ready once the rebuilding wait is over: the first table goes to every node.
        node.FishForMessage(m => m is ClusterDirectoryActor.Table, Wait);
        return directory;
    }

    private static T Answer<T>(TestProbe node) => (T)node.FishForMessage(m => m is T, Wait);

    [Fact]
    public void A_claim_asked_again_gets_the_same_answer_not_a_second_name_and_port()
    {
        var node = CreateTestProbe();
        var directory = ReadyDirectory(node);

        directory.Tell(new ClusterDirectoryActor.Claim(1, null, null, null, true), node.Ref);
        var first = Answer<ClusterDirectoryActor.Granted>(node);
        directory.Tell(new ClusterDirectoryActor.Claim(1, null, null, null, true), node.Ref);
        var again = Answer<ClusterDirectoryActor.Granted>(node);

        Assert.Equal(first, again);
        // One app in the table, not two.
        directory.Tell(new ClusterDirectoryActor.Claim(2, null, null, null, true), node.Ref);
        var table = Answer<ClusterDirectoryActor.Table>(node);
        Assert.Equal(2, table.Apps.Length);
        Assert.Equal(2, table.Apps.Select(a => a.Port).Distinct().Count());
    }

    [Fact]
    public void Two_nodes_claiming_one_name_one_wins_and_the_other_is_told_name_in_use()
    {
        var (a, b) = (CreateTestProbe(), CreateTestProbe());
        var directory = ReadyDirectory(a);
        directory.Tell(new ClusterDirectoryActor.NodeReport([], []), b.Ref);

        directory.Tell(new ClusterDirectoryActor.Claim(1, N("web"), null, null, true), a.Ref);
        directory.Tell(new ClusterDirectoryActor.Claim(1, N("web"), null, null, true), b.Ref);

        Assert.Equal("web", Answer<ClusterDirectoryActor.Granted>(a).Name.Value);
        Assert.Equal("name-in-use", Answer<ClusterDirectoryActor.Denied>(b).Code.Value);
    }

    [Fact]
    public void An_unclaimed_grant_with_a_resume_token_is_held_for_the_token_and_one_without_is_freed()
    {
        var node = CreateTestProbe();
        var directory = ReadyDirectory(node);
        var token = ResumeHash.Of(ResumeToken.New());

        directory.Tell(new ClusterDirectoryActor.Claim(1, N("kept"), null, token, true), node.Ref);
        var kept = Answer<ClusterDirectoryActor.Granted>(node);
        directory.Tell(new ClusterDirectoryActor.Claim(2, N("freed"), null, null, true), node.Ref);
        Answer<ClusterDirectoryActor.Granted>(node);
        directory.Tell(new ClusterDirectoryActor.Unclaimed(N("kept")), node.Ref);
        directory.Tell(new ClusterDirectoryActor.Unclaimed(N("freed")), node.Ref);

        // Another app cannot have the held name; the same token gets it back with its port.
        directory.Tell(new ClusterDirectoryActor.Claim(3, N("kept"), null, null, true), node.Ref);
        Assert.Equal("name-in-use", Answer<ClusterDirectoryActor.Denied>(node).Code.Value);
        directory.Tell(new ClusterDirectoryActor.Claim(4, N("kept"), null, token, true), node.Ref);
        Assert.Equal(kept.Port, Answer<ClusterDirectoryActor.Granted>(node).Port);
        // The other name is free again.
        directory.Tell(new ClusterDirectoryActor.Claim(5, N("freed"), null, null, true), node.Ref);
        Assert.Equal("freed", Answer<ClusterDirectoryActor.Granted>(node).Name.Value);
    }

    [Fact]
    public void A_late_report_of_an_app_on_a_port_another_app_was_granted_is_not_taken_up()
    {
        var (b, c) = (CreateTestProbe(), CreateTestProbe());
        var directory = ReadyDirectory(b);
        directory.Tell(new ClusterDirectoryActor.Claim(1, N("first"), null, null, true), b.Ref);
        var first = Answer<ClusterDirectoryActor.Granted>(b);

        // A node not heard from while "first" was granted reports its own app on the same port.
        directory.Tell(new ClusterDirectoryActor.NodeReport(
            [new ClusterDirectoryActor.AppEntry(N("late"), first.Port, null, true, c.Ref, null)], [], Full: true), c.Ref);
        // Another claim, for a table sent after the report (the table goes out before the answer).
        directory.Tell(new ClusterDirectoryActor.Claim(2, N("probe"), null, null, true), b.Ref);

        var table = b.FishForMessage<ClusterDirectoryActor.Table>(t => t.Apps.Any(a => a.Name.Value == "probe"), Wait);
        Assert.DoesNotContain(table.Apps, a => a.Name.Value == "late");
        Assert.Single(table.Apps, a => a.Port == first.Port);
    }
}

/// <summary>
/// The directory rebuilding its table on a cluster whose one node is up with the relay's role:
/// until a registry on it (a probe) has reported in full, a node is up and has not reported.
/// </summary>
public sealed class ClusterDirectoryRebuildTests : TestKit
{
    private static AppName N(string name) => ClusterDirectoryActorTests.N(name);

    private static readonly TimeSpan Wait = ClusterDirectoryActorTests.Wait;
    private readonly RelaySettings _settings = ClusterDirectoryActorTests.DirectorySettings();

    public ClusterDirectoryRebuildTests() : base(ClusterDirectoryActorTests.ClusterHocon + "\nakka.cluster.roles = [relay]\n")
    {
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == Akka.Cluster.MemberStatus.Up, Wait);
    }

    [Fact]
    public void A_node_lost_while_the_table_is_rebuilt_sends_no_table_without_the_apps_of_nodes_yet_to_report()
    {
        var (mirroring, lost, owner) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        var directory = Sys.ActorOf(ClusterDirectoryActor.CreateProps(_settings));
        var app = new ClusterDirectoryActor.AppEntry(N("web"), _settings.PublicPorts.First, null, true, owner.Ref, null);

        // A node mirroring "web" and another node report, neither in full; then the second is lost.
        directory.Tell(new ClusterDirectoryActor.NodeReport([app], []), mirroring.Ref);
        mirroring.ExpectMsg<ClusterDirectoryActor.SendFullReport>(Wait);
        directory.Tell(new ClusterDirectoryActor.NodeReport([], []), lost.Ref);
        lost.ExpectMsg<ClusterDirectoryActor.SendFullReport>(Wait);
        // Watched here too: the directory is told of the loss before anything sent after ours arrives.
        Watch(lost.Ref);
        Sys.Stop(lost.Ref);
        ExpectTerminated(lost.Ref, Wait);
        // The owner of "web" reports, then the mirroring node in full: the table is complete.
        directory.Tell(new ClusterDirectoryActor.NodeReport([app], [], Full: true), owner.Ref);
        directory.Tell(new ClusterDirectoryActor.NodeReport([app], [], Full: true), mirroring.Ref);

        // The first table the mirroring node gets has "web": a table sent on the loss, before the
        // owner had reported, would have lacked it and made the node drop its mirror.
        var first = mirroring.FishForMessage<ClusterDirectoryActor.Table>(_ => true, Wait);
        Assert.Contains(first.Apps, a => a.Name.Value == "web" && owner.Ref.Equals(a.OwnerNode));
    }

    [Fact]
    public void A_claim_waits_for_a_node_that_is_up_but_slow_to_report_and_does_not_get_its_port()
    {
        var (claiming, slow) = (CreateTestProbe(), CreateTestProbe());
        var directory = Sys.ActorOf(ClusterDirectoryActor.CreateProps(_settings));
        var port = _settings.PublicPorts.First;

        directory.Tell(new ClusterDirectoryActor.NodeReport([], []), claiming.Ref);
        directory.Tell(new ClusterDirectoryActor.Claim(1, N("newcomer"), port, null, true), claiming.Ref);
        // The slow node reports its app on that port after the directory's first 2.5s wait is over
        // (a node whose proxy took a while to find the new directory).
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromSeconds(3.5), directory,
            new ClusterDirectoryActor.NodeReport([new ClusterDirectoryActor.AppEntry(N("resident"), port, null, true, slow.Ref, null)], [port], Full: true), slow.Ref);

        var answer = claiming.FishForMessage(m => m is ClusterDirectoryActor.Granted or ClusterDirectoryActor.Denied, Wait);
        Assert.Equal("port-in-use", Assert.IsType<ClusterDirectoryActor.Denied>(answer).Code.Value);
    }
}
