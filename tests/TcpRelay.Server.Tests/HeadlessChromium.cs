using System.Diagnostics;

namespace TcpRelay.Server.Tests;

/// <summary>Debian's chromium, run headless on a page: its DOM once loaded (and scripts had their time), or a screenshot.</summary>
internal static class HeadlessChromium
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The DOM after <paramref name="virtualMilliseconds"/> of the page's (virtual) time, its timers run.</summary>
    /// <param name="url">The page.</param>
    /// <param name="javaScript">False: the page's scripts are blocked, as by a user who turned JavaScript off.</param>
    /// <param name="virtualMilliseconds">How much of the page's time passes before the dump.</param>
    public static Task<string> DumpDomAsync(string url, bool javaScript = true, int virtualMilliseconds = 500) =>
        RunAsync(url, ["--dump-dom", $"--virtual-time-budget={virtualMilliseconds}"], javaScript);

    /// <summary>A PNG of the page as a 1280x800 window shows it.</summary>
    public static Task ScreenshotAsync(string url, string path, int virtualMilliseconds = 500) =>
        RunAsync(url, [$"--screenshot={path}", "--window-size=1280,800", $"--virtual-time-budget={virtualMilliseconds}"], javaScript: true);

    private static async Task<string> RunAsync(string url, string[] flags, bool javaScript)
    {
        var executable = ProgramFactAttribute.Find(Programs) ?? throw new Xunit.Sdk.XunitException(
            "chromium is not installed, and this test needs it: apt-get install chromium (.ci/run installs it when it is missing)");
        // A profile of its own: chromium runs once per profile, and tests run side by side.
        var profile = Directory.CreateTempSubdirectory("tcprelay-chromium-");
        // The profile's content setting, not --blink-settings=scriptEnabled=false: that one stops
        // --dump-dom too, which reads the DOM with a script of its own; the setting spares DevTools'.
        if (!javaScript)
        {
            Directory.CreateDirectory(Path.Combine(profile.FullName, "Default"));
            await File.WriteAllTextAsync(Path.Combine(profile.FullName, "Default", "Preferences"),
                """{"profile":{"default_content_setting_values":{"javascript":2}}}""");
        }
        try
        {
            var start = new ProcessStartInfo(executable)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                ArgumentList = { "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", $"--user-data-dir={profile.FullName}" },
            };
            foreach (var flag in flags)
                start.ArgumentList.Add(flag);
            start.ArgumentList.Add(url);
            using var chromium = Process.Start(start)!;
            var output = chromium.StandardOutput.ReadToEndAsync();
            var errors = chromium.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(Timeout);
            try
            {
                await chromium.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                chromium.Kill(entireProcessTree: true);
                throw new Xunit.Sdk.XunitException($"chromium did not finish with {url} within {Timeout}: {await errors}");
            }
            if (chromium.ExitCode != 0)
                throw new Xunit.Sdk.XunitException($"chromium exited with {chromium.ExitCode} on {url}: {await errors}");
            return await output;
        }
        finally
        {
            try
            {
                profile.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A helper process still closing its files; the temp directory is the OS's to clear.
            }
        }
    }

    /// <summary>The names Debian's chromium goes by.</summary>
    public static readonly string[] Programs = ["chromium", "chromium-browser"];
}
