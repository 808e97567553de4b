using TcpRelay.AspNetCore;

namespace TcpRelay.Samples.HttpApp;

/// <summary>The sample's app: a page at <c>/</c>, and <c>/client</c> telling the caller the address the app saw.</summary>
public static class HttpApp
{
    /// <summary>The page at /.</summary>
    public const string Page = "<!doctype html>\n<title>TcpRelay</title>\n<h1>Served through TcpRelay</h1>\n";

    /// <summary>Builds the app; nothing listens until it is started.</summary>
    public static WebApplication Build(HttpAppOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        // A start that fails (the relay refused) is the program's to report, in one line: the host's
        // own "Hosting failed to start" would repeat it with the whole stack of Kestrel's bind.
        builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("TcpRelay", LogLevel.Information)
            .AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        if (options.Relay is { } relay)
        {
            builder.WebHost.UseTcpRelay(o =>
            {
                o.Relay = relay;
                o.Name = options.Name;
                o.Port = options.Port;
                o.Secret = options.Secret;
            });
        }
        else
        {
            builder.WebHost.UseUrls(options.Listen!);
        }
        var app = builder.Build();
        app.MapGet("/", () => Results.Content(Page, "text/html; charset=utf-8"));
        // The relay passes on the client's real address: the app sees it as the connection's remote end.
        app.MapGet("/client", (HttpContext context) => $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}");
        return app;
    }
}
