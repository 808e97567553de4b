using System.Net;

namespace TcpRelay.Bench;

/// <summary>
/// <c>--cluster N</c>: N relay nodes on 127.0.0.1 … 127.0.0.N in one cluster, the agent registered
/// on the first, clients at node 2. That is the byte path of a client that reached another node
/// than the app's: the session is paired at node 2 (the agent is told <c>data=</c> node 2 and
/// dials it). Its relay figures are all nodes' together.
/// </summary>
public sealed class TcpRelayClusterTarget(int nodes) : Target
{
    public const string KeyName = "cluster";

    public override string Key => KeyName;

    public override string Title => $"TcpRelay {nodes}-node cluster + agent";

    public override async Task<RunningTarget> StartAsync(TargetContext context)
    {
        var ports = Ports.Any(3);
        var (control, data, cluster) = (ports[0], ports[1], ports[2]);
        var first = Ports.FreePair();
        var relays = Enumerable.Range(1, nodes).Select(i => TcpRelayProcesses.Serve(context, $"tcprelay node {i}",
            $"--bind 127.0.0.{i} --control-port {control} --data-port {data} --public-ports {first}-{first + 1} " +
            $"--cluster-bind 127.0.0.{i}:{cluster} --cluster-seeds 127.0.0.1:{cluster}")).ToArray();
        await TcpRelayProcesses.WaitForControlPortAsync(relays[0], control);
        var agent = TcpRelayProcesses.Agent(context, control,
            (context.Services.EchoPort, "bench-echo", first), (context.Services.SinkPort, "bench-sink", first + 1));
        for (var i = 1; i <= nodes; i++)
        {
            var node = new IPEndPoint(IPAddress.Parse($"127.0.0.{i}"), first);
            await Ports.WaitUntilAsync(() => Ports.EchoesAsync(node), agent, $"the echo server through node {node.Address}");
        }
        return new RunningTarget(this, new IPEndPoint(IPAddress.Parse("127.0.0.2"), first), relays, [agent]);
    }
}
