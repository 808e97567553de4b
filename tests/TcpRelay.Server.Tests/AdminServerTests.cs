using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Admin;
using TcpRelay.Server.Telemetry;
using Akka.Actor;

namespace TcpRelay.Server.Tests;

/// <summary>The admin endpoint of a relay in-process, read over loopback HTTP.</summary>
public sealed class AdminServerTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static HttpClient Client(AdminServer admin, string? token = null)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin.EndPoint.Port}/"), Timeout = TestRelay.Wait };
        if (token is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    [Fact]
    public async Task Status_lists_a_registered_app_and_its_live_sessions_with_their_bytes()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var admin = await AdminServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), relay.System, secret: null);
        await using var app = await relay.StartListenerAsync("shown");
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();
        await client.SendAsync(new byte[100]);
        await SocketAssert.ReadExactlyAsync(session.Socket, 100);
        await session.Socket.SendAsync(new byte[50]);
        await SocketAssert.ReadExactlyAsync(client, 50);

        using var http = Client(admin);
        var status = (await http.GetFromJsonAsync<RelaySnapshot>("status", Json))!;
        Assert.True(status.Ready);
        Assert.Equal(1, status.AppsRegistered);
        var shown = Assert.Single(status.Apps);
        Assert.Equal(("shown", app.PublicPort, 1, 100L, 50L), (shown.Name, shown.Port, shown.SessionsActive, shown.BytesFromClients, shown.BytesFromApp));
        Assert.StartsWith("127.0.0.1:", shown.Control);
        var live = Assert.Single(shown.Sessions);
        Assert.Equal((session.SessionId.Value[..8], true, 100L, 50L), (live.IdPrefix, live.Paired, live.BytesFromClient, live.BytesFromApp));
        var local = (IPEndPoint)client.LocalEndPoint!;
        Assert.Equal($"127.0.0.1:{local.Port}", live.Client);

        var actors = await http.GetStringAsync("actors");
        // A session is the actor of its data connection, named by the relay's count, never by the id.
        Assert.Matches("\"path\":\"/user/relay/data-\\d+\"", actors);
        Assert.DoesNotContain(session.SessionId.Value, actors); // the whole id would let a reader claim the session
        Assert.Contains("<title>TcpRelay status</title>", await http.GetStringAsync(""));
    }

    [Fact]
    public async Task Status_counts_ended_sessions_by_cause_and_the_page_tells_waiting_from_paired()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var admin = await AdminServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), relay.System, secret: null);
        await using var app = await relay.StartListenerAsync("counted");
        using (var rejected = await TestRelay.ConnectAsync(app.PublicPort))
        {
            await (await app.AcceptOfferAsync()).RejectAsync();
            await SocketAssert.ClosedAsync(rejected);
        }
        using var waiting = await TestRelay.ConnectAsync(app.PublicPort);
        var offer = await app.AcceptOfferAsync(); // offered, not taken: the session waits for the app's data connection

        using var http = Client(admin);
        // The close reaches the client before the relay's count is written: read until it is, within the wait.
        var deadline = DateTime.UtcNow + TestRelay.Wait;
        RelaySnapshot status;
        while ((status = (await http.GetFromJsonAsync<RelaySnapshot>("status", Json))!).SessionsEnded == 0 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(1, status.SessionsEnded);
        Assert.Equal(1, status.SessionsEndedByCause["rejected"]);
        Assert.Equal((relay.Endpoints.Control.Port, relay.Endpoints.Data.Port, false), (status.Relay!.ControlPort, status.Relay.DataPort, status.Relay.Secret));
        Assert.False(Assert.Single(Assert.Single(status.Apps).Sessions).Paired);

        var page = await http.GetStringAsync("");
        Assert.Contains("1 ended (1 rejected, 0 failed)", page);
        Assert.Contains($"<td>127.0.0.1:{((IPEndPoint)waiting.LocalEndPoint!).Port}</td><td class=\"waiting\">waiting for the app</td>", page);
        Assert.Contains($"<td>{offer.Id.Value[..8]}…</td>", page);
    }

    [Fact]
    public async Task Healthz_is_ready_once_listening_and_fails_during_the_drain()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var admin = await AdminServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), relay.System, secret: null);
        using var http = Client(admin);
        var ready = await http.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("ready\n", await ready.Content.ReadAsStringAsync());

        await relay.Relay.Ask<RelayActor.Drained>(RelayActor.Drain.Instance, TestRelay.Wait);
        var draining = await http.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, draining.StatusCode);
        Assert.Equal("draining\n", await draining.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Metrics_are_prometheus_text()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var admin = await AdminServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), relay.System, secret: null);
        await using var app = await relay.StartListenerAsync("scraped");
        _ = EchoApp.ServeAsync(app);
        // Open through the scrape, so the app has exactly one session and has relayed ten bytes each way.
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await client.SendAsync(new byte[10]);
        await SocketAssert.ReadExactlyAsync(client, 10);

        using var http = Client(admin);
        var response = await http.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        // The text exposition format: # HELP / # TYPE comments, then "name{labels} value [timestamp]".
        var sample = new Regex("""^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$""");
        var comment = new Regex("^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]*( .*)?$");
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.True(sample.IsMatch(line) || comment.IsMatch(line), $"not Prometheus text: {line}");
        foreach (var name in new[] { "tcprelay_sessions_started_total", "tcprelay_relayed_bytes_total", "tcprelay_apps", "tcprelay_session_setup_duration_seconds_bucket" })
            Assert.Contains("\n" + name, "\n" + text);
        Assert.Contains("le=\"0.001\"", text); // setup buckets sized for seconds, not the milliseconds default
        // Per app, named by a label.
        Assert.Matches("""\ntcprelay_app_sessions_active\{[^}]*app="scraped"[^}]*\} 1( \d+)?\n""", text);
        Assert.Matches("""\ntcprelay_app_relayed_bytes_total\{[^}]*app="scraped",direction="client-to-app"[^}]*\} 10( \d+)?\n""", text);
        Assert.Matches("""\ntcprelay_app_relayed_bytes_total\{[^}]*app="scraped",direction="app-to-client"[^}]*\} 10( \d+)?\n""", text);
        // The service is named, not unknown_service:PROCESS.
        Assert.Matches("""\ntarget_info\{service_name="tcprelay",service_version="[^"]+"[^}]*\} 1( \d+)?\n""", text);
    }

    [Fact]
    public async Task On_loopback_it_answers_only_requests_addressed_to_this_machine()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var admin = await AdminServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), relay.System, secret: null);
        using var http = Client(admin);
        // A page served from elsewhere whose name was rebound to 127.0.0.1 still sends its own name.
        using var rebound = new HttpRequestMessage(HttpMethod.Get, "status") { Headers = { Host = "attacker.example" } };
        Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(rebound)).StatusCode);
        using var local = new HttpRequestMessage(HttpMethod.Get, "status") { Headers = { Host = $"localhost:{admin.EndPoint.Port}" } };
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(local)).StatusCode);
    }

    [Fact]
    public async Task Bound_beyond_loopback_it_wants_the_secret_as_a_bearer_token()
    {
        await using var relay = await TestRelay.StartAsync();
        var any = new IPEndPoint(IPAddress.Any, 0);
        await Assert.ThrowsAsync<ArgumentException>(() => AdminServer.StartAsync(any, relay.System, secret: null));

        await using var admin = await AdminServer.StartAsync(any, relay.System, secret: "s3cret");
        using (var anonymous = Client(admin))
        {
            var refused = await anonymous.GetAsync("status");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("metrics")).StatusCode);
        }
        using (var wrong = Client(admin, "guess"))
            Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("healthz")).StatusCode);
        using (var right = Client(admin, "s3cret"))
            Assert.Equal(HttpStatusCode.OK, (await right.GetAsync("status")).StatusCode);
    }
}
