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
        using (var client = await TestRelay.ConnectAsync(app.PublicPort))
        {
            await client.SendAsync(new byte[10]);
            await SocketAssert.ReadExactlyAsync(client, 10);
        }

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

    [Fact]
    public async Task Tcprelay_status_prints_the_apps_sessions_and_actor_tree()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var admin = await AdminServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), relay.System, secret: null);
        await using var app = await relay.StartListenerAsync("tabled");
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();
        await client.SendAsync(new byte[2048]);
        await SocketAssert.ReadExactlyAsync(session.Socket, 2048);
        var flags = new[] { "--admin", $"127.0.0.1:{admin.EndPoint.Port}" };

        var table = new StringWriter();
        Assert.Equal(0, await Cli.StatusCommand.RunAsync(flags, table));
        var lines = table.ToString().Split('\n');
        Assert.StartsWith("relay ready: 1 apps, 1 sessions, 2.0 KiB from clients, 0 B from apps", lines[0]);
        Assert.Matches($@"^tabled +{app.PublicPort} +127\.0\.0\.1:\d+ +.* 1 +2\.0 KiB +0 B$", lines[2]);
        Assert.Matches($@"^  {session.SessionId.Value[..8]} +127\.0\.0\.1:{((IPEndPoint)client.LocalEndPoint!).Port} +\d+\.\ds +2\.0 KiB +0 B$", lines[3]);

        var json = new StringWriter();
        Assert.Equal(0, await Cli.StatusCommand.RunAsync([.. flags, "--json"], json));
        Assert.Equal("tabled", JsonSerializer.Deserialize<RelaySnapshot>(json.ToString(), Json)!.Apps.Single().Name);

        var tree = new StringWriter();
        Assert.Equal(0, await Cli.StatusCommand.RunAsync([.. flags, "--tree"], tree));
        Assert.Contains("\n        app-tabled\n", tree.ToString());
        Assert.Matches("\n      data-\\d+\n", tree.ToString());
    }

    [Fact]
    public async Task Tcprelay_status_says_where_it_looked_when_no_relay_answers()
    {
        using var unused = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        unused.Bind(new IPEndPoint(IPAddress.Loopback, 0)); // bound, never listening: a port nothing answers on
        var port = ((IPEndPoint)unused.LocalEndPoint!).Port;
        Assert.Equal(1, await Cli.StatusCommand.RunAsync(["--admin", $"127.0.0.1:{port}"], new StringWriter()));
    }

    [Fact]
    public async Task Serve_listens_for_admin_only_where_admin_says_whatever_ASP_NET_settings_the_environment_holds()
    {
        static int FreePort()
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)socket.LocalEndPoint!).Port;
        }
        var (admin, extra) = (FreePort(), FreePort());
        // An endpoint from ASP.NET's own configuration would be served beside --admin, and without
        // the token rule that --admin's address decides.
        var (relay, _, _) = await ServeProcess.StartAsync(["--admin", $"127.0.0.1:{admin}"],
            new Dictionary<string, string> { ["Kestrel__Endpoints__Extra__Url"] = $"http://127.0.0.1:{extra}" }, readyLine: "Admin endpoint on");
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{admin}/healthz")).StatusCode);
            await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{extra}/status"));
        }
        finally
        {
            relay.Kill();
            await relay.WaitForExitAsync();
            relay.Dispose();
        }
    }

    [Fact]
    public async Task Status_pointed_at_a_web_server_that_is_not_a_relay_says_so_and_exits_1()
    {
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        // Answers every request with a page, as any other web server on that port would.
        var serving = Task.Run(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                using var connection = await listener.AcceptAsync();
                var request = new byte[4096];
                await connection.ReceiveAsync(request);
                await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>"u8.ToArray());
            }
        });
        Assert.Equal(1, await Cli.StatusCommand.RunAsync(["--admin", $"127.0.0.1:{port}"], new StringWriter()));
        Assert.Equal(1, await Cli.StatusCommand.RunAsync(["--admin", $"127.0.0.1:{port}", "--tree"], new StringWriter()));
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
