using TcpRelay.Server.Admin;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Tests;

/// <summary>The status page's rendering of a given snapshot.</summary>
public sealed class StatusPageTests
{
    private static readonly ActorNode Tree = new("user", "/user", [new ActorNode("relay", "/user/relay", [])]);

    [Fact]
    public void Every_value_from_outside_is_html_encoded()
    {
        var session = new SessionSnapshot("<b>1234", "<img src=x onerror=alert(1)>:1", 1.5, true, 0, 0);
        var app = new AppSnapshot("web", 20000, "\"control\"&", "<node>", DateTimeOffset.UtcNow, false, 1, 0, 0, [session]);
        var status = new RelaySnapshot("akka.tcp://tcprelay@<host>:1", true, false, 1, 1, 0, 0, [app])
        {
            Relay = new RelayIdentity("1.0<script>", 1, 2, "3-4", true, 5, 6, 7),
        };

        var html = StatusPage.Fragment(status, Tree, allActors: false, new ByteRates(2));

        Assert.DoesNotContain("<img", html);
        Assert.DoesNotContain("<b>", html);
        Assert.DoesNotContain("<script>", html);
        Assert.DoesNotContain("<node>", html);
        Assert.DoesNotContain("<host>", html);
        Assert.Contains("&lt;img src=x onerror=alert(1)&gt;:1", html);
        Assert.Contains("via &lt;node&gt;", html);
        Assert.Contains("secret on", html);
    }

    [Fact]
    public void An_app_with_sampled_rates_gets_a_chart_of_both_directions()
    {
        var rates = new ByteRates(5);
        AppSnapshot App(long fromClients) => new("web", 20000, "127.0.0.1:1", null, DateTimeOffset.UtcNow, false, 0, fromClients, 0, []);
        for (var i = 0; i < 4; i++)
            rates.Record(TimeSpan.FromSeconds(2 * i), [App(i * 2048)]);
        var status = new RelaySnapshot(null, true, false, 1, 0, 0, 0, [App(6144) with { BytesPerSecondFromClients = 1024 }]);

        var html = StatusPage.Fragment(status, Tree, allActors: false, rates);

        Assert.Contains("1.0 KiB/s / 0 B/s", html);
        // Three equal rates: a flat line at the top for the clients' direction, at the bottom for the app's.
        Assert.Contains("<polyline class=\"in\" points=\"0,1 75,1 150,1\"/>", html);
        Assert.Contains("<polyline class=\"out\" points=\"0,23 75,23 150,23\"/>", html);
    }
}
