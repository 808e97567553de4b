using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using TcpRelay.AspNetCore;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Samples.HttpApp;

namespace TcpRelay.AspNetCore.Tests;

/// <summary>The HTTP sample served through an in-process relay: by the Kestrel transport, and by the agent.</summary>
public sealed class HttpAppTests
{
    private static async Task<(WebApplication App, int PublicPort)> StartThroughRelayAsync(TestRelay relay, string name, string? secret = null)
    {
        var app = HttpApp.Build(new HttpAppOptions { Relay = $"127.0.0.1:{relay.Endpoints.Control.Port}", Name = name, Secret = secret ?? relay.Settings.Secret });
        await app.StartAsync();
        return (app, app.Services.GetRequiredService<RelayEndPoint>().PublicPort);
    }

    private static HttpClient Client(int port, int connections) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
            Timeout = TestRelay.Wait,
        };

    /// <summary>Sends the requests, <paramref name="concurrency"/> at a time; returns how many answered 200 with the page.</summary>
    private static async Task<int> GetPagesAsync(HttpClient http, int requests, int concurrency, bool keepAlive)
    {
        var ok = 0;
        await Parallel.ForAsync(0, requests, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (_, ct) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.ConnectionClose = !keepAlive;
            using var response = await http.SendAsync(request, ct);
            if (response.StatusCode == HttpStatusCode.OK && await response.Content.ReadAsStringAsync(ct) == HttpApp.Page)
                Interlocked.Increment(ref ok);
        });
        return ok;
    }

    [Fact]
    public async Task The_page_is_served_through_the_relay()
    {
        await using var relay = await TestRelay.StartAsync();
        var (app, port) = await StartThroughRelayAsync(relay, "page");
        await using var _ = app;
        using var http = Client(port, 1);
        using var response = await http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal(HttpApp.Page, await response.Content.ReadAsStringAsync());
        Assert.Equal("page", app.Services.GetRequiredService<RelayEndPoint>().Name);
    }

    [Fact]
    public async Task The_Kestrel_transport_takes_the_relay_s_pin_and_serves_through_a_TLS_relay()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await TestRelay.StartAsync(s => s with { Tls = Server.Tls.RelayCertificate.From(certificate) });
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTcpRelay(o =>
        {
            o.Relay = $"127.0.0.1:{relay.Endpoints.Control.Port}";
            o.Name = "tls-page";
            o.TlsPin = TlsPin.Of(certificate);
        });
        await using var app = builder.Build();
        app.MapGet("/", () => "through TLS");
        await app.StartAsync();
        using var http = Client(app.Services.GetRequiredService<RelayEndPoint>().PublicPort, 1);
        Assert.Equal("through TLS", await http.GetStringAsync("/"));
    }

    [Fact]
    public async Task A_thousand_requests_with_keep_alive_and_a_thousand_without_all_succeed()
    {
        await using var relay = await TestRelay.StartAsync();
        var (app, port) = await StartThroughRelayAsync(relay, "many");
        await using var _ = app;
        using var http = Client(port, 8);
        Assert.Equal(1000, await GetPagesAsync(http, 1000, 8, keepAlive: true));
        Assert.Equal(1000, await GetPagesAsync(http, 1000, 8, keepAlive: false));
    }

    [Fact]
    public async Task Hundreds_of_concurrent_connections_are_served_without_errors()
    {
        await using var relay = await TestRelay.StartAsync();
        var (app, port) = await StartThroughRelayAsync(relay, "crowd");
        await using var _ = app;
        using var http = Client(port, 300);
        Assert.Equal(1200, await GetPagesAsync(http, 1200, 300, keepAlive: true));
    }

    [Fact]
    public async Task The_app_sees_the_client_s_own_address()
    {
        await using var relay = await TestRelay.StartAsync();
        var (app, port) = await StartThroughRelayAsync(relay, "whoami");
        await using var _ = app;
        using var client = await TestRelay.ConnectAsync(port);
        await client.SendAsync("GET /client HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray());
        var response = new MemoryStream();
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TestRelay.Wait);
        int n;
        while ((n = await client.ReceiveAsync(buffer, cts.Token)) > 0)
            response.Write(buffer, 0, n);
        var text = Encoding.ASCII.GetString(response.ToArray());
        Assert.StartsWith("HTTP/1.1 200", text);
        var local = (IPEndPoint)client.LocalEndPoint!;
        Assert.Contains($"\r\n{local.Address.MapToIPv4()}:{local.Port}\r\n", text); // the body, chunked
    }

    [Fact]
    public async Task A_refused_registration_fails_the_start_with_the_relay_s_reason()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { Secret = "right" });
        var app = HttpApp.Build(new HttpAppOptions { Relay = $"127.0.0.1:{relay.Endpoints.Control.Port}", Secret = "wrong" });
        await using var _ = app;
        var e = await Assert.ThrowsAsync<RelayRegistrationException>(() => app.StartAsync());
        Assert.Equal(ErrorCode.AuthFailed, e.Code);
    }

    [Fact]
    public async Task The_program_says_a_refusal_in_one_line_and_exits_1()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { Secret = "right" });
        var dll = ServeProcess.BuiltPath(Path.Combine("samples", "HttpApp"), "HttpApp.dll");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { dll, "--relay", $"127.0.0.1:{relay.Endpoints.Control.Port}", "--name", "web" })
            start.ArgumentList.Add(arg);
        start.Environment["TCPRELAY_SECRET"] = "wrong";
        using var process = System.Diagnostics.Process.Start(start)!;
        var (stdout, stderr) = (process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        await process.WaitForExitAsync().WaitAsync(TestRelay.Wait * 3);
        Assert.Equal(1, process.ExitCode);
        Assert.Equal("HttpApp: cannot register with the relay: relay refused: auth-failed auth does not match", (await stderr).Trim());
        Assert.DoesNotContain("Hosting failed", await stdout); // the host's own report of it, with Kestrel's stack
    }

    [Fact]
    public async Task Stopping_the_app_frees_its_name_at_once()
    {
        await using var relay = await TestRelay.StartAsync();
        var (first, _) = await StartThroughRelayAsync(relay, "again");
        await first.StopAsync();
        await first.DisposeAsync();
        var (second, _) = await StartThroughRelayAsync(relay, "again"); // LEAVE: no grace period to wait out
        await second.DisposeAsync();
    }

    [Fact]
    public async Task The_agent_exposes_the_sample_running_as_a_plain_local_server()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var app = HttpApp.Build(new HttpAppOptions { Listen = "http://127.0.0.1:0" });
        await app.StartAsync();
        var local = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        await using var agent = new RelayAgent(new RelayListenerOptions { RelayHost = "127.0.0.1", ControlPort = relay.Endpoints.Control.Port },
            [new ExposedService("127.0.0.1", local.Port, "web")]);
        await agent.StartAsync();

        using var http = Client(agent.Services[0].Listener.PublicPort, 8);
        Assert.Equal(1000, await GetPagesAsync(http, 1000, 8, keepAlive: true));
        Assert.Equal(1000, await GetPagesAsync(http, 1000, 8, keepAlive: false));
    }
}
