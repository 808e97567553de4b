using System.Net;

namespace TcpRelay.Bench;

/// <summary>
/// <c>tcprelay serve</c> and <c>tcprelay agent</c>, the agent exposing the benchmark's echo server
/// and its sink (the stalled-reader scenario). The counterpart of bore.
/// </summary>
public sealed class TcpRelayAgentTarget : Target
{
    public const string KeyName = "agent";

    public override string Key => KeyName;

    public override string Title => "TcpRelay + agent";

    public override async Task<RunningTarget> StartAsync(TargetContext context)
    {
        var (ports, first) = (Ports.Any(2), Ports.FreePair());
        var (control, data) = (ports[0], ports[1]);
        var relay = TcpRelayProcesses.Serve(context, "tcprelay serve", $"--control-port {control} --data-port {data} --public-ports {first}-{first + 1}");
        await TcpRelayProcesses.WaitForControlPortAsync(relay, control);
        var agent = TcpRelayProcesses.Agent(context, control,
            (context.Services.EchoPort, "bench-echo", first), (context.Services.SinkPort, "bench-sink", first + 1));
        var echo = new IPEndPoint(IPAddress.Loopback, first);
        await Ports.WaitUntilAsync(() => Ports.EchoesAsync(echo), agent, "the echo server through the relay");
        // The agent registers its services one after the other: the sink's port may not listen yet.
        await Ports.WaitUntilAsync(() => Ports.ConnectsAsync(first + 1), agent, "the sink's public port");
        return new RunningTarget(this, echo, [relay], [agent], first + 1);
    }
}
