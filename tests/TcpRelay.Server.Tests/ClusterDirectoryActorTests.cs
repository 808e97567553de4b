using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using TcpRelay.Server.Actors;
using Xunit;

namespace TcpRelay.Server.Tests;

/// <summary>The cluster's directory on a one-node cluster, with test probes playing the nodes' registries.</summary>
public sealed class ClusterDirectoryActorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly RelaySettings _settings = TestSettings.Relay(publicPorts: 3) with { GracePeriod = TimeSpan.FromSeconds(30) };

    public ClusterDirectoryActorTests() : base("""
        akka.loglevel = WARNING
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        """)
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

        directory.Tell(new ClusterDirectoryActor.Claim(1, "web", null, null, true), a.Ref);
        directory.Tell(new ClusterDirectoryActor.Claim(1, "web", null, null, true), b.Ref);

        Assert.Equal("web", Answer<ClusterDirectoryActor.Granted>(a).Name);
        Assert.Equal("name-in-use", Answer<ClusterDirectoryActor.Denied>(b).Code);
    }

    [Fact]
    public void An_unclaimed_grant_with_a_resume_token_is_held_for_the_token_and_one_without_is_freed()
    {
        var node = CreateTestProbe();
        var directory = ReadyDirectory(node);
        var token = Protocol.ResumeToken.New().ToString();

        directory.Tell(new ClusterDirectoryActor.Claim(1, "kept", null, token, true), node.Ref);
        var kept = Answer<ClusterDirectoryActor.Granted>(node);
        directory.Tell(new ClusterDirectoryActor.Claim(2, "freed", null, null, true), node.Ref);
        Answer<ClusterDirectoryActor.Granted>(node);
        directory.Tell(new ClusterDirectoryActor.Unclaimed("kept"), node.Ref);
        directory.Tell(new ClusterDirectoryActor.Unclaimed("freed"), node.Ref);

        // Another app cannot have the held name; the same token gets it back with its port.
        directory.Tell(new ClusterDirectoryActor.Claim(3, "kept", null, null, true), node.Ref);
        Assert.Equal("name-in-use", Answer<ClusterDirectoryActor.Denied>(node).Code);
        directory.Tell(new ClusterDirectoryActor.Claim(4, "kept", null, token, true), node.Ref);
        Assert.Equal(kept.Port, Answer<ClusterDirectoryActor.Granted>(node).Port);
        // The other name is free again.
        directory.Tell(new ClusterDirectoryActor.Claim(5, "freed", null, null, true), node.Ref);
        Assert.Equal("freed", Answer<ClusterDirectoryActor.Granted>(node).Name);
    }
}
