using System.Net;

namespace TcpRelay.Bench;

/// <summary>
/// A target up and ready: where clients connect for the echo service, and its processes, split into
/// the relay (what a relay operator runs) and the agent or app (what runs beside the service).
/// </summary>
public sealed class RunningTarget(Target target, IPEndPoint echo, IReadOnlyList<ChildProcess> relay, IReadOnlyList<ChildProcess> app, int? sinkPort = null)
    : IAsyncDisposable
{
    public Target Target => target;

    /// <summary>Where clients connect to reach the echo service.</summary>
    public IPEndPoint Echo => echo;

    /// <summary>Where clients connect to reach the sink that never reads, if this target exposes it.</summary>
    public int? SinkPort => sinkPort;

    public IReadOnlyList<ChildProcess> Relay => relay;

    public IReadOnlyList<ChildProcess> App => app;

    /// <summary>The relay processes' memory and CPU summed (a cluster has several).</summary>
    public ProcessSample SampleRelay() => Sum(relay);

    public ProcessSample SampleApp() => Sum(app);

    /// <summary>Why a phase failed, if it was because a process is gone.</summary>
    public string? Exited() =>
        relay.Concat(app).FirstOrDefault(p => p.HasExited) is { } gone ? gone.Describe() : null;

    private static ProcessSample Sum(IEnumerable<ChildProcess> processes) =>
        processes.Aggregate(ProcessSample.Zero, (sum, p) => sum + p.Sample());

    public async ValueTask DisposeAsync()
    {
        // The app first, so that the relay does not see a registration vanish while it stops.
        foreach (var process in app.Concat(relay))
            await process.DisposeAsync();
    }
}
