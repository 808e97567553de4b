namespace TcpRelay.Bench;

/// <summary>Every metric of a run; scenario names carry the run's sizes ("held 10000").</summary>
public sealed class Metrics(BenchOptions options)
{
    public Metric Throughput(int sessions) => new($"throughput x{sessions}", "each way", "MiB/s", VersusDirect: true);

    public Metric RelayCpuPerGib(int sessions) => new($"throughput x{sessions}", "relay CPU per GiB relayed", "s");
    public Metric AppCpuPerGib(int sessions) => new($"throughput x{sessions}", "agent/app CPU per GiB relayed", "s");

    // Most of it is the kernel's (docs/performance.md): what bounds the ratio is not the relay's code.
    public Metric RelayKernelShare(int sessions) => new($"throughput x{sessions}", "relay CPU in the kernel", "%");
    public Metric AppKernelShare(int sessions) => new($"throughput x{sessions}", "agent/app CPU in the kernel", "%");

    public readonly Metric RoundTripP50 = new("round trip 64 B", "p50", "µs", VersusDirect: true);
    public readonly Metric RoundTripP99 = new("round trip 64 B", "p99", "µs", VersusDirect: true);
    public readonly Metric RoundTripP999 = new("round trip 64 B", "p999", "µs", VersusDirect: true);

    public Metric SetupRate => new("setup", $"sessions/s at concurrency {options.SetupConcurrency}", "1/s", VersusDirect: true);
    public readonly Metric SetupP50 = new("setup", "p50 latency", "ms", VersusDirect: true);
    public readonly Metric SetupP99 = new("setup", "p99 latency", "ms", VersusDirect: true);
    public readonly Metric SetupRelayCpu = new("setup", "relay CPU per session", "ms");
    public readonly Metric SetupAppCpu = new("setup", "agent/app CPU per session", "ms");

    public readonly Metric IdleRelayCpu = new("idle", "relay CPU", "% of a core");
    public readonly Metric IdleAppCpu = new("idle", "agent/app CPU", "% of a core");

    private string Held => $"held {options.HeldSessions}";
    private string AfterTraffic => $"{Held}, after {options.HeldExchangeBytes / 1024} KiB each way";
    public Metric HeldRelayRss => new(Held, "relay RSS per session", "KiB");
    public Metric HeldAppRss => new(Held, "agent/app RSS per session", "KiB");
    public Metric HeldTreePss => new(Held, "relay + agent/app PSS per session", "KiB");
    public Metric HeldRelayRssAfter => new(AfterTraffic, "relay RSS per session", "KiB");
    public Metric HeldAppRssAfter => new(AfterTraffic, "agent/app RSS per session", "KiB");
    public Metric HeldTreePssAfter => new(AfterTraffic, "relay + agent/app PSS per session", "KiB");
    public Metric HeldRelayTotal => new(Held, "relay RSS total", "MiB");
    public Metric HeldRelayThreads => new(Held, "relay threads", "");

    private string Stalled => $"stalled reader x{options.StalledSessions}";
    public Metric StalledGrowth => new(Stalled, "relay RSS growth per session", "MiB");
    public Metric StalledLateGrowth => new(Stalled, "relay RSS growth per session in the stall's second half", "MiB");
    public Metric StalledTaken => new(Stalled, "bytes taken before the stall, per session", "MiB");
}
