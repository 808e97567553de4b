namespace TcpRelay.Bench;

/// <summary>
/// The timed scenarios — throughput with 1 and 8 streams, round trip, session setup — in rounds:
/// each round measures every target once, in turn, so that a slow spell of the shared machine
/// falls on all of them alike rather than on one; the table shows the medians of the rounds.
/// Relay and agent/app CPU are read around each phase from /proc.
/// </summary>
public sealed class RoundRobin(BenchOptions options, Metrics metrics, Measurements results)
{
    public async Task RunAsync(IReadOnlyList<RunningTarget> targets)
    {
        for (var round = 1; round <= options.Reps; round++)
        {
            var of = $"{round}/{options.Reps}";
            if (options.Runs("throughput"))
                foreach (var sessions in new[] { 1, 8 })
                    foreach (var target in targets)
                        await ThroughputAsync(target, sessions, of);
            if (options.Runs("roundtrip"))
                foreach (var target in targets)
                    await RoundTripAsync(target, of);
            if (options.Runs("setup"))
                foreach (var target in targets)
                    await SetupAsync(target, of);
        }
    }

    private async Task ThroughputAsync(RunningTarget target, int sessions, string round)
    {
        var streamed = sessions * options.StreamBytes;
        var t = target.Target;
        await MeasureAsync(target, [metrics.Throughput(sessions), metrics.RelayCpuPerGib(sessions), metrics.AppCpuPerGib(sessions)],
            $"throughput x{sessions} {t} ({round})", streamed,
            (progress, ct) => Scenarios.ThroughputAsync(target.Echo, sessions, options.StreamBytes, t.PassesHalfClose, progress, ct),
            (rate, cpu) =>
            {
                results.Add(metrics.Throughput(sessions), t, rate);
                if (cpu is null)
                    return;
                // Bytes through a relay: every byte crosses it twice (client to app, app to client).
                var gib = 2.0 * streamed / (1 << 30);
                results.Add(metrics.RelayCpuPerGib(sessions), t, cpu.Relay.Cpu.TotalSeconds / gib);
                results.Add(metrics.AppCpuPerGib(sessions), t, cpu.App.Cpu.TotalSeconds / gib);
                results.Add(metrics.RelayKernelShare(sessions), t, cpu.Relay.KernelPercent);
                results.Add(metrics.AppKernelShare(sessions), t, cpu.App.KernelPercent);
            });
    }

    private async Task RoundTripAsync(RunningTarget target, string round)
    {
        var t = target.Target;
        await MeasureAsync(target, [metrics.RoundTripP50, metrics.RoundTripP99, metrics.RoundTripP999],
            $"round trip {t} ({round})", 0,
            (_, ct) => Scenarios.RoundTripAsync(target.Echo, options.RoundTrips, ct),
            (times, _) =>
            {
                results.Add(metrics.RoundTripP50, t, Scenarios.Percentile(times, 0.5));
                results.Add(metrics.RoundTripP99, t, Scenarios.Percentile(times, 0.99));
                results.Add(metrics.RoundTripP999, t, Scenarios.Percentile(times, 0.999));
            });
    }

    private async Task SetupAsync(RunningTarget target, string round)
    {
        var t = target.Target;
        await MeasureAsync(target, [metrics.SetupRate, metrics.SetupP50, metrics.SetupP99, metrics.SetupRelayCpu, metrics.SetupAppCpu],
            $"setup {t} ({round})", options.SetupSessions,
            (progress, ct) => Scenarios.SetupAsync(target.Echo, options.SetupSessions, options.SetupConcurrency, () => progress(1), ct),
            (setup, cpu) =>
            {
                results.Add(metrics.SetupRate, t, setup.PerSecond);
                results.Add(metrics.SetupP50, t, Scenarios.Percentile(setup.LatencyMs, 0.5));
                results.Add(metrics.SetupP99, t, Scenarios.Percentile(setup.LatencyMs, 0.99));
                if (cpu is null)
                    return;
                results.Add(metrics.SetupRelayCpu, t, cpu.Relay.Cpu.TotalMilliseconds / options.SetupSessions);
                results.Add(metrics.SetupAppCpu, t, cpu.App.Cpu.TotalMilliseconds / options.SetupSessions);
            });
    }

    /// <summary>CPU the relay and the agent/app spent in a phase, and the share of it in the kernel.</summary>
    private sealed record CpuSpent((TimeSpan Cpu, double KernelPercent) Relay, (TimeSpan Cpu, double KernelPercent) App);

    /// <summary>
    /// Runs a phase with the relay's and agent/app's CPU read around it, and records what it gives
    /// (the CPU is null for direct, which has no process of its own); if it fails,
    /// <paramref name="failing"/> are recorded as failed for this round.
    /// </summary>
    private async Task MeasureAsync<T>(RunningTarget target, Metric[] failing, string name, long expected,
        Func<Action<long>, CancellationToken, Task<T>> run, Action<T, CpuSpent?> record)
    {
        var before = (Relay: target.SampleRelay(), App: target.SampleApp());
        try
        {
            var result = await Phase.RunAsync(name, expected, options.PhaseTimeout, run);
            record(result, target.Relay.Count == 0 ? null
                : new CpuSpent(target.SampleRelay().Since(before.Relay), target.SampleApp().Since(before.App)));
        }
        catch (PhaseFailedException e)
        {
            var why = target.Exited() ?? e.Message;
            foreach (var metric in failing)
                results.Fail(metric, target.Target, why);
        }
    }
}
