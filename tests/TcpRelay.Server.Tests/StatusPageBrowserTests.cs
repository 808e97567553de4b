using System.Net;
using System.Net.Sockets;
using TcpRelay.Client;
using TcpRelay.Server.Admin;
using TcpRelay.Server.Telemetry;
using Xunit.Abstractions;

namespace TcpRelay.Server.Tests;

/// <summary>The admin endpoint's status page as headless chromium shows it, with and without JavaScript.</summary>
public sealed class StatusPageBrowserTests(ITestOutputHelper output)
{
    /// <summary>A relay with its admin endpoint, an app "shown" and one paired session that moved bytes.</summary>
    private sealed class ShownRelay : IAsyncDisposable
    {
        public required TestRelay Relay { get; init; }
        public required AdminServer Admin { get; init; }
        public required RelayListener App { get; init; }
        public required Socket Client { get; init; }
        public required RelayStream Session { get; init; }

        public static async Task<ShownRelay> StartAsync()
        {
            var relay = await TestRelay.StartAsync();
            var admin = await AdminServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), relay.System, secret: null);
            var app = await relay.StartListenerAsync("shown");
            var client = await TestRelay.ConnectAsync(app.PublicPort);
            var session = await app.AcceptAsync();
            await client.SendAsync(new byte[100]);
            await SocketAssert.ReadExactlyAsync(session.Socket, 100);
            return new ShownRelay { Relay = relay, Admin = admin, App = app, Client = client, Session = session };
        }

        public string Url(string path = "") => $"http://127.0.0.1:{Admin.EndPoint.Port}/{path}";

        public int ClientPort => ((IPEndPoint)Client.LocalEndPoint!).Port;

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Session.DisposeAsync();
            await App.DisposeAsync();
            await Admin.DisposeAsync();
            await Relay.DisposeAsync();
        }
    }

    private static void ShowsTheRelay(string dom, ShownRelay shown)
    {
        Assert.Contains("<td>shown</td>", dom);
        Assert.Contains($"<td>{shown.App.PublicPort}</td>", dom);
        Assert.Contains($"<td>127.0.0.1:{shown.ClientPort}</td><td class=\"paired\">paired</td>", dom);
        Assert.Contains($"<span id=\"version\">{RelayStatus.Version}</span>", dom);
        Assert.Contains($"control port {shown.Relay.Endpoints.Control.Port}", dom);
        Assert.Contains("<td class=\"n\">100 B</td>", dom);
        Assert.DoesNotContain("loading", dom);
    }

    [ProgramFact("chromium", "chromium", "chromium-browser")]
    public async Task Without_javascript_the_page_already_shows_the_app_its_session_and_the_relay()
    {
        await using var shown = await ShownRelay.StartAsync();
        var dom = await HeadlessChromium.DumpDomAsync(shown.Url(), javaScript: false);
        ShowsTheRelay(dom, shown);
        // Akka's own actors are behind a link; the relay's are shown.
        Assert.Contains("/user\n", dom);
        Assert.DoesNotContain("IO-TCP", dom);
        Assert.Contains("IO-TCP", await HeadlessChromium.DumpDomAsync(shown.Url("?all=1"), javaScript: false));
    }

    [ProgramFact("chromium", "chromium", "chromium-browser")]
    public async Task With_javascript_the_refreshed_page_shows_the_same_and_a_screenshot_is_kept()
    {
        await using var shown = await ShownRelay.StartAsync();
        // Past the first refresh (two seconds in): what is shown is the script's rendering.
        var dom = await HeadlessChromium.DumpDomAsync(shown.Url(), virtualMilliseconds: 3000);
        ShowsTheRelay(dom, shown);
        Assert.Contains("<div id=\"error\"></div>", dom); // no "cannot refresh"

        var directory = Environment.GetEnvironmentVariable("TEST_ARTIFACTS") is { Length: > 0 } set
            ? set
            : Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(directory);
        var screenshot = Path.Combine(directory, "status-page.png");
        File.Delete(screenshot);
        await HeadlessChromium.ScreenshotAsync(shown.Url(), screenshot);
        var png = await File.ReadAllBytesAsync(screenshot);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        output.WriteLine($"status page screenshot: {screenshot}");
    }

    [ProgramFact("chromium", "chromium", "chromium-browser")]
    public async Task The_page_refreshes_itself_with_new_bytes_and_new_sessions()
    {
        await using var shown = await ShownRelay.StartAsync();
        await using var gate = new RefreshGate(shown.Admin.EndPoint);
        var dom = HeadlessChromium.DumpDomAsync($"http://127.0.0.1:{gate.Port}/", virtualMilliseconds: 6000);

        // The page is served and its script asks for a refresh, held: now the relay changes.
        await gate.Requested.WaitAsync(TestRelay.Wait);
        await shown.Client.SendAsync(new byte[5000]);
        await SocketAssert.ReadExactlyAsync(shown.Session.Socket, 5000);
        using var second = await TestRelay.ConnectAsync(shown.App.PublicPort);
        await using var secondSession = await shown.App.AcceptAsync();
        var status = RelayTelemetry.Get(shown.Relay.System).Status;
        Assert.Equal(2, Assert.Single(status.Snapshot().Apps).SessionsActive);
        gate.Open();

        var refreshed = await dom;
        Assert.Contains("<td class=\"n\">5.0 KiB</td>", refreshed); // 5100 bytes from clients, the app's and its first session's
        Assert.Contains($"<td>127.0.0.1:{((IPEndPoint)second.LocalEndPoint!).Port}</td><td class=\"paired\">paired</td>", refreshed);
        Assert.Contains("2 sessions open", refreshed);
    }
}
