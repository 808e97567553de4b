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
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Admin;

/// <summary>
/// The relay's admin HTTP endpoint: <c>/metrics</c> (Prometheus text), <c>/healthz</c>, <c>/status</c>
/// and <c>/actors</c> (JSON), and a status page at <c>/</c>. Everything it shows is read from the
/// status board and the actor tree directly, so a scrape never waits on, or holds up, an actor.
/// </summary>
public sealed class AdminServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private AdminServer(WebApplication app, IPEndPoint endPoint)
    {
        _app = app;
        EndPoint = endPoint;
    }

    /// <summary>Where the endpoint listens (the port is the bound one when 0 was asked for).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>
    /// Starts the endpoint on <paramref name="bind"/> for the relay running in <paramref name="system"/>.
    /// Bound to anything but loopback, every request must carry <paramref name="secret"/> as a bearer token.
    /// </summary>
    /// <exception cref="ArgumentException">A non-loopback address without a secret.</exception>
    public static async Task<AdminServer> StartAsync(IPEndPoint bind, ActorSystem system, string? secret, ILoggerProvider? logging = null)
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
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(bind));
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(RelayMetrics.MeterName).AddPrometheusExporter());
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

        var status = RelayTelemetry.Get(system).Status;
        app.UseOpenTelemetryPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/healthz", () =>
            status.Draining ? Results.Text("draining\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : !status.Ready ? Results.Text("starting\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Text("ready\n"));
        // A session id is what an app's ACCEPT proves itself with: only its first 8 digits are shown.
        app.MapGet("/status", () => Results.Json(status.Snapshot()));
        app.MapGet("/actors", () => Results.Json(ActorTree.Snapshot(system)));
        app.MapGet("/", () => Results.Text(StatusPage.Html, "text/html; charset=utf-8"));

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(address);
        return new AdminServer(app, new IPEndPoint(bind.Address, uri.Port));
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
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
