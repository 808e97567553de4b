using System.Net;

namespace TcpRelay.Bench;

/// <summary>
/// The seed relay (peers/seed, Go: the relay this project grew from) with an app speaking its
/// protocol, which echoes itself: its own Go sample app, or <see cref="SeedEchoApp"/> in .NET.
/// <c>-relaystyle 1</c>: the first app's public port is the registration port + 1.
/// Known limits, which the scenarios allow for: no half-close (<see cref="PassesHalfClose"/>),
/// sessions cut at 60 s (held sessions are measured within that), exits on accept errors (a
/// phase then fails, the run goes on). It logs every connection: to a file.
/// </summary>
public sealed class SeedTarget(bool dotnetApp) : Target
{
    public const string GoKey = "seed-go";
    public const string DotnetKey = "seed-dotnet";

    public override string Key => dotnetApp ? DotnetKey : GoKey;

    public override string Title => dotnetApp ? "seed + .NET app" : "seed + Go app";

    public override bool PassesHalfClose => false;

    public override bool EchoesInApp => true;

    public override string? Unavailable(TargetContext context) =>
        !File.Exists(context.Peer("seedrelay")) ? $"{context.Peer("seedrelay")} not found (bash /work/shared/peers/build.sh {context.PeersDirectory})"
        : dotnetApp && context.BenchDll is null ? "the benchmark's own dll (for its seed app mode) was not found"
        : null;

    public override async Task<RunningTarget> StartAsync(TargetContext context)
    {
        var registration = Ports.FreePair();
        var relay = ChildProcess.Start("seedrelay", context.Peer("seedrelay"),
            ["-regport", $"{registration}", "-relaystyle", "1"], context.LogFile($"{Key}-relay"));
        // Not by connecting: the seed takes any connection to its registration port for an app.
        await Ports.WaitUntilAsync(() => Task.FromResult(Ports.Listening(registration)), relay, "the seed's registration port");
        var app = dotnetApp
            ? TcpRelayProcesses.BenchApp(context, "seed .NET app", $"{SeedEchoApp.Mode} {registration}")
            : ChildProcess.Start("seed Go app", context.Peer("seedrelay"), ["-sampleapp", "-regportecho", $"{registration}"], context.LogFile($"{Key}-app"));
        var echo = new IPEndPoint(IPAddress.Loopback, registration + 1);
        await Ports.WaitUntilAsync(() => Ports.EchoesAsync(echo), app, "the app through the seed");
        return new RunningTarget(this, echo, [relay], [app]);
    }
}
