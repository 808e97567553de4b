
namespace TcpRelay.Soak;

/// <summary>The soak's command line.</summary>
internal sealed record SoakOptions(TimeSpan Duration, int Concurrency, int Apps, int Hold, TimeSpan ReportEvery)
{
    public static SoakOptions Parse(string[] args)
    {
        var options = new SoakOptions(TimeSpan.FromMinutes(5), 64, 4, 1000, TimeSpan.FromSeconds(30));
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
            options = args[i - 1] switch
            {
                "--minutes" when double.TryParse(value, out var m) && m > 0 => options with { Duration = TimeSpan.FromMinutes(m) },
                "--concurrency" when int.TryParse(value, out var c) && c is > 0 and <= 10_000 => options with { Concurrency = c },
                "--hold" when int.TryParse(value, out var h) && h is >= 0 and <= 4000 => options with { Hold = h },
                "--apps" when int.TryParse(value, out var a) && a is > 0 and <= 100 => options with { Apps = a },
                "--report-every" when TcpRelay.Server.Duration.Parse(value) is { } every && every > TimeSpan.Zero => options with { ReportEvery = every },
                var flag => throw new FormatException($"bad argument {flag} {value}"),
            };
        }
        return options;
    }
}
