using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace TcpRelay.Cli.Tests;

/// <summary>
/// <c>tcprelay agent</c> as a process of its own, for what only the real command shows: its signals
/// (the drain, the second signal) and its resume token file across two runs (issue 15, parts 2 and 4).
/// </summary>
public sealed partial class AgentProcessTests
{
    [Fact]
    public async Task Sigterm_drains_the_agent_a_running_transfer_finishes_byte_exact_and_a_second_sigterm_resets_the_rest()
    {
        await using var relay = await TestRelay.StartAsync();
        using var echo = Echo();
        // A deadline no test waits out: only the sessions' end, or the second signal, ends the drain.
        await using var agent = await AgentProcess.StartAsync(relay, echo, ["--drain-timeout", "5m", "--resume-token-file", ""]);
        using var finishing = await TestRelay.ConnectAsync(agent.PublicPort);
        using var lingering = await TestRelay.ConnectAsync(agent.PublicPort);
        await EchoesAsync(finishing, 1, 1 << 20);
        await EchoesAsync(lingering, 2, 4096);

        agent.Signal("TERM");
        await agent.WaitForLineAsync("Draining: deregistering 1 services (no new client comes); 2 running sessions");
        // The transfer goes on to its end, every byte of it, and the session closes in order.
        await EchoesAsync(finishing, 3, 4 << 20);
        finishing.Shutdown(SocketShutdown.Send);
        await SocketAssert.ClosedAsync(finishing);
        await agent.WaitForLineAsync("Session ");
        Assert.False(agent.HasExited, agent.Log);

        agent.Signal("TERM");
        await SocketAssert.ResetAsync(lingering);
        Assert.Equal(0, await agent.ExitCodeAsync());
        Assert.True(agent.Log.Contains("1 sessions left were reset on a second signal"), agent.Log);
        Assert.DoesNotContain(" ERR ", agent.Log);
    }

    [Fact]
    public async Task A_shared_service_without_a_name_exits_2_and_says_what_it_needs()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { ServeProcess.CliPath(), "agent", "--relay", "127.0.0.1:1", "--to", "127.0.0.1:2", "--shared" })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TestRelay.Wait * 3);
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("--shared needs a --name for --to 127.0.0.1:2", await stderr);
    }

    [Fact]
    public async Task A_restarted_agent_keeps_its_token_in_the_state_directory_and_gets_its_name_back_at_once()
    {
        // The first agent is killed (no LEAVE): the relay holds its name for the grace period, for
        // its token only. Another token would get name-in-use until the period ends, past the wait.
        await using var relay = await TestRelay.StartAsync(s => s with { GracePeriod = TimeSpan.FromMinutes(5) });
        using var echo = Echo();
        var state = Directory.CreateTempSubdirectory("tcprelay-agent-state-").FullName;
        try
        {
            var environment = new Dictionary<string, string> { ["STATE_DIRECTORY"] = state };
            string token;
            int port;
            // The file is held locked while an agent runs, so it is read between the runs and after.
            string TokenFileText() => File.ReadAllText(Assert.Single(Directory.GetFiles(state, "agent-*.token")));
            await using (var first = await AgentProcess.StartAsync(relay, echo, [], environment))
            {
                port = first.PublicPort;
                first.Kill();
            }
            token = TokenFileText();
            await using var second = await AgentProcess.StartAsync(relay, echo, [], environment);
            Assert.Equal(port, second.PublicPort);
            using (var client = await TestRelay.ConnectAsync(second.PublicPort))
                await EchoesAsync(client, 4, 4096);
            second.Signal("TERM");
            Assert.Equal(0, await second.ExitCodeAsync());
            Assert.Equal(token, TokenFileText());
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    private static async Task EchoesAsync(Socket client, ulong seed, int length)
    {
        var payload = Payload.Make(seed, length);
        var sending = client.SendAsync(payload);
        Assert.Equal(-1, Payload.FirstMismatch(seed, 0, await SocketAssert.ReadExactlyAsync(client, length)));
        await sending;
    }

    /// <summary>An echo service on a port the OS picks, until disposed.</summary>
    private static TcpListener Echo()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket connection;
                try
                {
                    connection = await listener.AcceptSocketAsync();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return;
                }
                _ = Task.Run(async () =>
                {
                    using (connection)
                    {
                        var buffer = new byte[65536];
                        try
                        {
                            int n;
                            while ((n = await connection.ReceiveAsync(buffer)) > 0)
                                await connection.SendAsync(buffer.AsMemory(0, n));
                            connection.Shutdown(SocketShutdown.Send);
                        }
                        catch (SocketException)
                        {
                            // Reset by the agent: nothing to echo.
                        }
                    }
                });
            }
        });
        return listener;
    }

    [GeneratedRegex(@"clients connect to [^ ]+:(\d+)$")]
    private static partial Regex ExposingLine();

    /// <summary>A running <c>tcprelay agent</c> exposing one echo service as <c>echo</c>, its log kept.</summary>
    private sealed class AgentProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _lines = new();
        private readonly List<(string Text, TaskCompletionSource Seen)> _waiting = [];

        private AgentProcess(Process process) => _process = process;

        public int PublicPort { get; private set; }

        public bool HasExited => _process.HasExited;

        public string Log => string.Join("\n", _lines);

        public static async Task<AgentProcess> StartAsync(TestRelay relay, TcpListener service, IEnumerable<string> arguments,
            IReadOnlyDictionary<string, string>? environment = null)
        {
            var agent = Start(relay, service, arguments, environment);
            try
            {
                var exposing = await agent.WaitForLineAsync("Exposing ", TestRelay.Wait * 3);
                agent.PublicPort = int.Parse(ExposingLine().Match(exposing).Groups[1].Value);
            }
            catch
            {
                await agent.DisposeAsync();
                throw;
            }
            return agent;
        }

        /// <summary>An agent expected to give up on its own: its exit code and log.</summary>
        public static async Task<(int ExitCode, string Log)> RunToExitAsync(TestRelay relay, TcpListener service, IEnumerable<string> arguments)
        {
            await using var agent = Start(relay, service, arguments, null);
            return (await agent.ExitCodeAsync(), agent.Log);
        }

        private static AgentProcess Start(TestRelay relay, TcpListener service, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment)
        {
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { ServeProcess.CliPath(), "agent", "--relay", $"127.0.0.1:{relay.Endpoints.Control.Port}",
                    "--to", $"127.0.0.1:{((IPEndPoint)service.LocalEndpoint).Port}", "--name", "echo" },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            foreach (var argument in arguments)
                start.ArgumentList.Add(argument);
            foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("TCPRELAY_", StringComparison.Ordinal) || k is "STATE_DIRECTORY" or "XDG_STATE_HOME").ToList())
                start.Environment.Remove(key);
            // Never the user's own state directory: a test's token file lives and dies with the test.
            start.Environment["HOME"] = Path.Combine(Path.GetTempPath(), "tcprelay-test-home");
            foreach (var (key, value) in environment ?? new Dictionary<string, string>())
                start.Environment[key] = value;
            var agent = new AgentProcess(Process.Start(start)!);
            agent._process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                    agent.Add(e.Data);
            };
            agent._process.BeginErrorReadLine();
            agent._process.BeginOutputReadLine();
            return agent;
        }

        private void Add(string line)
        {
            lock (_waiting)
            {
                _lines.Enqueue(line);
                foreach (var waiter in _waiting.Where(w => line.Contains(w.Text, StringComparison.Ordinal)).ToList())
                {
                    waiter.Seen.TrySetResult();
                    _waiting.Remove(waiter);
                }
            }
        }

        /// <summary>The first line of the log, written already or to come, that holds <paramref name="text"/>.</summary>
        public async Task<string> WaitForLineAsync(string text, TimeSpan? timeout = null)
        {
            var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_waiting)
            {
                if (!_lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
                    _waiting.Add((text, seen));
                else
                    seen.SetResult();
            }
            try
            {
                await seen.Task.WaitAsync(timeout ?? TestRelay.Wait);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"the agent did not log '{text}'; its log:\n{Log}");
            }
            return _lines.First(l => l.Contains(text, StringComparison.Ordinal));
        }

        public void Signal(string signal)
        {
            using var kill = Process.Start("kill", [$"-{signal}", $"{_process.Id}"]);
            kill.WaitForExit();
        }

        public void Kill()
        {
            _process.Kill();
            _process.WaitForExit();
        }

        public async Task<int> ExitCodeAsync()
        {
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TestRelay.Wait);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"the agent did not exit; its log:\n{Log}");
            }
            return _process.ExitCode;
        }

        public ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
                _process.Kill();
            _process.WaitForExit();
            _process.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
