using System.Net;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Cluster;
using TcpRelay.Server.Registration;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Tests;

/// <summary>Every message nodes exchange, written and read back as another node would.</summary>
public sealed class ClusterMessageSerializerTests : TestKit
{
    private readonly ClusterMessageSerializer _serializer;

    public ClusterMessageSerializerTests() : base("akka.loglevel = WARNING") => _serializer = new ClusterMessageSerializer((ExtendedActorSystem)Sys);

    private static AppName N(string name) => AppName.Parse(name).Value;

    private object RoundTrip(object message) => _serializer.FromBinary(_serializer.ToBinary(message), _serializer.Manifest(message));

    public static TheoryData<string> Messages => new(MessagesOf(ActorRefs.Nobody).Keys);

    private static Dictionary<string, object> MessagesOf(IActorRef actor)
    {
        var hash = ResumeHash.Of(ResumeToken.New());
        var id = SessionId.New();
        var entries = new[]
        {
            new ClusterDirectoryActor.AppEntry(N("web"), 9000, hash, true, actor, actor),
            new ClusterDirectoryActor.AppEntry(N("held"), 9001, null, false, null, null),
        };
        return new()
        {
            ["claim"] = new ClusterDirectoryActor.Claim(7, N("web"), 9000, hash, true),
            ["claim of anything"] = new ClusterDirectoryActor.Claim(8, null, null, null, false),
            ["granted"] = new ClusterDirectoryActor.Granted(7, N("web"), 9000),
            ["denied"] = new ClusterDirectoryActor.Denied(7, ErrorCode.NameInUse, "name 'web' is in use"),
            ["owned"] = new ClusterDirectoryActor.Owned(N("web"), actor),
            ["released"] = new ClusterDirectoryActor.Released(N("web")),
            ["unclaimed"] = new ClusterDirectoryActor.Unclaimed(N("web")),
            ["report"] = new ClusterDirectoryActor.NodeReport(entries, [9000, 9005], Full: true),
            ["table"] = new ClusterDirectoryActor.Table(entries),
            ["client v4"] = new AppActor.ClientWaiting(new Connect(id, new IPEndPoint(IPAddress.Parse("192.0.2.7"), 51000), new HostPort("node-b", 7001)), actor),
            ["client v6"] = new AppActor.ClientWaiting(new Connect(id, new IPEndPoint(IPAddress.IPv6Loopback, 51000)), actor),
            ["settled"] = new AppActor.ClientSettled(id),
            ["close"] = new PublicPortActor.CloseClient(id, "rejected by the app", SessionEndCause.Rejected),
        };
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void A_message_reads_back_equal(string which)
    {
        var message = MessagesOf(TestActor)[which];
        var back = RoundTrip(message);
        switch (message)
        {
            case ClusterDirectoryActor.NodeReport report:
                var reportBack = Assert.IsType<ClusterDirectoryActor.NodeReport>(back);
                Assert.Equal(report.Apps, reportBack.Apps);
                Assert.Equal(report.BoundPorts, reportBack.BoundPorts);
                Assert.Equal(report.Full, reportBack.Full);
                break;
            case ClusterDirectoryActor.Table table:
                Assert.Equal(table.Apps, Assert.IsType<ClusterDirectoryActor.Table>(back).Apps);
                break;
            default:
                Assert.Equal(message, back);
                break;
        }
    }

    [Fact]
    public void The_singletons_read_back_as_themselves()
    {
        Assert.Same(ClusterDirectoryActor.SendFullReport.Instance, RoundTrip(ClusterDirectoryActor.SendFullReport.Instance));
        Assert.Same(ClusterDirectoryActor.NodeDraining.Instance, RoundTrip(ClusterDirectoryActor.NodeDraining.Instance));
    }

    [Fact]
    public void A_bad_value_or_an_unknown_manifest_is_a_serialization_error()
    {
        var bytes = _serializer.ToBinary(new ClusterDirectoryActor.Released(N("web")));
        bytes[^1] = (byte)' '; // "we " is no app name
        Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "released"));
        Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "no-such-message"));
        Assert.Throws<ArgumentException>(() => _serializer.Manifest("not a cluster message"));
    }
}
