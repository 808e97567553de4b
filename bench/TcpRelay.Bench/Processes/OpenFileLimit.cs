using System.Runtime.InteropServices;

namespace TcpRelay.Bench;

/// <summary>
/// Raises this process's limit on open files (RLIMIT_NOFILE), which the relays and apps it starts
/// inherit. Held sessions need it: the benchmark holds a client socket per session and, for the
/// targets that forward to its echo server, the echo's socket too; a relay holds two or three per
/// session. Machines here give a process 20,000 at most unless root raises the hard limit.
/// </summary>
public static class OpenFileLimit
{
    private const int RlimitNofile = 7; // Linux

    [StructLayout(LayoutKind.Sequential)]
    private struct Rlimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static extern int GetRlimit(int resource, out Rlimit limit);

    [DllImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static extern int SetRlimit(int resource, in Rlimit limit);

    /// <summary>The soft limit now.</summary>
    public static long Current => OperatingSystem.IsLinux() && GetRlimit(RlimitNofile, out var limit) == 0 ? (long)limit.Current : long.MaxValue;

    /// <summary>Raises soft and hard limit to at least <paramref name="wanted"/> (the hard limit only as root); returns the soft limit reached.</summary>
    public static long RaiseTo(long wanted)
    {
        if (!OperatingSystem.IsLinux() || GetRlimit(RlimitNofile, out var limit) != 0 || (long)limit.Current >= wanted)
            return Current;
        var raised = new Rlimit { Current = (ulong)wanted, Maximum = Math.Max(limit.Maximum, (ulong)wanted) };
        if (SetRlimit(RlimitNofile, raised) != 0)
        {
            // Not root: as far as the hard limit goes.
            raised = limit with { Current = limit.Maximum };
            SetRlimit(RlimitNofile, raised);
        }
        return Current;
    }
}
