using System.Diagnostics;

namespace TcpRelay.Bench;

/// <summary>
/// What a relay costs doing nothing: its CPU, and its agent's or app's, while it holds their
/// registrations and no session is open (timers, heartbeats, the runtime's own threads).
/// Every target is sampled over the same interval, so the phase takes as long for all as for one.
/// </summary>
public sealed class IdleCpu(BenchOptions options, Metrics metrics, Measurements results)
{
    public async Task RunAsync(IReadOnlyList<RunningTarget> targets)
    {
        var relays = targets.Where(t => t.Relay.Count > 0).ToList();
        if (relays.Count == 0)
            return;
        await Task.Delay(options.IdleSettle); // start-up done, the tiered JIT's background work too
        var before = relays.Select(t => (Relay: t.SampleRelay(), App: t.SampleApp())).ToList();
        var clock = Stopwatch.StartNew();
        await Console.Error.WriteLineAsync($"  idle: every relay's CPU over {options.IdleFor.TotalSeconds:0.#} s");
        await Task.Delay(options.IdleFor);
        var seconds = clock.Elapsed.TotalSeconds;
        foreach (var (target, (relay, app)) in relays.Zip(before))
        {
            if (target.Exited() is { } gone)
            {
                results.Fail(metrics.IdleRelayCpu, target.Target, gone);
                continue;
            }
            results.Add(metrics.IdleRelayCpu, target.Target, 100 * (target.SampleRelay().Cpu - relay.Cpu).TotalSeconds / seconds);
            results.Add(metrics.IdleAppCpu, target.Target, 100 * (target.SampleApp().Cpu - app.Cpu).TotalSeconds / seconds);
        }
    }
}
