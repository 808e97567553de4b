using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TcpRelay.Server;

namespace TcpRelay.TestSupport;

/// <summary><c>tcprelay serve</c> as a process of its own, for what only the real command shows (signals, its environment).</summary>
public static class ServeProcess
{
    /// <summary>The built tcprelay.dll of this configuration.</summary>
    public static string CliPath() => BuiltPath(Path.Combine("src", "TcpRelay"), "tcprelay.dll");

    /// <summary>
    /// The <paramref name="assembly"/> of the program in <paramref name="project"/> (a folder of the
    /// repository), as built in that project's own output for this configuration: a test's output has
    /// ASP.NET Core's shared framework instead of the packages a program ships with.
    /// </summary>
    public static string BuiltPath(string project, string assembly)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TcpRelay.sln")))
            dir = dir.Parent;
        Assert.NotNull(dir);
#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        var path = Path.Combine(dir.FullName, project, "bin", configuration, "net10.0", assembly);
        Assert.True(File.Exists(path), $"{path} is not built");
        return path;
    }

    /// <summary>
    /// Starts <c>tcprelay serve</c> with <paramref name="arguments"/> added, on control and data
    /// ports the OS picked and released; another test's connection may take one of them before the
    /// relay binds it, so a relay that cannot listen is started again on other ports. Returns once
    /// the log shows <paramref name="readyLine"/>.
    /// </summary>
    public static async Task<(Process Relay, int ControlPort, ConcurrentQueue<string> Log)> StartAsync(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string readyLine = "Relay listening")
    {
        for (var attempt = 1; ; attempt++)
        {
            int control, data;
            using (var a = new Socket(SocketType.Stream, ProtocolType.Tcp))
            using (var b = new Socket(SocketType.Stream, ProtocolType.Tcp))
            {
                a.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                b.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                (control, data) = (((IPEndPoint)a.LocalEndPoint!).Port, ((IPEndPoint)b.LocalEndPoint!).Port);
            }
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { CliPath(), "serve", "--control-port", $"{control}", "--data-port", $"{data}",
                    "--public-ports", $"{TestSettings.Relay().PublicPorts}" },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            foreach (var argument in arguments)
                start.ArgumentList.Add(argument);
            start.Environment.Remove("TCPRELAY_SECRET");
            // Nothing of a test's relay is kept in the user's state directory, nor read from it
            // (files are per control port, so relays of parallel tests keep apart here too).
            start.Environment["TCPRELAY_STATE_DIR"] = Path.Combine(Path.GetTempPath(), "tcprelay-test-state");
            foreach (var (key, value) in environment ?? new Dictionary<string, string>())
                start.Environment[key] = value;
            var relay = Process.Start(start)!;
            var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new ConcurrentQueue<string>();
            relay.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                    return;
                log.Enqueue(e.Data);
                if (e.Data.Contains(readyLine))
                    listening.TrySetResult();
            };
            relay.BeginErrorReadLine();
            relay.BeginOutputReadLine();
            Task first;
            try
            {
                first = await Task.WhenAny(listening.Task, relay.WaitForExitAsync()).WaitAsync(TestRelay.Wait * 3);
            }
            catch (TimeoutException)
            {
                relay.Kill();
                relay.Dispose();
                throw new TimeoutException($"tcprelay serve did not report listening; log:\n{string.Join("\n", log)}");
            }
            if (first == listening.Task)
                return (relay, control, log);
            relay.Dispose();
            if (attempt == 3 || !log.Any(line => line.Contains("cannot listen")))
                Assert.Fail($"tcprelay serve exited before listening; log:\n{string.Join("\n", log)}");
        }
    }
}
