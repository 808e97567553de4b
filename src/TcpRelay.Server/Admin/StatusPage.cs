namespace TcpRelay.Server.Admin;

/// <summary>
/// The page at <c>/</c>: the same data as <c>/status</c> and <c>/actors</c>, for a person, refreshed
/// every two seconds. When the endpoint needs a token, open the page as <c>/#token=SECRET</c>.
/// </summary>
internal static class StatusPage
{
    public const string Html = """
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>TcpRelay status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; }
  .state { font-weight: bold; } .ready { color: #176b2c; } .down { color: #a11; }
  table { border-collapse: collapse; margin: .6em 0 1.2em; }
  th, td { text-align: left; padding: .2em .8em .2em 0; border-bottom: 1px solid #ddd; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  tr.session td { color: #555; font-size: .92em; } tr.session td:first-child { padding-left: 1.5em; }
  pre { background: #f6f6f6; padding: .8em; }
  #error { color: #a11; }
</style>
</head>
<body>
<h1>TcpRelay</h1>
<div id="summary">loading…</div>
<div id="error"></div>
<table>
  <thead><tr><th>app / session</th><th>port / client</th><th>control</th><th>since / age</th><th>sessions</th><th>from clients</th><th>from app</th></tr></thead>
  <tbody id="apps"></tbody>
</table>
<h2>Actor tree</h2>
<pre id="tree"></pre>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const bytes = n => n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB";
function tree(node, depth) {
  return "  ".repeat(depth) + (depth ? node.name : node.path) + "\n" + node.children.map(c => tree(c, depth + 1)).join("");
}
async function refresh() {
  try {
    const [status, actors] = await Promise.all(["status", "actors"].map(p => fetch(p, { headers }).then(r => {
      if (!r.ok) throw new Error(p + ": HTTP " + r.status);
      return r.json();
    })));
    const state = status.draining ? "draining" : status.ready ? "ready" : "starting";
    document.getElementById("summary").innerHTML =
      `<span class="state ${status.ready && !status.draining ? "ready" : "down"}">${state}</span> · ` +
      (status.node ? `node ${esc(status.node)} · ` : "") +
      `${status.appsRegistered} apps · ${status.sessionsActive} sessions · ` +
      `${bytes(status.bytesFromClients)} from clients · ${bytes(status.bytesFromApps)} from apps`;
    document.getElementById("apps").innerHTML = status.apps.map(a =>
      `<tr><td>${esc(a.name)}${a.leaving ? " (leaving)" : ""}</td><td>${a.port}</td><td>${esc(a.controlNode ? "via " + a.controlNode : a.control ?? "away (grace period)")}</td>` +
      `<td>${esc(new Date(a.registeredSince).toLocaleString())}</td><td class="n">${a.sessionsActive}</td>` +
      `<td class="n">${bytes(a.bytesFromClients)}</td><td class="n">${bytes(a.bytesFromApp)}</td></tr>` +
      a.sessions.map(s =>
        `<tr class="session"><td>${esc(s.idPrefix)}…${s.paired ? "" : " (waiting)"}</td><td>${esc(s.client)}</td><td></td>` +
        `<td>${s.ageSeconds.toFixed(1)} s</td><td></td><td class="n">${bytes(s.bytesFromClient)}</td><td class="n">${bytes(s.bytesFromApp)}</td></tr>`).join("")
    ).join("");
    document.getElementById("tree").textContent = tree(actors, 0);
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "cannot refresh: " + e.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
""";
}
