using System.Globalization;

namespace TcpRelay.Server;

/// <summary>Durations as flags and configuration write them: a whole number and a unit, ms, s, m or h.</summary>
public static class Duration
{
    /// <summary>
    /// The longest duration any setting takes. Longer ones are surely typos, and some would break
    /// .NET's timers (a wait beyond 2^31 ms, about 24 days, throws where it is used).
    /// </summary>
    public static readonly TimeSpan Longest = TimeSpan.FromHours(24);

    /// <summary>How <see cref="Parse"/>'s forms are described in error messages.</summary>
    public const string Forms = "a duration from 0ms to 24h, e.g. 500ms, 10s, 2m";

    /// <summary>Parses "500ms", "30s", "2m", "1h"; null when the text is not such a duration or above <see cref="Longest"/>.</summary>
    public static TimeSpan? Parse(string text)
    {
        text = text.Trim();
        var digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits]))
            digits++;
        if (digits == 0 || digits > 9 || !long.TryParse(text.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            return null;
        TimeSpan? unit = text[digits..] switch
        {
            "ms" => TimeSpan.FromMilliseconds(1),
            "s" => TimeSpan.FromSeconds(1),
            "m" => TimeSpan.FromMinutes(1),
            "h" => TimeSpan.FromHours(1),
            _ => null,
        };
        // Compared before multiplying: nine digits of hours would overflow TimeSpan.
        return unit is { } u && n <= Longest.Ticks / u.Ticks ? TimeSpan.FromTicks(n * u.Ticks) : null;
    }

    /// <summary>The shortest of the forms <see cref="Parse"/> reads that says the same.</summary>
    public static string Format(TimeSpan value) =>
        value == TimeSpan.Zero ? "0s"
        : value.TotalMilliseconds % 1000 != 0 ? $"{(long)value.TotalMilliseconds}ms"
        : value.TotalSeconds % 60 != 0 ? $"{(long)value.TotalSeconds}s"
        : value.TotalMinutes % 60 != 0 ? $"{(long)value.TotalMinutes}m"
        : $"{(long)value.TotalHours}h";
}
