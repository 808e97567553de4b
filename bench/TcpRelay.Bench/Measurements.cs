namespace TcpRelay.Bench;

/// <summary>One quantity the benchmark measures, for every target (<see cref="Metrics"/> lists them).</summary>
/// <param name="Scenario">What was done ("throughput x8", "held 10000").</param>
/// <param name="VersusDirect">Also shown as a ratio to the direct target's figure from the same run.</param>
public sealed record Metric(string Scenario, string Name, string Unit, bool VersusDirect = false);

/// <summary>A metric's values for one target over the rounds, the median and the ratio to direct (the JSON's figures).</summary>
public sealed record Figure(string Scenario, string Metric, string Unit, string Target, double[] Values, double? Median, double? VersusDirect, string[] Failures);

/// <summary>Every value of a run, by metric and target, and every failure (a phase that threw or timed out).</summary>
public sealed class Measurements
{
    private readonly Dictionary<(Metric, string Target), List<double>> _values = [];
    private readonly Dictionary<(Metric, string Target), List<string>> _failures = [];

    public void Add(Metric metric, Target target, double value) => Get(_values, metric, target).Add(value);

    public void Fail(Metric metric, Target target, string why) => Get(_failures, metric, target).Add(why);

    public double? Median(Metric metric, Target target) =>
        _values.TryGetValue((metric, target.Key), out var values) && values.Count > 0 ? MedianOf(values) : null;

    /// <summary>The target's median over the direct target's median, where the metric compares with direct.</summary>
    public double? VersusDirect(Metric metric, Target target, Target direct) =>
        metric.VersusDirect && target != direct && Median(metric, target) is { } value && Median(metric, direct) is > 0 and var baseline
            ? value / baseline
            : null;

    /// <summary>How many rounds failed and how many were tried, for the table's cell.</summary>
    public (int Failed, int Tried) Outcome(Metric metric, Target target)
    {
        var failed = _failures.TryGetValue((metric, target.Key), out var failures) ? failures.Count : 0;
        var passed = _values.TryGetValue((metric, target.Key), out var values) ? values.Count : 0;
        return (failed, failed + passed);
    }

    public IReadOnlyList<Figure> Figures(IReadOnlyList<Target> targets, Target direct) =>
        _values.Keys.Concat(_failures.Keys).Distinct()
            .Select(key => (Metric: key.Item1, Target: targets.First(t => t.Key == key.Target)))
            .Select(k => new Figure(k.Metric.Scenario, k.Metric.Name, k.Metric.Unit, k.Target.Title,
                [.. _values.GetValueOrDefault((k.Metric, k.Target.Key)) ?? []], Median(k.Metric, k.Target),
                VersusDirect(k.Metric, k.Target, direct), [.. _failures.GetValueOrDefault((k.Metric, k.Target.Key)) ?? []]))
            .ToList();

    private static List<T> Get<T>(Dictionary<(Metric, string), List<T>> map, Metric metric, Target target)
    {
        if (!map.TryGetValue((metric, target.Key), out var list))
            map[(metric, target.Key)] = list = [];
        return list;
    }

    private static double MedianOf(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
