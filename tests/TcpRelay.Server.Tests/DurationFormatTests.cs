namespace TcpRelay.Server.Tests;

/// <summary>Durations as the status page writes them for a person.</summary>
public sealed class DurationFormatTests
{
    [Theory]
    [InlineData(0, "0.0s")]
    [InlineData(-5_000, "0.0s")] // a clock read a moment apart, never a negative age
    [InlineData(9_340, "9.3s")]
    [InlineData(59_960, "59.9s")] // truncated: not yet a minute
    [InlineData(60_000, "1m0s")]
    [InlineData(610_100, "10m10s")]
    [InlineData(3_599_999, "59m59s")]
    [InlineData(3_600_000, "1h0m")]
    [InlineData(7_380_000 + 59_000, "2h3m")]
    [InlineData(86_400_000 * 3L + 3_600_000 * 4L + 1_000, "3d4h")]
    public void Human_durations_keep_the_two_largest_units(long milliseconds, string expected) =>
        Assert.Equal(expected, Duration.FormatHuman(TimeSpan.FromMilliseconds(milliseconds)));
}
