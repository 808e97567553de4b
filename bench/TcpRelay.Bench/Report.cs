using System.Globalization;
using System.Text;

namespace TcpRelay.Bench;

/// <summary>
/// The table printed at the end of a run: a row per metric, a column per target, each cell the
/// median over the rounds and, where it compares, the ratio to direct.
/// </summary>
public static class Report
{
    /// <summary>A row of the table: one metric, or several shown as "a / b".</summary>
    private sealed record Row(string Label, params Metric[] Metrics);

    private static Row[] Rows(Metrics m, BenchOptions o) =>
    [
        new("throughput x1 (MiB/s each way)", m.Throughput(1)),
        new("throughput x8 (MiB/s each way)", m.Throughput(8)),
        new("throughput x1 relay / agent-app CPU (s per GiB)", m.RelayCpuPerGib(1), m.AppCpuPerGib(1)),
        new("throughput x8 relay / agent-app CPU (s per GiB)", m.RelayCpuPerGib(8), m.AppCpuPerGib(8)),
        new("throughput x8 relay / agent-app CPU in the kernel (%)", m.RelayKernelShare(8), m.AppKernelShare(8)),
        new("round trip 64 B p50 (µs)", m.RoundTripP50),
        new("round trip 64 B p99 (µs)", m.RoundTripP99),
        new($"setup (sessions/s at concurrency {o.SetupConcurrency})", m.SetupRate),
        new("setup p99 latency (ms)", m.SetupP99),
        new("setup relay / agent-app CPU (ms per session)", m.SetupRelayCpu, m.SetupAppCpu),
        new("idle relay / agent-app CPU (% of a core)", m.IdleRelayCpu, m.IdleAppCpu),
        new($"held {o.HeldSessions} relay RSS / agent-app RSS / both PSS (KiB per session)", m.HeldRelayRss, m.HeldAppRss, m.HeldTreePss),
        new($"held {o.HeldSessions} after {o.HeldExchangeBytes / 1024} KiB each way on each, the same", m.HeldRelayRssAfter, m.HeldAppRssAfter, m.HeldTreePssAfter),
        new($"held {o.HeldSessions} relay RSS total (MiB) / threads", m.HeldRelayTotal, m.HeldRelayThreads),
        new($"stalled reader x{o.StalledSessions} relay RSS growth, whole / second half (MiB per session)", m.StalledGrowth, m.StalledLateGrowth),
    ];

    public static string Table(Machine machine, BenchOptions options, Measurements results, IReadOnlyList<Target> columns, Target direct)
    {
        var metrics = new Metrics(options);
        var rows = new List<string[]> { new[] { "metric" }.Concat(columns.Select(t => t.Title)).ToArray() };
        foreach (var row in Rows(metrics, options))
        {
            var cells = columns.Select(target => Cell(row, target, results, direct)).ToArray();
            if (cells.Any(cell => cell != "-"))
                rows.Add([row.Label, .. cells]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        rows.Insert(1, widths.Select(w => new string('-', w)).ToArray());

        // Markdown (a table's outer pipes are optional there), and each row starts with its scenario's name.
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"machine: {machine.Cores} cores, {machine.Os}, {machine.Dotnet}, Akka {machine.Akka}, commit {machine.Commit}, {machine.At:yyyy-MM-dd HH:mm} UTC");
        text.AppendLine();
        foreach (var row in rows)
            text.AppendLine(string.Join(" | ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        return text.ToString();
    }

    private static string Cell(Row row, Target target, Measurements results, Target direct)
    {
        var values = row.Metrics.Select(metric => results.Median(metric, target) is { } value ? Number(value)
            : results.Outcome(metric, target).Failed > 0 ? "fails" : "-").ToArray();
        if (values.All(v => v == "-"))
            return "-";
        var cell = string.Join(" / ", values);
        if (row.Metrics is [var single] && results.VersusDirect(single, target, direct) is { } ratio)
            cell += $" ({ratio.ToString("0.00", CultureInfo.InvariantCulture)}×)";
        var (failed, tried) = row.Metrics.Select(metric => results.Outcome(metric, target)).MaxBy(o => o.Failed);
        if (failed > 0 && failed < tried)
            cell += $" [{failed} of {tried} failed]";
        return cell;
    }

    private static string Number(double value) => value switch
    {
        >= 100 => value.ToString("0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.00", CultureInfo.InvariantCulture),
    };
}
