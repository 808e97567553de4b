using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Cli;

/// <summary><c>tcprelay status</c>: a running relay's apps and sessions, read from its admin endpoint.</summary>
internal static class StatusCommand
{
    public const string Usage =
        "usage: tcprelay status [--admin HOST:PORT] [--json] [--tree] [--secret-file PATH]\n" +
        "                       [--tls] [--tls-ca FILE | --tls-pin sha256:HEX] [--tls-server-name NAME]\n" +
        "  Reads the relay's admin endpoint (tcprelay serve --admin; default 127.0.0.1:9090, or TCPRELAY_ADMIN).\n" +
        "  --json prints /status as it is; --tree prints the live actor tree. Beyond loopback the\n" +
        "  endpoint wants the shared secret: TCPRELAY_SECRET or --secret-file. A relay with tls-cert serves the\n" +
        "  endpoint over HTTPS: --tls, --tls-ca or --tls-pin check its certificate as the agent's flags do.";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var flags = new FlagReader(args, new HashSet<string> { "admin", "secret-file", "tls-ca", "tls-pin", "tls-server-name" }, new HashSet<string> { "json", "tree", "tls" });
        var admin = flags.Value("admin") ?? Environment.GetEnvironmentVariable("TCPRELAY_ADMIN") ?? "127.0.0.1:9090";
        if (!IPEndPoint.TryParse(admin, out var endPoint) || endPoint.Port == 0 || !admin.Contains(':'))
            throw new UsageException($"--admin: '{admin}' is not IP:PORT (e.g. 127.0.0.1:9090)");
        var secret = AgentCommand.ReadSecret(Environment.GetEnvironmentVariable, flags.Value("secret-file") ?? "");

        Client.RelayTrust? trust = null;
        if (flags.Switch("tls") || flags.Value("tls-ca") is not null || flags.Value("tls-pin") is not null)
        {
            try
            {
                trust = Client.RelayTrust.Create(flags.Value("tls-ca"), flags.Value("tls-pin"), flags.Value("tls-server-name"));
            }
            catch (ArgumentException e)
            {
                throw UsageException.From(e);
            }
        }
        using var handler = new SocketsHttpHandler();
        if (trust is not null)
            handler.SslOptions = trust.ClientOptions(trust.NameFor(endPoint.Address.ToString()));
        using var http = new HttpClient(handler) { BaseAddress = new Uri($"{(trust is null ? "http" : "https")}://{admin}/"), Timeout = TimeSpan.FromSeconds(10) };
        // The token is the relay's secret, over plain HTTP: sent only where the endpoint asks for it.
        if (secret is not null && !IPAddress.IsLoopback(endPoint.Address))
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        var path = flags.Switch("tree") ? "actors" : "status";
        string body;
        try
        {
            using var response = await http.GetAsync(path);
            body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                await Console.Error.WriteLineAsync($"tcprelay: the admin endpoint at {admin} wants the shared secret (TCPRELAY_SECRET or --secret-file)");
                return 1;
            }
            response.EnsureSuccessStatusCode();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await Console.Error.WriteLineAsync(trust?.LastRefusal is { } refusal
                ? $"tcprelay: the admin endpoint's certificate at {admin} is refused: {refusal}"
                : $"tcprelay: cannot read {path} from the admin endpoint at {admin}: {e.Message} (is the relay running with --admin {admin}{(trust is null ? ", and without tls-cert (else give --tls, --tls-ca or --tls-pin)" : "")}?)");
            return 1;
        }

        if (flags.Switch("json"))
        {
            await output.WriteLineAsync(body);
            return 0;
        }
        try
        {
            await output.WriteAsync(flags.Switch("tree")
                ? RenderTree(JsonSerializer.Deserialize<ActorNode>(body, Json) ?? throw new JsonException("null"))
                : RenderStatus(JsonSerializer.Deserialize<RelaySnapshot>(body, Json) ?? throw new JsonException("null")));
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or NotSupportedException)
        {
            // Something else answers there (another web server, another version): say so, no stack trace.
            await Console.Error.WriteLineAsync($"tcprelay: {admin}{path} did not answer with a relay's status ({e.Message}); is it a tcprelay admin endpoint?");
            return 1;
        }
        return 0;
    }

    /// <summary>The status as a table: one row per app, its sessions indented below it.</summary>
    public static string RenderStatus(RelaySnapshot status)
    {
        var text = new StringBuilder();
        var state = status.Draining ? "draining" : status.Ready ? "ready" : "starting";
        var identity = status.Relay is { } relay ? $"; tcprelay {relay.Version}, up {ElapsedTime.Format(TimeSpan.FromSeconds(status.UptimeSeconds))}" : "";
        text.AppendLine(CultureInfo.InvariantCulture,
            $"relay {state}{(status.Node is null ? "" : $" (cluster node {status.Node})")}: {status.AppsRegistered} apps, {status.SessionsActive} sessions, {Bytes(status.BytesFromClients)} from clients, {Bytes(status.BytesFromApps)} from apps; {status.SessionsEnded} ended ({status.SessionsRejected()} rejected, {status.SessionsFailed()} failed){identity}");
        if (status.Apps.Count == 0)
            return text.ToString();
        // Sessions sit under their app: the address column holds the app's control connection on an
        // app's row (in a cluster, "via NODE" when it is on another node) and the client on a
        // session's, the time column when it registered or how old it is.
        // A relay with a users file shows whose each app is.
        var users = status.Apps.Any(a => a.User is not null);
        var rows = new List<string[]> { new[] { "APP / SESSION", "PORT", "ADDRESS", "SINCE / AGE", "SESSIONS", "FROM CLIENTS", "FROM APP" } };
        foreach (var app in status.Apps)
        {
            var name = app.Leaving ? app.Name + " (leaving)" : app.Name;
            rows.Add([users ? $"{name} ({app.User ?? "shared secret"})" : name, app.Port.ToString(CultureInfo.InvariantCulture),
                app.ControlNode is { } node ? $"via {node}"
                : app.Instances is { } instances ? $"{instances.Count} instances: {string.Join(", ", instances)}"
                : app.Control ?? "away", app.RegisteredSince.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                app.SessionsActive.ToString(CultureInfo.InvariantCulture), Bytes(app.BytesFromClients), Bytes(app.BytesFromApp)]);
            foreach (var session in app.Sessions)
                rows.Add(["  " + session.IdPrefix + (session.Paired ? "" : " waiting"), "", session.Client,
                    ElapsedTime.Format(TimeSpan.FromSeconds(session.AgeSeconds)), "", Bytes(session.BytesFromClient), Bytes(session.BytesFromApp)]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
            text.AppendLine(string.Join("  ", row.Select((cell, c) => c >= 4 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))).TrimEnd());
        return text.ToString();
    }

    private static string RenderTree(ActorNode node, int depth = 0) =>
        new string(' ', depth * 2) + (depth == 0 ? node.Path : node.Name) + "\n" +
        string.Concat(node.Children.Select(child => RenderTree(child, depth + 1)));

    private static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1073741824.0:0.00} GiB"),
    };
}
