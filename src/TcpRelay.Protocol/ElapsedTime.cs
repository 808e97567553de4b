using System.Globalization;

namespace TcpRelay.Protocol;

/// <summary>
/// How long something took or has lasted, as people write it in logs and pages: 38ms, 9.3s,
/// 10m10s, 2h3m, 3d4h. Two units at most: past a minute, the smaller parts say nothing useful.
/// </summary>
public static class ElapsedTime
{
    /// <summary>The text for <paramref name="elapsed"/>; a negative span reads as 0ms.</summary>
    public static string Format(TimeSpan elapsed)
    {
        if (elapsed < TimeSpan.Zero)
            elapsed = TimeSpan.Zero;
        return elapsed.TotalSeconds switch
        {
            < 1 => string.Create(CultureInfo.InvariantCulture, $"{(long)elapsed.TotalMilliseconds}ms"),
            // Rounded down, so that 59.96s reads 59.9s and not 60.0s.
            < 60 => string.Create(CultureInfo.InvariantCulture, $"{Math.Floor(elapsed.TotalSeconds * 10) / 10:0.0}s"),
            < 3600 => $"{(long)elapsed.TotalMinutes}m{elapsed.Seconds}s",
            < 86400 => $"{(long)elapsed.TotalHours}h{elapsed.Minutes}m",
            _ => $"{(long)elapsed.TotalDays}d{elapsed.Hours}h",
        };
    }
}
