using TcpRelay.Bench;

namespace TcpRelay.Cli.Tests;

/// <summary>
/// The benchmark runs end to end on tiny sizes: relay and agent as processes, every scenario, every
/// byte checked. Nothing is timed here; speed is the benchmark's own business.
/// </summary>
public sealed class BenchSmokeTests
{
    [Fact]
    public async Task The_benchmark_completes_every_scenario_with_verified_bytes()
    {
        var output = new StringWriter();
        var json = Path.GetTempFileName();
        try
        {
            Assert.Equal(0, await BenchRun.RunAsync(["--tiny", "--json", json], output));
            var table = output.ToString();
            foreach (var row in new[] { "throughput x1", "throughput x8", "setup", "round trip 64 B", "held 20", "stalled reader x1" })
                Assert.Contains("\n" + row + " ", table);
            Assert.Contains("every byte received was checked", table);
            Assert.Contains("\"figures\"", await File.ReadAllTextAsync(json));
        }
        finally
        {
            File.Delete(json);
        }
    }
}
