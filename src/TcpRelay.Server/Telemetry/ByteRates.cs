namespace TcpRelay.Server.Telemetry;

/// <summary>Bytes per second each way over one sampling interval.</summary>
internal readonly record struct ByteRate(double FromClients, double FromApp);

/// <summary>
/// Byte rates per app, from the apps' byte counters sampled now and then: each app keeps its last
/// <see cref="Capacity"/> samples in a ring, and an app no longer on the board loses them, so the
/// memory is bounded by the apps there are. One sampler writes, any request reads.
/// </summary>
internal sealed class ByteRates(int capacity)
{
    private readonly record struct Sample(TimeSpan At, long FromClients, long FromApp);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Sample[]> _rings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);
    private int _next;

    /// <summary>Samples kept per app: one more than the rates a history holds.</summary>
    public int Capacity { get; } = capacity >= 2 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), "two samples make the first rate");

    /// <summary>Takes a sample of every app's counters at <paramref name="at"/> (a monotonic clock's reading).</summary>
    public void Record(TimeSpan at, IEnumerable<AppSnapshot> apps)
    {
        // A name may be listed twice for a moment (a departed app's last sessions beside its successor's).
        var totals = apps.GroupBy(a => a.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => new Sample(at, g.Sum(a => a.BytesFromClients), g.Sum(a => a.BytesFromApp)), StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var gone in _rings.Keys.Where(name => !totals.ContainsKey(name)).ToList())
            {
                _rings.Remove(gone);
                _counts.Remove(gone);
            }
            // Every ring is written at the same slot, so one index serves them all; a ring made
            // now simply has fewer samples behind that slot.
            foreach (var (name, sample) in totals)
            {
                if (!_rings.TryGetValue(name, out var ring))
                    _rings[name] = ring = new Sample[Capacity];
                ring[_next] = sample;
                _counts[name] = Math.Min(_counts.GetValueOrDefault(name) + 1, Capacity);
            }
            _next = (_next + 1) % Capacity;
        }
    }

    /// <summary>The rate over the last interval; zero before the app has two samples.</summary>
    public ByteRate Current(string app)
    {
        var history = History(app);
        return history.Count == 0 ? default : history[^1];
    }

    /// <summary>The rates over the app's sampled intervals, oldest first: at most <see cref="Capacity"/> - 1.</summary>
    public IReadOnlyList<ByteRate> History(string app)
    {
        Sample[] samples;
        lock (_lock)
        {
            if (!_rings.TryGetValue(app, out var ring))
                return [];
            var count = _counts[app];
            samples = new Sample[count];
            for (var i = 0; i < count; i++)
                samples[i] = ring[(_next - count + i + Capacity) % Capacity];
        }
        var rates = new ByteRate[Math.Max(0, samples.Length - 1)];
        for (var i = 1; i < samples.Length; i++)
        {
            var seconds = (samples[i].At - samples[i - 1].At).TotalSeconds;
            rates[i - 1] = seconds <= 0 ? default : new ByteRate(Rate(samples[i - 1].FromClients, samples[i].FromClients, seconds), Rate(samples[i - 1].FromApp, samples[i].FromApp, seconds));
        }
        return rates;
    }

    // A counter that went back is a name registered anew from zero: what moved before it is unknown, not negative.
    private static double Rate(long before, long after, double seconds) => after < before ? 0 : (after - before) / seconds;
}
