using System.Globalization;

namespace TcpRelay.Bench;

/// <summary>The benchmark's command line and the sizes it implies.</summary>
public sealed record BenchOptions
{
    public static readonly string[] Scenarios = ["throughput", "roundtrip", "setup", "idle", "held", "stalled"];

    public bool Quick { get; init; }
    public string? Scenario { get; init; }
    public string? JsonFile { get; init; }

    /// <summary>Rounds of the timed scenarios: each round measures every target once, in turn; the table shows medians.</summary>
    public int Reps { get; init; } = 3;

    /// <summary>Keys of the targets to run (<see cref="TargetCatalog"/>), null: the default set.</summary>
    public IReadOnlySet<string>? Targets { get; init; }

    public bool NoPeers { get; init; }

    /// <summary>Where the peer relays' binaries are (peers/build.sh puts them there).</summary>
    public string PeersDirectory { get; init; } = "/tmp/peers";

    /// <summary>Bytes each session streams each way in the throughput scenarios.</summary>
    public long StreamBytes { get; init; } = 256L << 20;

    public int SetupSessions { get; init; } = 3000;
    public int SetupConcurrency { get; init; } = 64;
    public int RoundTrips { get; init; } = 20_000;

    /// <summary>Sessions held open at once, on a fresh instance of each target.</summary>
    public int HeldSessions { get; init; } = 10_000;

    /// <summary>Bytes each way on every held session once they are all open (the "after traffic" figures).</summary>
    public int HeldExchangeBytes { get; init; } = 4096;

    /// <summary>How long processes are left alone before memory is read (what stays is what a session costs).</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long idle relays' CPU is sampled. /proc counts CPU in 10 ms ticks, so a few ticks more or
    /// less in 10 s read as 0.3 % of a core: 30 s keeps that noise under the 0.5 % being measured.
    /// </summary>
    public TimeSpan IdleFor { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long after start-up idle sampling begins: .NET's tiered JIT recompiles hot code in the background for a while.</summary>
    public TimeSpan IdleSettle { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan StallFor { get; init; } = TimeSpan.FromSeconds(10);
    public int StalledSessions { get; init; } = 4;

    /// <summary>A phase (one target, one scenario, one round) that takes longer fails rather than hangs the run.</summary>
    public TimeSpan PhaseTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Environment variables for TcpRelay's relay processes only (experiments: GC modes, tiering).</summary>
    public IReadOnlyDictionary<string, string> RelayEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Also measure a cluster of this many relay nodes (the app on the first, clients at the second), 0: no.</summary>
    public int ClusterNodes { get; init; }

    public bool Runs(string scenario) => Scenario is null || Scenario == scenario;

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
            int NextInt() => int.Parse(Next(), CultureInfo.InvariantCulture);
            options = args[i] switch
            {
                // Under a minute on two cores, every target: small sizes, still three rounds.
                "--quick" => options with
                {
                    Quick = true, StreamBytes = 16L << 20, SetupSessions = 1000, RoundTrips = 2000, HeldSessions = 1000,
                    Settle = TimeSpan.FromMilliseconds(500), IdleFor = TimeSpan.FromSeconds(2), IdleSettle = TimeSpan.FromMilliseconds(500), StallFor = TimeSpan.FromSeconds(2),
                    PhaseTimeout = TimeSpan.FromSeconds(20),
                },
                // For the smoke test in dotnet test: everything tiny, one round, nothing timed.
                "--tiny" => options with
                {
                    Quick = true, Reps = 1, StreamBytes = 1L << 20, SetupSessions = 50, SetupConcurrency = 8, RoundTrips = 50, HeldSessions = 20,
                    Settle = TimeSpan.FromMilliseconds(100), IdleFor = TimeSpan.FromMilliseconds(300), IdleSettle = TimeSpan.FromMilliseconds(100),
                    StallFor = TimeSpan.FromMilliseconds(300), StalledSessions = 1, PhaseTimeout = TimeSpan.FromSeconds(20),
                },
                "--scenario" => Next() is var scenario && Scenarios.Contains(scenario)
                    ? options with { Scenario = scenario }
                    : throw new FormatException($"--scenario: one of {string.Join(", ", Scenarios)}"),
                "--json" => options with { JsonFile = Next() },
                "--reps" => NextInt() is var reps and >= 1 ? options with { Reps = reps } : throw new FormatException("--reps: at least 1"),
                "--targets" => Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is var keys
                    && keys.Except(TargetCatalog.Keys).ToArray() is { Length: 0 }
                    ? options with { Targets = keys.ToHashSet() }
                    : throw new FormatException($"--targets: some of {string.Join(",", TargetCatalog.Keys)}"),
                "--no-peers" => options with { NoPeers = true },
                "--peers" => options with { PeersDirectory = Next() },
                "--stream-mib" => options with { StreamBytes = (long)NextInt() << 20 },
                "--held" => options with { HeldSessions = NextInt() },
                "--setup-sessions" => options with { SetupSessions = NextInt() },
                "--relay-env" when Next().Split('=', 2) is [var key, var value] => options with
                {
                    RelayEnvironment = new Dictionary<string, string>(options.RelayEnvironment) { [key] = value },
                },
                "--relay-env" => throw new FormatException("--relay-env takes KEY=VALUE"),
                "--cluster" => NextInt() is var n and >= 2 and <= 9
                    ? options with { ClusterNodes = n }
                    : throw new FormatException("--cluster: from 2 to 9 nodes"),
                var other => throw new FormatException($"unknown argument '{other}'"),
            };
        }
        return options;
    }

    public static string Usage =>
        "usage: dotnet run -c Release --project bench/TcpRelay.Bench -- [--quick] [--scenario NAME] [--json FILE] [--reps N]\n" +
        "         [--targets A,B,...] [--no-peers] [--peers DIR] [--stream-mib N] [--held N] [--setup-sessions N]\n" +
        "         [--relay-env KEY=VALUE]... [--cluster N]\n" +
        $"  scenarios: {string.Join(", ", Scenarios)} (default: all)\n" +
        $"  targets: {string.Join(", ", TargetCatalog.Keys)} (default: all but cluster; direct always)\n" +
        "  --peers DIR: where bore and seedrelay are (default /tmp/peers; bash /work/shared/peers/build.sh DIR builds them)\n" +
        "  --cluster N: also a cluster of N TcpRelay nodes (agent on node 1, clients at node 2)";
}
