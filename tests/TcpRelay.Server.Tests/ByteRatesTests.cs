using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Tests;

/// <summary>Rates computed from byte counters sampled at known times.</summary>
public sealed class ByteRatesTests
{
    private static AppSnapshot App(string name, long fromClients, long fromApp) =>
        new(name, 20000, "127.0.0.1:1", null, DateTimeOffset.UnixEpoch, false, 0, fromClients, fromApp, []);

    private static TimeSpan At(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void A_rate_is_the_bytes_moved_over_the_seconds_between_two_samples()
    {
        var rates = new ByteRates(10);
        rates.Record(At(0), [App("web", 1000, 0)]);
        Assert.Equal(default, rates.Current("web")); // one sample is no rate yet
        rates.Record(At(2), [App("web", 5000, 300)]);
        Assert.Equal(new ByteRate(2000, 150), rates.Current("web"));
        rates.Record(At(2.5), [App("web", 5000, 800)]);
        Assert.Equal(new ByteRate(0, 1000), rates.Current("web"));
        Assert.Equal([new ByteRate(2000, 150), new ByteRate(0, 1000)], rates.History("web"));
    }

    [Fact]
    public void The_history_keeps_only_the_last_samples()
    {
        var rates = new ByteRates(4);
        for (var i = 0; i <= 10; i++)
            rates.Record(At(i), [App("web", i * i, 0)]);
        // Samples 7..10 remain: three rates, 15, 17 and 19 bytes a second.
        Assert.Equal([15, 17, 19], rates.History("web").Select(r => r.FromClients));
    }

    [Fact]
    public void Each_app_has_its_own_history_and_a_departed_app_loses_it()
    {
        var rates = new ByteRates(4);
        rates.Record(At(0), [App("a", 0, 0)]);
        rates.Record(At(1), [App("a", 10, 0), App("b", 100, 0)]);
        rates.Record(At(2), [App("a", 30, 0), App("b", 400, 0)]);
        Assert.Equal([10, 20], rates.History("a").Select(r => r.FromClients));
        Assert.Equal([300], rates.History("b").Select(r => r.FromClients));

        rates.Record(At(3), [App("b", 500, 0)]);
        Assert.Empty(rates.History("a"));
        rates.Record(At(4), [App("a", 7, 0), App("b", 500, 0)]);
        Assert.Empty(rates.History("a")); // back with one sample: no rate from its old counters
    }

    [Fact]
    public void A_name_listed_twice_is_summed_and_a_counter_that_went_back_reads_zero()
    {
        var rates = new ByteRates(4);
        // A departed app's last session beside its successor's: one name, both counted.
        rates.Record(At(0), [App("web", 100, 0), App("web", 0, 0)]);
        rates.Record(At(1), [App("web", 150, 0), App("web", 50, 0)]);
        Assert.Equal(100, rates.Current("web").FromClients);
        // The departed entry is gone with its 150 bytes: the sum went back, which is no negative rate.
        rates.Record(At(2), [App("web", 60, 0)]);
        Assert.Equal(0, rates.Current("web").FromClients);
    }
}
