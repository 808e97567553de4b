using System.Globalization;
using System.Text;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;
using static System.Net.WebUtility;

namespace TcpRelay.Server.Admin;

/// <summary>
/// The page at <c>/</c>: the same data as <c>/status</c> and <c>/actors</c>, for a person. The server
/// renders it whole, so it reads the same without JavaScript; the script only swaps in a fresh
/// rendering of <c>&lt;main&gt;</c> (<c>?fragment=1</c>) every two seconds. When the endpoint needs a
/// token, the script sends the one in <c>/#token=SECRET</c>.
/// </summary>
internal static class StatusPage
{
    /// <summary>The whole page.</summary>
    public static string Render(RelaySnapshot status, ActorNode tree, bool allActors, ByteRates rates) =>
        Head + "<main id=\"status\">" + Fragment(status, tree, allActors, rates) + "</main>\n" + Script;

    /// <summary>What <c>&lt;main&gt;</c> holds: everything that changes.</summary>
    public static string Fragment(RelaySnapshot status, ActorNode tree, bool allActors, ByteRates rates)
    {
        var html = new StringBuilder();
        var state = status.Draining ? "draining" : status.Ready ? "ready" : "starting";
        html.Append(CultureInfo.InvariantCulture,
            $"<p><span class=\"state {(status.Ready && !status.Draining ? "ready" : "down")}\">{state}</span> · up {ElapsedTime.Format(TimeSpan.FromSeconds(status.UptimeSeconds))}");
        if (status.Relay is { } relay)
            html.Append(CultureInfo.InvariantCulture,
                $" · version <span id=\"version\">{HtmlEncode(relay.Version)}</span> · control port {relay.ControlPort} · data port {relay.DataPort} · public ports {HtmlEncode(relay.PublicPorts)} · secret {(relay.Secret ? "on" : "off")}");
        if (status.Node is { } node)
            html.Append(CultureInfo.InvariantCulture, $" · node {HtmlEncode(node)}");
        html.Append("</p>\n");
        if (status.Relay is { } limits)
            html.Append(CultureInfo.InvariantCulture,
                $"<p class=\"quiet\">limits: {limits.MaxApps} apps, {limits.MaxSessionsPerApp} sessions per app, {limits.MaxPendingPerApp} waiting per app</p>\n");

        html.Append(CultureInfo.InvariantCulture,
            $"<p id=\"totals\">{status.AppsRegistered} apps · {status.SessionsActive} sessions open · {status.SessionsEnded} ended " +
            $"({status.SessionsRejected()} rejected, {status.SessionsFailed()} failed) · " +
            $"{Bytes(status.BytesFromClients)} from clients · {Bytes(status.BytesFromApps)} from apps</p>\n");

        html.Append("<table>\n<thead><tr><th>app / session</th><th>port / client</th><th>control / state</th><th>since / age</th><th>sessions</th>" +
                    "<th>from clients</th><th>from app</th><th>rate in / out</th><th>last minutes</th></tr></thead>\n<tbody>\n");
        var now = DateTimeOffset.UtcNow;
        foreach (var app in status.Apps)
        {
            var control = app.ControlNode is { } via ? "via " + via
                : app.Instances is { } instances ? $"{instances.Count} instances: {string.Join(", ", instances)}"
                : app.Control ?? "away (grace period)";
            html.Append(CultureInfo.InvariantCulture,
                $"<tr class=\"app\"><td>{HtmlEncode(app.Name)}{(app.Leaving ? " (leaving)" : "")}{(app.User is { } user ? $" <span class=\"quiet\">user {HtmlEncode(user)}</span>" : "")}</td><td>{app.Port}</td><td>{HtmlEncode(control)}</td>" +
                $"<td title=\"{app.RegisteredSince.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC\">{ElapsedTime.Format(now - app.RegisteredSince)} ago</td><td class=\"n\">{app.SessionsActive}</td>" +
                $"<td class=\"n\">{Bytes(app.BytesFromClients)}</td><td class=\"n\">{Bytes(app.BytesFromApp)}</td>" +
                $"<td class=\"n\">{Bytes((long)app.BytesPerSecondFromClients)}/s / {Bytes((long)app.BytesPerSecondFromApp)}/s</td><td>{Chart(rates.History(app.Name))}</td></tr>\n");
            foreach (var session in app.Sessions)
                html.Append(CultureInfo.InvariantCulture,
                    $"<tr class=\"session\"><td>{HtmlEncode(session.IdPrefix)}…</td><td>{HtmlEncode(session.Client)}</td>" +
                    $"<td class=\"{(session.Paired ? "paired" : "waiting")}\">{(session.Paired ? "paired" : "waiting for the app")}</td>" +
                    $"<td>{ElapsedTime.Format(TimeSpan.FromSeconds(session.AgeSeconds))}</td><td></td>" +
                    $"<td class=\"n\">{Bytes(session.BytesFromClient)}</td><td class=\"n\">{Bytes(session.BytesFromApp)}</td><td></td><td></td></tr>\n");
        }
        if (status.Apps.Count == 0)
            html.Append("<tr><td colspan=\"9\" class=\"quiet\">no app registered</td></tr>\n");
        html.Append("</tbody>\n</table>\n");

        html.Append(allActors
            ? "<h2>Actor tree</h2>\n<p><a href=\"./\">only the relay's actors (/user)</a></p>\n"
            : "<h2>Actor tree</h2>\n<p><a href=\"?all=1\">with Akka's own actors (/system)</a></p>\n");
        html.Append("<pre id=\"tree\">");
        Tree(tree, 0, html);
        html.Append("</pre>\n");
        return html.ToString();
    }

    private static void Tree(ActorNode node, int depth, StringBuilder html)
    {
        html.Append(' ', depth * 2).Append(HtmlEncode(depth == 0 ? node.Path : node.Name)).Append('\n');
        foreach (var child in node.Children)
            Tree(child, depth + 1, html);
    }

    /// <summary>Both directions' rates as two lines, scaled to the highest rate shown.</summary>
    private static string Chart(IReadOnlyList<ByteRate> history)
    {
        const int width = 150, height = 24;
        if (history.Count < 2)
            return "";
        var top = Math.Max(1, history.Max(r => Math.Max(r.FromClients, r.FromApp)));
        string Points(Func<ByteRate, double> rate) => string.Join(' ', history.Select((r, i) => string.Create(CultureInfo.InvariantCulture,
            $"{i * (double)width / (history.Count - 1):0.#},{height - rate(r) / top * (height - 2) - 1:0.#}")));
        return $"<svg class=\"chart\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"bytes per second, last minutes\">" +
               $"<polyline class=\"in\" points=\"{Points(r => r.FromClients)}\"/><polyline class=\"out\" points=\"{Points(r => r.FromApp)}\"/></svg>";
    }

    private static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1073741824.0:0.00} GiB"),
    };

    private const string Head = """
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>TcpRelay status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; } h2 { font-size: 1.1em; }
  .state { font-weight: bold; } .ready, .paired { color: #176b2c; } .down { color: #a11; } .waiting { color: #a60; }
  .quiet { color: #666; }
  table { border-collapse: collapse; margin: .6em 0 1.2em; }
  th, td { text-align: left; padding: .2em .8em .2em 0; border-bottom: 1px solid #ddd; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  tr.session td { color: #555; font-size: .92em; } tr.session td:first-child { padding-left: 1.5em; }
  svg.chart polyline { fill: none; stroke-width: 1.5; } svg.chart .in { stroke: #1f5fbf; } svg.chart .out { stroke: #c2571a; }
  pre { background: #f6f6f6; padding: .8em; }
  #error { color: #a11; }
</style>
</head>
<body>
<h1>TcpRelay</h1>
<div id="error"></div>

""";

    private const string Script = """
<script>
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};
const query = new URLSearchParams(location.search);
query.set("fragment", "1");
async function refresh() {
  try {
    const response = await fetch("?" + query, { headers });
    if (!response.ok) throw new Error("HTTP " + response.status);
    document.getElementById("status").innerHTML = await response.text();
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "cannot refresh: " + e.message;
  }
}
setInterval(refresh, 2000);
</script>
</body>
</html>
""";
}
