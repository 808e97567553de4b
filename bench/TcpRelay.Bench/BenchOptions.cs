using System.Globalization;

namespace TcpRelay.Bench;

/// <summary>The benchmark's command line and the sizes it implies.</summary>
public sealed record BenchOptions
{
    public static readonly string[] Scenarios = ["throughput", "setup", "roundtrip", "held", "stalled"];

    public bool Quick { get; init; }
    public string? Scenario { get; init; }
    public string? JsonFile { get; init; }

    /// <summary>Bytes each session streams each way in the throughput scenarios.</summary>
    public long StreamBytes { get; init; } = 256L << 20;

    public int SetupSessions { get; init; } = 5000;
    public int SetupConcurrency { get; init; } = 64;
    public int RoundTrips { get; init; } = 20_000;

    /// <summary>
    /// Sessions held open at once. 9,000 rather than 10,000: the relay holds two sockets per session
    /// and machines here allow a process 20,000 descriptors (hard limit).
    /// </summary>
    public int HeldSessions { get; init; } = 9000;

    public TimeSpan StallFor { get; init; } = TimeSpan.FromSeconds(10);
    public int StalledSessions { get; init; } = 4;

    /// <summary>Environment variables for the relay process only (experiments: GC modes, tiering).</summary>
    public IReadOnlyDictionary<string, string> RelayEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Also stream through a cluster of this many relay nodes (the app on the first, clients at the second), 0: no.</summary>
    public int ClusterNodes { get; init; }

    public bool Runs(string scenario) => Scenario is null || Scenario == scenario;

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
            options = args[i] switch
            {
                "--quick" => options with
                {
                    Quick = true, StreamBytes = 16L << 20, SetupSessions = 1000, RoundTrips = 2000, HeldSessions = 1000,
                    StallFor = TimeSpan.FromSeconds(2),
                },
                "--scenario" => Scenarios.Contains(args[i + 1 < args.Length ? i + 1 : i])
                    ? options with { Scenario = Next() }
                    : throw new FormatException($"--scenario: one of {string.Join(", ", Scenarios)}"),
                "--json" => options with { JsonFile = Next() },
                // For the smoke test in dotnet test: everything tiny, nothing timed.
                "--tiny" => options with
                {
                    Quick = true, StreamBytes = 1L << 20, SetupSessions = 50, SetupConcurrency = 8, RoundTrips = 50, HeldSessions = 20,
                    StallFor = TimeSpan.FromMilliseconds(300), StalledSessions = 1,
                },
                "--stream-mib" => options with { StreamBytes = long.Parse(Next(), CultureInfo.InvariantCulture) << 20 },
                "--held" => options with { HeldSessions = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--relay-env" when Next().Split('=', 2) is [var key, var value] => options with
                {
                    RelayEnvironment = new Dictionary<string, string>(options.RelayEnvironment) { [key] = value },
                },
                "--relay-env" => throw new FormatException("--relay-env takes KEY=VALUE"),
                "--cluster" => int.Parse(Next(), CultureInfo.InvariantCulture) is var n and >= 2 and <= 9
                    ? options with { ClusterNodes = n }
                    : throw new FormatException("--cluster: from 2 to 9 nodes"),
                "--setup-sessions" => options with { SetupSessions = int.Parse(Next(), CultureInfo.InvariantCulture) },
                var other => throw new FormatException($"unknown argument '{other}'"),
            };
        }
        return options;
    }

    public const string Usage =
        "usage: dotnet run -c Release --project bench/TcpRelay.Bench -- [--quick] [--scenario NAME] [--json FILE]\n" +
        "                                                           [--stream-mib N] [--held N] [--setup-sessions N]\n" +
        "                                                           [--relay-env KEY=VALUE]... [--cluster N]\n" +
        "  scenarios: throughput, setup, roundtrip, held, stalled (default: all)\n" +
        "  --cluster N: the throughput scenario also runs through N clustered relays (app on node 1, clients at node 2)";
}
