namespace TcpRelay.Bench;

/// <summary>
/// A target started for one phase alone (held sessions, the stalled reader): what the earlier
/// phases left in a relay's heap, or the seed's sessions still waiting out their 60 s, would
/// blur what this phase measures.
/// </summary>
public static class FreshTarget
{
    /// <summary>The target running, or null once its failure to start is recorded against <paramref name="failing"/>.</summary>
    public static async Task<RunningTarget?> StartAsync(Target target, TargetContext context, Measurements results, params Metric[] failing)
    {
        try
        {
            return await target.StartAsync(context);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or System.ComponentModel.Win32Exception)
        {
            await Console.Error.WriteLineAsync($"  {target}: could not start: {e.Message}");
            foreach (var metric in failing)
                results.Fail(metric, target, $"could not start: {e.Message}");
            return null;
        }
    }
}
