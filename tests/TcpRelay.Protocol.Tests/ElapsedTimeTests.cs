using TcpRelay.Protocol;

namespace TcpRelay.Protocol.Tests;

public sealed class ElapsedTimeTests
{
    [Theory]
    [InlineData(0, "0ms")]
    [InlineData(38.7, "38ms")]
    [InlineData(999.9, "999ms")]
    [InlineData(1000, "1.0s")]
    [InlineData(9317.2112, "9.3s")]
    [InlineData(59_960, "59.9s")]
    [InlineData(60_000, "1m0s")]
    [InlineData(610_100, "10m10s")]
    [InlineData(3_599_999, "59m59s")]
    [InlineData(7_380_000, "2h3m")]
    [InlineData(86_399_000, "23h59m")]
    [InlineData(273_600_000, "3d4h")]
    [InlineData(-5, "0ms")]
    public void Reads_as_people_write_it(double milliseconds, string expected) =>
        Assert.Equal(expected, ElapsedTime.Format(TimeSpan.FromMilliseconds(milliseconds)));
}
