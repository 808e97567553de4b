using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TcpRelay.Bench;

/// <summary>
/// One run of the benchmark: the echo service, every target started, idle CPU, the timed scenarios
/// in rounds, then held sessions and the stalled reader on fresh instances; one table at the end.
/// </summary>
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
        var total = Stopwatch.StartNew();
        var notes = new List<string>();
        RaiseOpenFileLimit(options, notes);
        await using var services = new LocalServices();
        var logs = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "tcprelay-bench")).FullName;
        var context = new TargetContext(tcprelay, BenchDll(root), options.PeersDirectory, services, options, logs);
        var metrics = new Metrics(options);
        var results = new Measurements();

        var targets = new List<Target>();
        foreach (var target in TargetCatalog.Select(options))
        {
            if (target.Unavailable(context) is { } why)
                await Skip(notes, $"{target}: skipped, {why}");
            else
                targets.Add(target);
        }
        var direct = targets.OfType<DirectTarget>().Single();

        if (options.Runs("idle") || options.Runs("throughput") || options.Runs("roundtrip") || options.Runs("setup"))
        {
            var running = new List<RunningTarget>();
            try
            {
                foreach (var target in targets)
                {
                    await Console.Error.WriteLineAsync($"  starting {target}");
                    try
                    {
                        running.Add(await target.StartAsync(context));
                    }
                    catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or System.ComponentModel.Win32Exception)
                    {
                        await Skip(notes, $"{target}: could not start, {e.Message}");
                    }
                }
                if (options.Runs("idle"))
                    await new IdleCpu(options, metrics, results).RunAsync(running);
                await new RoundRobin(options, metrics, results).RunAsync(running);
            }
            finally
            {
                foreach (var target in running)
                    await target.DisposeAsync();
            }
        }

        if (options.Runs("held"))
            foreach (var target in targets.Where(t => t != direct))
                await new HeldSessions(context, metrics, results).RunAsync(target);

        // The sink is exposed by the agent only: this one is TcpRelay's alone.
        if (options.Runs("stalled"))
            foreach (var target in targets.OfType<TcpRelayAgentTarget>())
                await new StalledReader(context, metrics, results).RunAsync(target);

        notes.InsertRange(0, Explanations(options, targets));
        await output.WriteLineAsync();
        await output.WriteAsync(Report.Table(machine, options, results, targets, direct));
        await output.WriteLineAsync();
        foreach (var note in notes)
            await output.WriteLineAsync($"- {note}");
        await output.WriteLineAsync($"({total.Elapsed.TotalSeconds:0} s; every byte received was checked against what was sent)");
        if (options.JsonFile is { } file)
            await File.WriteAllTextAsync(file, JsonSerializer.Serialize(
                new { machine, options, targets = targets.Select(t => t.Title), notes, figures = results.Figures(targets, direct) },
                new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        return 0;
    }

    private static async Task Skip(List<string> notes, string line)
    {
        await Console.Error.WriteLineAsync($"  {line}");
        notes.Add(line);
    }

    /// <summary>What the table's columns and cells mean, for the notes under it.</summary>
    private static IEnumerable<string> Explanations(BenchOptions options, IReadOnlyList<Target> targets)
    {
        yield return $"medians of {options.Reps} round(s), each round measuring every target in turn; (n×): that median over direct's median, same run";
        yield return "relay: the relay process(es) alone; agent-app: the process beside the service; both PSS: the two together, shared pages counted once";
        if (targets.Where(t => t.EchoesInApp).Select(t => t.Title).ToArray() is { Length: > 0 } inApp)
            yield return $"{string.Join(", ", inApp)}: the app is the echo service itself (same echo code); the others forward to the benchmark's echo server";
        if (targets.Where(t => !t.PassesHalfClose).Select(t => t.Title).ToArray() is { Length: > 0 } noHalfClose)
            yield return $"{string.Join(", ", noHalfClose)}: no half-close, so their throughput clients do not half-close: a stream ends at its last byte echoed, not at an EOF";
    }

    /// <summary>
    /// Held sessions need more descriptors than the 20,000 a process gets here: the benchmark holds
    /// up to two per session (client, echo server), relays two or three. Children inherit the limit.
    /// </summary>
    private static void RaiseOpenFileLimit(BenchOptions options, List<string> notes)
    {
        var wanted = 4L * options.HeldSessions + 10_000;
        if (OpenFileLimit.RaiseTo(wanted) is var reached && reached < wanted && options.Runs("held"))
            notes.Add($"open files limited to {reached} (not root?): {options.HeldSessions} held sessions may fail");
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TcpRelay.sln")))
                return dir.FullName;
        throw new InvalidOperationException("TcpRelay.sln not found above " + AppContext.BaseDirectory);
    }

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    /// <summary>
    /// The relay as users run it: src/TcpRelay's build output in this benchmark's configuration,
    /// which building the benchmark builds too (it cannot run from another project's output folder).
    /// </summary>
    private static async Task<string> TcprelayDllAsync(string root)
    {
        var dll = Path.Combine(root, "src", "TcpRelay", "bin", Configuration, "net10.0", "tcprelay.dll");
        if (!File.Exists(dll))
        {
            await Console.Error.WriteLineAsync($"  building src/TcpRelay ({Configuration}) first");
            using var build = Process.Start(new ProcessStartInfo("dotnet", $"build -c {Configuration} src/TcpRelay --nologo -v quiet") { WorkingDirectory = root })!;
            await build.WaitForExitAsync();
            if (build.ExitCode != 0 || !File.Exists(dll))
                throw new InvalidOperationException($"building src/TcpRelay failed ({build.ExitCode})");
        }
        return dll;
    }

    /// <summary>
    /// This executable, for its app modes: where it runs from if it can be started from there (the
    /// test project loads it as a library, but copies its runtimeconfig too), else its own build output.
    /// </summary>
    private static string? BenchDll(string root)
    {
        var self = typeof(BenchRun).Assembly.Location;
        var built = Path.Combine(root, "bench", "TcpRelay.Bench", "bin", Configuration, "net10.0", "TcpRelay.Bench.dll");
        return new[] { self, built }.FirstOrDefault(dll => File.Exists(dll) && File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")));
    }
}
