using System.Diagnostics;
using System.Runtime.InteropServices;

namespace TcpRelay.Bench;

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
