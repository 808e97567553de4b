using System.Net;

namespace TcpRelay.Bench;

/// <summary>
/// Clients push as fast as they can into the sink, which accepts and never reads, on a fresh
/// instance of a target that exposes the sink (TcpRelay + agent): the relay must hold back, its
/// memory stays bounded.
/// </summary>
public sealed class StalledReader(TargetContext context, Metrics metrics, Measurements results)
{
    public async Task RunAsync(Target target)
    {
        await using var running = await FreshTarget.StartAsync(target, context, results, metrics.StalledGrowth);
        if (running?.SinkPort is not { } sink)
            return;
        var options = context.Options;
        var before = running.SampleRelay();
        try
        {
            // Halfway the pipes are full and the relay has stopped reading; flat means nothing grows after that.
            ProcessSample? halfway = null;
            var pushed = await Phase.RunAsync($"stalled reader {target} for {options.StallFor.TotalSeconds:0.#} s", 0, options.StallFor + options.PhaseTimeout,
                async (_, ct) =>
                {
                    var push = Scenarios.PushIntoStallAsync(new IPEndPoint(IPAddress.Loopback, sink), options.StalledSessions, options.StallFor, ct);
                    await Task.Delay(options.StallFor / 2, ct);
                    halfway = running.SampleRelay();
                    return await push;
                });
            var after = running.SampleRelay();
            results.Add(metrics.StalledGrowth, target, (after.Rss - before.Rss) / 1048576.0 / options.StalledSessions);
            results.Add(metrics.StalledLateGrowth, target, (after.Rss - halfway!.Value.Rss) / 1048576.0 / options.StalledSessions);
            results.Add(metrics.StalledTaken, target, pushed / 1048576.0 / options.StalledSessions);
        }
        catch (PhaseFailedException e)
        {
            results.Fail(metrics.StalledGrowth, target, running.Exited() ?? e.Message);
        }
        finally
        {
            context.Services.ReleaseSink();
        }
    }
}
