using System.Diagnostics;

namespace TcpRelay.Bench;

/// <summary>
/// A process the benchmark starts (a relay, an agent, an app): its memory and CPU are sampled from
/// /proc, and it is killed with the benchmark. Its output either goes to the benchmark's stderr
/// line by line (our own processes, which log warnings only) or to a log file (the peers, which
/// log every connection: reading that through a pipe would cost the benchmark's CPU, not theirs).
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly EventHandler _killAtExit;

    private ChildProcess(string label, Process process, string? logFile)
    {
        Label = label;
        _process = process;
        LogFile = logFile;
        // A benchmark stopped by SIGTERM (not Ctrl-C, which reaches the whole process group) would
        // otherwise leave its relays running and skew the next run.
        _killAtExit = (_, _) => KillQuietly();
        AppDomain.CurrentDomain.ProcessExit += _killAtExit;
    }

    public string Label { get; }

    public string? LogFile { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="file"/>; with <paramref name="logFile"/>, its stdout and stderr go there.</summary>
    public static ChildProcess Start(string label, string file, IEnumerable<string> arguments, string? logFile = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo { UseShellExecute = false };
        if (logFile is null)
        {
            info.FileName = file;
            info.RedirectStandardOutput = true;
            info.RedirectStandardError = true;
        }
        else
        {
            // The shell redirects and then becomes the program (exec): the pid is the program's.
            info.FileName = "/bin/sh";
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add("exec \"$@\" >\"$BENCH_LOG_FILE\" 2>&1");
            info.ArgumentList.Add("sh");
            info.ArgumentList.Add(file);
            info.Environment["BENCH_LOG_FILE"] = logFile;
        }
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            info.Environment[key] = value;

        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var child = new ChildProcess(label, process, logFile);
        if (logFile is null)
        {
            // Warnings and errors only; shown so that a relay problem is not silent.
            process.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) Console.Error.WriteLine($"  [{label}] {line}"); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) Console.Error.WriteLine($"  [{label}] {line}"); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }
        return child;
    }

    /// <summary>Memory and CPU now; zero once the process is gone.</summary>
    public ProcessSample Sample()
    {
        try
        {
            return ProcessSample.Of(_process.Id);
        }
        catch (IOException)
        {
            return ProcessSample.Zero; // exited between the caller's look and this read
        }
    }

    /// <summary>Why it is gone, for an error message: its exit code and the end of its log.</summary>
    public string Describe()
    {
        var exit = _process.HasExited ? $"{Label} exited with {_process.ExitCode}" : $"{Label} is running";
        if (LogFile is null || !File.Exists(LogFile))
            return exit;
        var tail = File.ReadLines(LogFile).TakeLast(3).ToArray();
        return tail.Length == 0 ? exit : $"{exit}; its log ends: {string.Join(" | ", tail)}";
    }

    private void KillQuietly()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or AggregateException)
        {
            // Exited or disposed already, or a child of it could not be killed: nothing more to do.
        }
    }

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= _killAtExit;
        KillQuietly();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
