using System.Collections.Concurrent;
using System.Diagnostics;

namespace TcpRelay.Soak;

internal enum Outcome { Echoed, Reset, Left }

/// <summary>What the soak's clients did, counted from many threads.</summary>
internal sealed class Tally
{
    private long _echoed, _reset, _left, _failed, _bytes;
    private readonly ConcurrentQueue<string> _failures = new();

    public long Echoed => Interlocked.Read(ref _echoed);
    public long Reset => Interlocked.Read(ref _reset);
    public long Left => Interlocked.Read(ref _left);
    public long Failed => Interlocked.Read(ref _failed);
    public long BytesEchoed => Interlocked.Read(ref _bytes);
    public long Sessions => Echoed + Reset + Left + Failed;
    public IEnumerable<string> FirstFailures => _failures;

    public void Count(Outcome outcome)
    {
        switch (outcome)
        {
            case Outcome.Echoed: Interlocked.Increment(ref _echoed); break;
            case Outcome.Reset: Interlocked.Increment(ref _reset); break;
            default: Interlocked.Increment(ref _left); break;
        }
    }

    public void AddEchoed(int bytes) => Interlocked.Add(ref _bytes, bytes);

    public void Fail(string what)
    {
        if (Interlocked.Increment(ref _failed) <= 10)
            _failures.Enqueue(what);
    }
}

/// <summary>Memory figures for the report.</summary>
internal static class Memory
{
    public static long HeapAfterFullGc()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }

    public static long Rss()
    {
        using var self = Process.GetCurrentProcess();
        return self.WorkingSet64;
    }

    public static string MiB(long bytes) => $"{bytes / 1048576.0:0.0} MiB";
}
