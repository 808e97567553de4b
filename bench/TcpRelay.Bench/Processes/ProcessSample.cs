using System.Globalization;

namespace TcpRelay.Bench;

/// <summary>
/// A process's memory and CPU at one moment: resident and proportional set size (PSS shares each
/// page among the processes mapping it, so PSS of several processes adds up to what they cost
/// together), threads, and CPU time (all, and of it in the kernel).
/// </summary>
public readonly record struct ProcessSample(long Rss, long Pss, int Threads, TimeSpan Cpu, TimeSpan KernelCpu)
{
    public static readonly ProcessSample Zero = default;

    public static ProcessSample operator +(ProcessSample a, ProcessSample b) =>
        new(a.Rss + b.Rss, a.Pss + b.Pss, a.Threads + b.Threads, a.Cpu + b.Cpu, a.KernelCpu + b.KernelCpu);

    /// <summary>The CPU spent from <paramref name="before"/> to this sample, and the share of it in the kernel (percent).</summary>
    public (TimeSpan Cpu, double KernelPercent) Since(ProcessSample before)
    {
        var cpu = Cpu - before.Cpu;
        return (cpu, cpu > TimeSpan.Zero ? 100.0 * (KernelCpu - before.KernelCpu) / cpu : 0);
    }

    /// <summary>Reads <c>/proc/PID</c>: <c>stat</c> for CPU and RSS, <c>status</c> for threads, <c>smaps_rollup</c> for PSS.</summary>
    public static ProcessSample Of(int pid)
    {
        // stat: "pid (comm) state ..." — comm may hold spaces, so fields count from the last ')'.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state): utime is field 14, stime 15, num_threads 20, rss (pages) 24.
        var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        var threads = int.Parse(fields[17], CultureInfo.InvariantCulture);
        var rss = long.Parse(fields[21], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        return new ProcessSample(rss, PssOf(pid), threads, Ticks(utime + stime), Ticks(stime));
    }

    private static long PssOf(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps_rollup"))
            if (line.StartsWith("Pss:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(4).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
        return 0;
    }

    // USER_HZ is 100 on every Linux that .NET runs on (the kernel's ABI, whatever CONFIG_HZ is).
    private static TimeSpan Ticks(long clockTicks) => TimeSpan.FromMilliseconds(clockTicks * 10);
}
