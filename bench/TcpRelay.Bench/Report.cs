using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace TcpRelay.Bench;

/// <summary>One figure, measured direct and relayed (either may be absent where it has no meaning).</summary>
public sealed record Figure(string Scenario, string Metric, string Unit, double? Direct, double? Relayed)
{
    /// <summary>Relayed over direct.</summary>
    public double? Ratio => Direct is > 0 && Relayed is { } relayed ? relayed / Direct : null;
}

/// <summary>Where the figures were measured.</summary>
public sealed record Machine(int Cores, string Os, string Dotnet, string Akka, string Commit, DateTimeOffset At)
{
    public static Machine Describe(string tcprelayDll, string repoRoot)
    {
        var akkaDll = Path.Combine(Path.GetDirectoryName(tcprelayDll)!, "Akka.dll");
        var akka = File.Exists(akkaDll) ? FileVersionInfo.GetVersionInfo(akkaDll).ProductVersion?.Split('+')[0] ?? "?" : "?";
        return new Machine(Environment.ProcessorCount, RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription,
            akka, GitCommit(repoRoot), DateTimeOffset.UtcNow);
    }

    private static string GitCommit(string repoRoot)
    {
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", "rev-parse --short HEAD")
            {
                WorkingDirectory = repoRoot,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            var commit = git!.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return git.ExitCode == 0 ? commit : "?";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "?";
        }
    }
}

/// <summary>The table printed at the end of a run.</summary>
public static class Report
{
    public static string Table(Machine machine, IReadOnlyList<Figure> figures)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"machine: {machine.Cores} cores, {machine.Os}, {machine.Dotnet}, Akka {machine.Akka}, commit {machine.Commit}, {machine.At:yyyy-MM-dd HH:mm} UTC");
        var rows = new List<string[]> { new[] { "scenario", "metric", "direct", "relayed", "relayed/direct" } };
        rows.AddRange(figures.Select(f => new[]
        {
            f.Scenario, $"{f.Metric} ({f.Unit})", Number(f.Direct), Number(f.Relayed),
            f.Ratio is { } ratio ? ratio.ToString("0.00", CultureInfo.InvariantCulture) + "x" : "-",
        }));
        var widths = Enumerable.Range(0, 5).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
            text.AppendLine(string.Join("  ", row.Select((cell, c) => c >= 2 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))));
        return text.ToString();
    }

    private static string Number(double? value) => value switch
    {
        null => "-",
        >= 100 => value.Value.ToString("0", CultureInfo.InvariantCulture),
        >= 10 => value.Value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.Value.ToString("0.00", CultureInfo.InvariantCulture),
    };
}
