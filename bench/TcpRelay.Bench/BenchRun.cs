using System.Diagnostics;
using System.Text.Json;

namespace TcpRelay.Bench;

/// <summary>One run of the benchmark: the service, the relay processes, every scenario direct then relayed.</summary>
public static class BenchRun
{
    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (FormatException e)
        {
            await Console.Error.WriteLineAsync($"bench: {e.Message}\n{BenchOptions.Usage}");
            return 2;
        }

        var root = RepoRoot();
        var tcprelay = await TcprelayDllAsync(root);
        var machine = Machine.Describe(tcprelay, root);
        await using var services = new LocalServices();
        await using var relay = await RelayProcesses.StartAsync(tcprelay, services, options.RelayEnvironment);
        var figures = new List<Figure>();
        var total = Stopwatch.StartNew();

        var singleRelay = new Dictionary<int, double>();
        if (options.Runs("throughput"))
            foreach (var sessions in new[] { 1, 8 })
            {
                var streamed = sessions * options.StreamBytes;
                var direct = await Phase($"throughput x{sessions} direct", streamed, p => Scenarios.ThroughputAsync(services.EchoPort, sessions, options.StreamBytes, p));
                var before = (Relay: relay.SampleRelay(), Agent: relay.SampleAgent());
                var relayed = await Phase($"throughput x{sessions} relayed", streamed, p => Scenarios.ThroughputAsync(relay.EchoPort, sessions, options.StreamBytes, p));
                var relayCpu = relay.SampleRelay().Since(before.Relay);
                var agentCpu = relay.SampleAgent().Since(before.Agent);
                figures.Add(new Figure($"throughput x{sessions}", "each way", "MiB/s", direct, relayed));
                singleRelay[sessions] = relayed;
                // Bytes through the relay: every byte crosses it twice (client to app, app to client).
                var gib = 2.0 * streamed / (1 << 30);
                figures.Add(new Figure($"throughput x{sessions}", "relay CPU per GiB relayed", "s", null, relayCpu.Cpu.TotalSeconds / gib));
                figures.Add(new Figure($"throughput x{sessions}", "agent CPU per GiB relayed", "s", null, agentCpu.Cpu.TotalSeconds / gib));
                // Most of it is the kernel's (docs/performance.md): what bounds the ratio is not the relay's code.
                figures.Add(new Figure($"throughput x{sessions}", "relay CPU in the kernel", "%", null, relayCpu.KernelPercent));
                figures.Add(new Figure($"throughput x{sessions}", "agent CPU in the kernel", "%", null, agentCpu.KernelPercent));
            }

        if (options.Runs("throughput") && options.ClusterNodes > 0)
        {
            // The cluster's byte path: a client at node 2 of an app registered on node 1 is paired at
            // node 2 (the app dials node 2's data port). Compared with the single relay above.
            // Single relay and cluster in turn, three rounds, medians: one phase of each alone is too
            // short for a steady figure on a shared machine.
            await using var cluster = await RelayProcesses.StartClusterAsync(tcprelay, services, options.ClusterNodes);
            var node2 = System.Net.IPAddress.Parse("127.0.0.2");
            foreach (var sessions in new[] { 1, 8 })
            {
                var streamed = sessions * options.StreamBytes;
                var (single, clustered) = (new List<double> { singleRelay[sessions] }, new List<double>());
                for (var round = 1; round <= 3; round++)
                {
                    clustered.Add(await Phase($"throughput x{sessions} through a {options.ClusterNodes}-node cluster, client at node 2 ({round}/3)", streamed,
                        p => Scenarios.ThroughputAsync(cluster.EchoPort, sessions, options.StreamBytes, p, node2)));
                    if (round < 3)
                        single.Add(await Phase($"throughput x{sessions} relayed ({round + 1}/3)", streamed,
                            p => Scenarios.ThroughputAsync(relay.EchoPort, sessions, options.StreamBytes, p)));
                }
                figures.Add(new Figure($"throughput x{sessions}, {options.ClusterNodes}-node cluster", "each way, median of 3 (direct column: the single relay)", "MiB/s",
                    Median(single), Median(clustered)));
            }
        }

        if (options.Runs("setup"))
        {
            var direct = await Phase("setup direct", options.SetupSessions, p => Scenarios.SetupAsync(services.EchoPort, options.SetupSessions, options.SetupConcurrency, () => p(1)));
            var before = (Relay: relay.SampleRelay(), Agent: relay.SampleAgent());
            var relayed = await Phase("setup relayed", options.SetupSessions, p => Scenarios.SetupAsync(relay.EchoPort, options.SetupSessions, options.SetupConcurrency, () => p(1)));
            var relayCpu = relay.SampleRelay().Since(before.Relay);
            var agentCpu = relay.SampleAgent().Since(before.Agent);
            figures.Add(new Figure("setup", $"sessions/s at concurrency {options.SetupConcurrency}", "1/s", direct.PerSecond, relayed.PerSecond));
            figures.Add(new Figure("setup", "p50 latency", "ms", Scenarios.Percentile(direct.LatencyMs, 0.5), Scenarios.Percentile(relayed.LatencyMs, 0.5)));
            figures.Add(new Figure("setup", "p99 latency", "ms", Scenarios.Percentile(direct.LatencyMs, 0.99), Scenarios.Percentile(relayed.LatencyMs, 0.99)));
            figures.Add(new Figure("setup", "relay CPU per session", "ms", null, relayCpu.Cpu.TotalMilliseconds / options.SetupSessions));
            figures.Add(new Figure("setup", "agent CPU per session", "ms", null, agentCpu.Cpu.TotalMilliseconds / options.SetupSessions));
            figures.Add(new Figure("setup", "relay CPU in the kernel", "%", null, relayCpu.KernelPercent));
            figures.Add(new Figure("setup", "agent CPU in the kernel", "%", null, agentCpu.KernelPercent));
        }

        if (options.Runs("roundtrip"))
        {
            var direct = await Phase("round trip direct", 0, _ => Scenarios.RoundTripAsync(services.EchoPort, options.RoundTrips));
            var relayed = await Phase("round trip relayed", 0, _ => Scenarios.RoundTripAsync(relay.EchoPort, options.RoundTrips));
            foreach (var (name, p) in new[] { ("p50", 0.5), ("p99", 0.99), ("p999", 0.999) })
                figures.Add(new Figure("round trip 64 B", name, "µs", Scenarios.Percentile(direct, p), Scenarios.Percentile(relayed, p)));
        }

        if (options.Runs("held"))
        {
            // A relay of its own: what the phases before left in the heap would blur what a session costs.
            await using var fresh = await RelayProcesses.StartAsync(tcprelay, services, options.RelayEnvironment);
            var before = fresh.SampleRelay();
            var held = await Phase($"held {options.HeldSessions} sessions", options.HeldSessions, p => Scenarios.HoldAsync(fresh.EchoPort, options.HeldSessions, () => p(1)));
            await Task.Delay(TimeSpan.FromSeconds(options.Quick ? 1 : 3)); // idle: what stays is what a session costs
            var after = fresh.SampleRelay();
            figures.Add(new Figure($"held {options.HeldSessions}", "relay RSS per session", "KiB", null, (after.Rss - before.Rss) / 1024.0 / options.HeldSessions));
            figures.Add(new Figure($"held {options.HeldSessions}", "relay RSS total", "MiB", null, after.Rss / 1048576.0));
            figures.Add(new Figure($"held {options.HeldSessions}", "relay threads", "", null, after.Threads));
            foreach (var socket in held)
                socket.Dispose();
        }

        if (options.Runs("stalled"))
        {
            await using var fresh = await RelayProcesses.StartAsync(tcprelay, services, options.RelayEnvironment);
            var before = fresh.SampleRelay();
            var pushed = await Phase($"stalled reader for {options.StallFor.TotalSeconds:0.#} s", 0, _ => Scenarios.PushIntoStallAsync(fresh.SinkPort, options.StalledSessions, options.StallFor));
            var after = fresh.SampleRelay();
            services.ReleaseSink();
            figures.Add(new Figure($"stalled reader x{options.StalledSessions}", "relay RSS growth per session", "MiB", null, (after.Rss - before.Rss) / 1048576.0 / options.StalledSessions));
            figures.Add(new Figure($"stalled reader x{options.StalledSessions}", "bytes taken before the stall, per session", "MiB", null, pushed / 1048576.0 / options.StalledSessions));
        }

        await output.WriteLineAsync();
        await output.WriteAsync(Report.Table(machine, figures));
        await output.WriteLineAsync($"({total.Elapsed.TotalSeconds:0} s; every byte received was checked against what was sent)");
        if (options.JsonFile is { } file)
            await File.WriteAllTextAsync(file, JsonSerializer.Serialize(new { machine, options, figures },
                new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
        return 0;
    }

    /// <summary>Runs one phase, showing progress on the terminal while it lasts.</summary>
    private static async Task<T> Phase<T>(string name, long expected, Func<Action<long>, Task<T>> run)
    {
        long done = 0;
        var clock = Stopwatch.StartNew();
        using var ticker = new Timer(_ =>
        {
            var progress = expected > 0 ? $" {100.0 * Interlocked.Read(ref done) / expected:0}%" : "";
            Console.Error.Write($"\r  {name}:{progress} {clock.Elapsed.TotalSeconds:0}s   ");
        }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        var result = await run(n => Interlocked.Add(ref done, n));
        await ticker.DisposeAsync();
        await Console.Error.WriteLineAsync($"\r  {name}: done in {clock.Elapsed.TotalSeconds:0.0}s   ");
        return result;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TcpRelay.sln")))
                return dir.FullName;
        throw new InvalidOperationException("TcpRelay.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// The relay as users run it: src/TcpRelay's build output in this benchmark's configuration,
    /// which building the benchmark builds too (it cannot run from another project's output folder).
    /// </summary>
    private static async Task<string> TcprelayDllAsync(string root)
    {
#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        var dll = Path.Combine(root, "src", "TcpRelay", "bin", configuration, "net10.0", "tcprelay.dll");
        if (!File.Exists(dll))
        {
            await Console.Error.WriteLineAsync($"  building src/TcpRelay ({configuration}) first");
            using var build = Process.Start(new ProcessStartInfo("dotnet", $"build -c {configuration} src/TcpRelay --nologo -v quiet") { WorkingDirectory = root })!;
            await build.WaitForExitAsync();
            if (build.ExitCode != 0 || !File.Exists(dll))
                throw new InvalidOperationException($"building src/TcpRelay failed ({build.ExitCode})");
        }
        return dll;
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
}
