using System.Globalization;

namespace TcpRelay.Server;

/// <summary>Durations as flags and configuration write them: a whole number and a unit, ms, s, m or h.</summary>
public static class Duration
{
    /// <summary>Parses "500ms", "30s", "2m", "1h"; null when the text is not such a duration.</summary>
    public static TimeSpan? Parse(string text)
    {
        text = text.Trim();
        var digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits]))
            digits++;
        if (digits == 0 || digits > 9 || !long.TryParse(text.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            return null;
        return text[digits..] switch
        {
            "ms" => TimeSpan.FromMilliseconds(n),
            "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            _ => null,
        };
    }

    /// <summary>The shortest of the forms <see cref="Parse"/> reads that says the same.</summary>
    public static string Format(TimeSpan value) =>
        value == TimeSpan.Zero ? "0s"
        : value.TotalMilliseconds % 1000 != 0 ? $"{(long)value.TotalMilliseconds}ms"
        : value.TotalSeconds % 60 != 0 ? $"{(long)value.TotalSeconds}s"
        : value.TotalMinutes % 60 != 0 ? $"{(long)value.TotalMinutes}m"
        : $"{(long)value.TotalHours}h";
}
