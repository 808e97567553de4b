using System.Net.Sockets;

namespace TcpRelay.Bench;

/// <summary>
/// Memory per held session, on a fresh instance of a target: N sessions opened (one byte each way)
/// and left idle, then a few KiB each way on every one of them and idle again — a session's cost
/// should not grow once traffic has passed. Read for the relay process alone, the agent/app alone,
/// and the PSS of both (shared pages counted once). Within the seed's 60 s session lifetime.
/// </summary>
public sealed class HeldSessions(TargetContext context, Metrics metrics, Measurements results)
{
    private BenchOptions Options => context.Options;

    public async Task RunAsync(Target target)
    {
        Metric[] opened = [metrics.HeldRelayRss, metrics.HeldAppRss, metrics.HeldTreePss];
        Metric[] afterTraffic = [metrics.HeldRelayRssAfter, metrics.HeldAppRssAfter, metrics.HeldTreePssAfter];
        await using var running = await FreshTarget.StartAsync(target, context, results, [.. opened, .. afterTraffic]);
        if (running is null)
            return;
        var count = Options.HeldSessions;
        var sockets = new Socket?[count];
        var failing = opened.Concat(afterTraffic).ToArray();
        try
        {
            await Task.Delay(Options.Settle);
            var idle = Sample(running);
            await Phase.RunAsync($"held {count} {target}: opening", count, Options.PhaseTimeout,
                (progress, ct) => Scenarios.HoldAsync(running.Echo, sockets, () => progress(1), ct));
            await Task.Delay(Options.Settle);
            var held = Sample(running);
            Record(target, opened, idle, held, count);
            results.Add(metrics.HeldRelayTotal, target, held.Relay.Rss / 1048576.0);
            results.Add(metrics.HeldRelayThreads, target, held.Relay.Threads);
            failing = afterTraffic;

            await Phase.RunAsync($"held {count} {target}: {Options.HeldExchangeBytes} bytes each way on each", count, Options.PhaseTimeout,
                (progress, ct) => Scenarios.ExchangeAsync(sockets!, Options.HeldExchangeBytes, () => progress(1), ct));
            await Task.Delay(Options.Settle);
            Record(target, afterTraffic, idle, Sample(running), count);
        }
        catch (PhaseFailedException e)
        {
            var why = running.Exited() ?? e.Message;
            foreach (var metric in failing)
                results.Fail(metric, target, why);
        }
        finally
        {
            foreach (var socket in sockets)
                socket?.Dispose();
        }
    }

    private static (ProcessSample Relay, ProcessSample App) Sample(RunningTarget target) => (target.SampleRelay(), target.SampleApp());

    /// <summary>Growth per session from <paramref name="idle"/>: relay RSS, agent/app RSS, PSS of both, KiB.</summary>
    private void Record(Target target, Metric[] metricsOf, (ProcessSample Relay, ProcessSample App) idle, (ProcessSample Relay, ProcessSample App) now, int count)
    {
        results.Add(metricsOf[0], target, (now.Relay.Rss - idle.Relay.Rss) / 1024.0 / count);
        results.Add(metricsOf[1], target, (now.App.Rss - idle.App.Rss) / 1024.0 / count);
        results.Add(metricsOf[2], target, (now.Relay.Pss + now.App.Pss - idle.Relay.Pss - idle.App.Pss) / 1024.0 / count);
    }
}
