using System.Net;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Admin;

/// <summary>
/// The relay's admin HTTP endpoint: <c>/metrics</c> (Prometheus text), <c>/healthz</c>, <c>/status</c>
/// and <c>/actors</c> (JSON), and a status page at <c>/</c>. Everything it shows is read from the
/// status board and the actor tree directly, so a scrape never waits on, or holds up, an actor.
/// </summary>
public sealed class AdminServer : IAsyncDisposable
{
    // Rates are sampled this often and kept this long: a page's chart covers the last five minutes.
    private static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(2);
    private const int SamplesKept = 151;

    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping;
    private readonly Task _sampling;

    private AdminServer(WebApplication app, IPEndPoint endPoint, CancellationTokenSource stopping, Task sampling)
    {
        _app = app;
        EndPoint = endPoint;
        _stopping = stopping;
        _sampling = sampling;
    }

    /// <summary>Where the endpoint listens (the port is the bound one when 0 was asked for).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>
    /// Starts the endpoint on <paramref name="bind"/> for the relay running in <paramref name="system"/>.
    /// Bound to anything but loopback, every request must carry <paramref name="secret"/> as a bearer token.
    /// With <paramref name="tls"/> (the relay's own certificate) it serves HTTPS only.
    /// </summary>
    /// <exception cref="ArgumentException">A non-loopback address without a secret.</exception>
    public static async Task<AdminServer> StartAsync(IPEndPoint bind, ActorSystem system, string? secret, ILoggerProvider? logging = null, Tls.RelayCertificate? tls = null)
    {
        var needsToken = !IPAddress.IsLoopback(bind.Address);
        if (needsToken && secret is null)
            throw new ArgumentException($"the admin endpoint on {bind}, a non-loopback address, needs the shared secret to require as a bearer token");

        var builder = WebApplication.CreateSlimBuilder();
        // ASP.NET reads appsettings.json from the working directory and ASPNETCORE_*/Kestrel__*
        // variables: a Kestrel endpoint there would be served too, beside --admin and without the
        // token rule --admin's address decides. Only --admin is listened on.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        if (logging is not null)
            builder.Logging.AddProvider(logging);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(bind, listen =>
        {
            if (tls is not null)
                listen.UseHttps(tls.Certificate);
        }));
        var status = RelayTelemetry.Get(system).Status;
        // Room for a series per app the relay takes (two for bytes, one per direction), where the
        // default limit (2000 series) would fold the last apps of a large relay into one overflow series.
        var apps = status.Identity?.MaxApps ?? 1000;
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("tcprelay", serviceVersion: RelayStatus.Version))
            .WithMetrics(metrics => metrics.AddMeter(RelayMetrics.MeterName)
                .AddView("tcprelay.app.sessions.active", new MetricStreamConfiguration { CardinalityLimit = apps + 10 })
                .AddView("tcprelay.app.relayed", new MetricStreamConfiguration { CardinalityLimit = 2 * apps + 10 })
                .AddPrometheusExporter());
        var app = builder.Build();

        // Bound to loopback there is no token, so only requests meant for this machine are served:
        // a web page that rebinds its own name to 127.0.0.1 must not read the status.
        if (!needsToken)
            app.Use(async (context, next) =>
            {
                if (!IsLoopbackHost(context.Request.Host.Host))
                {
                    context.Response.StatusCode = StatusCodes.Status400BadRequest;
                    await context.Response.WriteAsync("the admin endpoint answers only to localhost and loopback addresses\n");
                    return;
                }
                await next(context);
            });
        if (needsToken)
            app.Use(async (context, next) =>
            {
                if (!HasToken(context.Request, secret!))
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    context.Response.Headers.WWWAuthenticate = "Bearer";
                    await context.Response.WriteAsync("the shared secret is required as a bearer token\n");
                    return;
                }
                await next(context);
            });

        var rates = new ByteRates(SamplesKept);
        RelaySnapshot Snapshot()
        {
            var snapshot = status.Snapshot();
            return snapshot with
            {
                Apps = snapshot.Apps.Select(a =>
                {
                    var rate = rates.Current(a.Name);
                    return a with { BytesPerSecondFromClients = Math.Round(rate.FromClients, 1), BytesPerSecondFromApp = Math.Round(rate.FromApp, 1) };
                }).ToList(),
            };
        }

        app.UseOpenTelemetryPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/healthz", () =>
            status.Draining ? Results.Text("draining\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : !status.Ready ? Results.Text("starting\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Text("ready\n"));
        // A session id is what an app's ACCEPT proves itself with: only its first 8 digits are shown.
        app.MapGet("/status", () => Results.Json(Snapshot()));
        app.MapGet("/actors", () => Results.Json(ActorTree.Snapshot(system)));
        // The relay's own actors by default; ?all=1 adds Akka's (/system: IO, remoting, logging).
        app.MapGet("/", (HttpRequest request) =>
        {
            var all = request.Query["all"] == "1";
            var tree = all ? ActorTree.Snapshot(system) : ActorTree.Snapshot(((ExtendedActorSystem)system).Provider.Guardian);
            return Results.Text(request.Query["fragment"] == "1" ? StatusPage.Fragment(Snapshot(), tree, all, rates) : StatusPage.Render(Snapshot(), tree, all, rates),
                "text/html; charset=utf-8");
        });

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(address);
        var stopping = new CancellationTokenSource();
        return new AdminServer(app, new IPEndPoint(bind.Address, uri.Port), stopping, SampleAsync(status, rates, stopping.Token));
    }

    // Rates need counters read at known times whether or not anyone is looking, so the chart has a past.
    private static async Task SampleAsync(RelayStatus status, ByteRates rates, CancellationToken stopping)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var timer = new PeriodicTimer(SampleInterval);
        try
        {
            do
                rates.Record(clock.Elapsed, status.Snapshot().Apps);
            while (await timer.WaitForNextTickAsync(stopping));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));

    private static bool HasToken(HttpRequest request, string secret)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return false;
        // Constant time, as for the relay's own auth: the token is the relay's secret. Comparing
        // digests keeps the secret's length out of the timing too.
        return CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim())), SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _sampling;
        _stopping.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
