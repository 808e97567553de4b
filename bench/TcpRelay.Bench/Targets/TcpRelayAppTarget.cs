using System.Net;

namespace TcpRelay.Bench;

/// <summary>
/// <c>tcprelay serve</c> and a native app on the client library (<see cref="TcpRelayEchoApp"/>),
/// which echoes itself. The counterpart of the seed with an app of its own.
/// </summary>
public sealed class TcpRelayAppTarget : Target
{
    public const string KeyName = "app";

    public override string Key => KeyName;

    public override string Title => "TcpRelay + app";

    public override bool EchoesInApp => true;

    public override string? Unavailable(TargetContext context) =>
        context.BenchDll is null ? "the benchmark's own dll (for its app mode) was not found" : null;

    public override async Task<RunningTarget> StartAsync(TargetContext context)
    {
        var (ports, port) = (Ports.Any(2), Ports.FreePair());
        var (control, data) = (ports[0], ports[1]);
        var relay = TcpRelayProcesses.Serve(context, "tcprelay serve", $"--control-port {control} --data-port {data} --public-ports {port}-{port}");
        await TcpRelayProcesses.WaitForControlPortAsync(relay, control);
        var app = TcpRelayProcesses.BenchApp(context, "TcpRelay app", $"{TcpRelayEchoApp.Mode} {control} {port}");
        var echo = new IPEndPoint(IPAddress.Loopback, port);
        await Ports.WaitUntilAsync(() => Ports.EchoesAsync(echo), app, "the app through the relay");
        return new RunningTarget(this, echo, [relay], [app]);
    }
}
