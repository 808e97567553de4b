using System.Net;
using System.Text.Json;
using TcpRelay.Cli;
using TcpRelay.Server.Admin;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Cli.Tests;

/// <summary><c>tcprelay status</c> against a relay's admin endpoint (and against what is not one), and <c>serve --admin</c>.</summary>
public sealed class StatusCommandTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

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
        Assert.Equal(0, await StatusCommand.RunAsync(flags, table));
        var lines = table.ToString().Split('\n');
        Assert.Matches(@"^relay ready: 1 apps, 1 sessions, 2\.0 KiB from clients, 0 B from apps; 0 ended \(0 rejected, 0 failed\); tcprelay \d+\.\d+\.\d+, up \S+$", lines[0]);
        Assert.Matches($@"^tabled +{app.PublicPort} +127\.0\.0\.1:\d+ +.* 1 +2\.0 KiB +0 B$", lines[2]);
        Assert.Matches($@"^  {session.SessionId.Value[..8]} +127\.0\.0\.1:{((IPEndPoint)client.LocalEndPoint!).Port} +(\d+ms|\d+\.\ds) +2\.0 KiB +0 B$", lines[3]);

        var json = new StringWriter();
        Assert.Equal(0, await StatusCommand.RunAsync([.. flags, "--json"], json));
        Assert.Equal("tabled", JsonSerializer.Deserialize<RelaySnapshot>(json.ToString(), Json)!.Apps.Single().Name);

        var tree = new StringWriter();
        Assert.Equal(0, await StatusCommand.RunAsync([.. flags, "--tree"], tree));
        Assert.Contains("\n        app-tabled\n", tree.ToString());
        Assert.Matches("\n      data-\\d+\n", tree.ToString());
    }

    [Fact]
    public async Task The_table_lists_a_shared_names_instances_and_the_page_too()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var admin = await AdminServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), relay.System, secret: null);
        await using var first = new Client.RelayListener(relay.ListenerOptions("pool") with { Shared = true });
        await first.StartAsync();
        await using var second = new Client.RelayListener(relay.ListenerOptions("pool") with { Shared = true });
        await second.StartAsync();

        var table = new StringWriter();
        Assert.Equal(0, await StatusCommand.RunAsync(["--admin", $"127.0.0.1:{admin.EndPoint.Port}"], table));
        Assert.Matches($@"\npool +{first.PublicPort} +2 instances: 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+ ", table.ToString());
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin.EndPoint.Port}/"), Timeout = TestRelay.Wait };
        Assert.Matches(@"<td>2 instances: 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+</td>", await http.GetStringAsync(""));
    }

    [Fact]
    public async Task With_the_relay_s_certificate_the_admin_endpoint_is_HTTPS_and_status_checks_it_by_pin_or_CA()
    {
        var certificate = TestCertificates.Valid();
        var (certFile, _) = TestCertificates.WritePem(certificate);
        var tls = Server.Tls.RelayCertificate.From(certificate);
        await using var relay = await TestRelay.StartAsync(s => s with { Tls = tls });
        await using var admin = await AdminServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), relay.System, secret: null, tls: tls);
        var at = new[] { "--admin", $"127.0.0.1:{admin.EndPoint.Port}", "--json" };

        Assert.Equal(0, await StatusCommand.RunAsync([.. at, "--tls-pin", tls.Pin], new StringWriter()));
        Assert.Equal(0, await StatusCommand.RunAsync([.. at, "--tls-ca", certFile], new StringWriter()));
        Assert.Equal(1, await StatusCommand.RunAsync([.. at, "--tls-pin", Protocol.TlsPin.Of(TestCertificates.Valid())], new StringWriter()));
        Assert.Equal(1, await StatusCommand.RunAsync(at, new StringWriter())); // plain HTTP to an HTTPS port
    }

    [Fact]
    public async Task Tcprelay_status_says_where_it_looked_when_no_relay_answers()
    {
        using var unused = Loopback.Bound(); // a port nothing answers on
        var port = Loopback.PortOf(unused);
        Assert.Equal(1, await StatusCommand.RunAsync(["--admin", $"127.0.0.1:{port}"], new StringWriter()));
    }

    [Fact]
    public async Task Serve_listens_for_admin_only_where_admin_says_whatever_ASP_NET_settings_the_environment_holds()
    {
        var (admin, extra) = (Loopback.FreePort(), Loopback.FreePort());
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
        using var listener = Loopback.Listening();
        var port = Loopback.PortOf(listener);
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
        Assert.Equal(1, await StatusCommand.RunAsync(["--admin", $"127.0.0.1:{port}"], new StringWriter()));
        Assert.Equal(1, await StatusCommand.RunAsync(["--admin", $"127.0.0.1:{port}", "--tree"], new StringWriter()));
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
