using System.Diagnostics;

namespace TcpRelay.Bench;

/// <summary>
/// Runs one phase (one target, one scenario, one round): progress on the terminal while it lasts,
/// and a deadline, after which its token is cancelled and it fails with <see cref="PhaseFailedException"/>
/// instead of holding up the run. Any other failure of the phase is one too.
/// </summary>
public static class Phase
{
    // Sockets cancelled mid-operation take a moment to give up; past this the phase is abandoned.
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    public static Task RunAsync(string name, long expected, TimeSpan timeout, Func<Action<long>, CancellationToken, Task> run) =>
        RunAsync(name, expected, timeout, async (progress, ct) =>
        {
            await run(progress, ct);
            return true;
        });

    public static async Task<T> RunAsync<T>(string name, long expected, TimeSpan timeout, Func<Action<long>, CancellationToken, Task<T>> run)
    {
        long done = 0;
        var clock = Stopwatch.StartNew();
        using var deadline = new CancellationTokenSource(timeout);
        await using var ticker = new Timer(_ =>
        {
            var progress = expected > 0 ? $" {100.0 * Interlocked.Read(ref done) / expected:0}%" : "";
            Console.Error.Write($"\r  {name}:{progress} {clock.Elapsed.TotalSeconds:0}s   ");
        }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        try
        {
            var result = await run(n => Interlocked.Add(ref done, n), deadline.Token).WaitAsync(timeout + Grace);
            await Console.Error.WriteLineAsync($"\r  {name}: done in {clock.Elapsed.TotalSeconds:0.0}s   ");
            return result;
        }
        catch (Exception e) when (e is not PhaseFailedException)
        {
            var why = deadline.IsCancellationRequested || e is TimeoutException
                ? $"not done after {timeout.TotalSeconds:0} s"
                : e.GetBaseException().Message;
            await Console.Error.WriteLineAsync($"\r  {name}: FAILED, {why}   ");
            throw new PhaseFailedException(why, e);
        }
    }
}

/// <summary>A phase threw or ran out of time; the figures it would have given are recorded as failed.</summary>
public sealed class PhaseFailedException(string message, Exception inner) : Exception(message, inner);
