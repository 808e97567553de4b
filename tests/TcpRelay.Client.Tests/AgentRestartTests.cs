using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using TcpRelay.Client;

namespace TcpRelay.Client.Tests;

/// <summary>
/// The agent while its relay restarts (issue 15, part 2), against a relay the test plays itself, so
/// that it decides exactly when the relay says ERROR shutdown, refuses connections, and listens again.
/// The agent's normal backoff is set to minutes: only the short steady retry after ERROR shutdown can
/// bring it back within the tests' waits, and nothing is timed.
/// </summary>
public sealed class AgentRestartTests
{
    // These agents expose a port nothing listens on (only their registration matters): warned about at start.
    private const string NoService = "does not accept connections now";

    private static RelayListenerOptions SlowBackoff(int controlPort) => new()
    {
        RelayHost = "127.0.0.1",
        ControlPort = controlPort,
        ReconnectDelayMin = TimeSpan.FromMinutes(2),
        ReconnectDelayMax = TimeSpan.FromMinutes(4),
    };

    // Never dialled: the fake relay announces no client.
    private static readonly ExposedService Service = new("127.0.0.1", 9, "ssh");

    [Fact]
    public async Task An_agent_told_shutdown_is_back_soon_after_the_relay_listens_again_with_one_line_for_the_refusals()
    {
        await using var relay = FakeRelay.Start();
        var log = new CapturedLog();
        await using var agent = new RelayAgent(SlowBackoff(relay.Port), [Service], log);
        await agent.StartAsync();
        var control = await relay.Registrations.ReadAsync().AsTask().WaitAsync(TestRelay.Wait);

        // The relay drains: it stops listening, says why, and hangs up; then its port refuses.
        relay.StopListening();
        await control.SendAsync("ERROR shutdown the relay is stopping\n"u8.ToArray());
        control.Dispose();
        await log.WaitForAsync(e => e.Level == LogLevel.Debug && e.Text.Contains("failed (attempt 2)"));

        // The new relay listens on the same port.
        relay.ListenAgain();
        using var back = await relay.Registrations.ReadAsync().AsTask().WaitAsync(TestRelay.Wait);
        var again = await log.WaitForAsync(e => e.Text.StartsWith("Registered again", StringComparison.Ordinal));
        Assert.Contains("after the relay said it was stopping", again.Text);

        // The burst cost one warning (the relay is stopping), the refused attempts only debug lines.
        var warnings = log.Entries.Where(e => e.Level >= LogLevel.Warning && !e.Text.Contains(NoService)).ToList();
        Assert.Contains("is stopping", Assert.Single(warnings).Text);
        Assert.True(log.Entries.Count(e => e.Level == LogLevel.Debug && e.Text.Contains("failed (attempt")) >= 2);
    }

    [Fact]
    public async Task An_agent_started_while_its_relay_drains_registers_as_soon_as_the_relay_takes_it()
    {
        // Two REGISTERs answered ERROR shutdown, as a draining relay does, then taken.
        await using var relay = FakeRelay.Start(refuseFirst: 2);
        var log = new CapturedLog();
        await using var agent = new RelayAgent(SlowBackoff(relay.Port), [Service], log);
        await agent.StartAsync().WaitAsync(TestRelay.Wait);
        using var control = await relay.Registrations.ReadAsync().AsTask().WaitAsync(TestRelay.Wait);

        Assert.Equal(3, relay.Connections);
        Assert.Contains("is stopping", Assert.Single(log.Entries, e => e.Level >= LogLevel.Warning && !e.Text.Contains(NoService)).Text);
        Assert.Contains(log.Entries, e => e.Text.StartsWith("Registered 127.0.0.1:9", StringComparison.Ordinal) && e.Text.Contains("2 attempts failed"));
    }

    /// <summary>
    /// The relay's side of the control protocol and no more: HELLO, then REGISTERED for every
    /// REGISTER (or ERROR shutdown for the first few), each registered connection handed to the test.
    /// </summary>
    private sealed class FakeRelay : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Channel<Socket> _registrations = Channel.CreateUnbounded<Socket>();
        private readonly int _refuseFirst;
        private TcpListener _listener;
        private int _connections;

        private FakeRelay(int refuseFirst)
        {
            _refuseFirst = refuseFirst;
            _listener = Listen(0);
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = AcceptAsync(_listener);
        }

        public static FakeRelay Start(int refuseFirst = 0) => new(refuseFirst);

        public int Port { get; }

        /// <summary>Control connections accepted so far.</summary>
        public int Connections => Volatile.Read(ref _connections);

        /// <summary>Each control connection once it is registered; the test may speak on it.</summary>
        public ChannelReader<Socket> Registrations => _registrations.Reader;

        /// <summary>Nothing listens on the port any more: connections to it are refused.</summary>
        public void StopListening() => _listener.Stop();

        /// <summary>Listens on the same port again, as the restarted relay does.</summary>
        public void ListenAgain()
        {
            _listener = Listen(Port);
            _ = AcceptAsync(_listener);
        }

        private static TcpListener Listen(int port)
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            // The closed connections of the first run may hold the port in TIME_WAIT.
            listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Start();
            return listener;
        }

        private async Task AcceptAsync(TcpListener listener)
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                    return;
                }
                _ = ServeAsync(socket, Interlocked.Increment(ref _connections));
            }
        }

        private async Task ServeAsync(Socket socket, int number)
        {
            try
            {
                await socket.SendAsync(Encoding.ASCII.GetBytes($"HELLO tcprelay/1 nonce={Guid.NewGuid():N}\n"));
                var line = await ReadLineAsync(socket);
                if (!line.StartsWith("REGISTER", StringComparison.Ordinal))
                {
                    socket.Dispose();
                    return;
                }
                if (number <= _refuseFirst)
                {
                    await socket.SendAsync("ERROR shutdown the relay is stopping\n"u8.ToArray());
                    socket.Dispose();
                    return;
                }
                await socket.SendAsync(Encoding.ASCII.GetBytes($"REGISTERED name=ssh port=40000 data={Port}\n"));
                _registrations.Writer.TryWrite(socket);
            }
            catch (SocketException)
            {
                socket.Dispose();
            }
        }

        private static async Task<string> ReadLineAsync(Socket socket)
        {
            var line = new List<byte>();
            var one = new byte[1];
            while (await socket.ReceiveAsync(one) == 1 && one[0] != '\n')
                line.Add(one[0]);
            return Encoding.ASCII.GetString(line.ToArray());
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            _registrations.Writer.TryComplete();
            while (_registrations.Reader.TryRead(out var socket))
                socket.Dispose();
            _stop.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Log lines of the code under test, kept to be asserted on and waited for (never slept for).</summary>
internal sealed class CapturedLog : ILoggerFactory, ILoggerProvider
{
    public sealed record Entry(LogLevel Level, string Category, string Text);

    private readonly ConcurrentQueue<Entry> _entries = new();
    private readonly List<(Func<Entry, bool> Match, TaskCompletionSource<Entry> Seen)> _waiting = [];

    public IReadOnlyList<Entry> Entries => _entries.ToList();

    /// <summary>The first line, logged already or to come, that <paramref name="match"/> accepts.</summary>
    public Task<Entry> WaitForAsync(Func<Entry, bool> match, TimeSpan? timeout = null)
    {
        var seen = new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waiting)
        {
            if (_entries.FirstOrDefault(match) is { } already)
                return Task.FromResult(already);
            _waiting.Add((match, seen));
        }
        return WaitAsync();

        async Task<Entry> WaitAsync()
        {
            try
            {
                return await seen.Task.WaitAsync(timeout ?? TestRelay.Wait);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"no such log line; the log:\n{string.Join("\n", Entries.Select(e => $"{e.Level} {e.Text}"))}");
            }
        }
    }

    private void Add(Entry entry)
    {
        lock (_waiting)
        {
            _entries.Enqueue(entry);
            foreach (var waiter in _waiting.Where(w => w.Match(entry)).ToList())
            {
                waiter.Seen.TrySetResult(entry);
                _waiting.Remove(waiter);
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class Logger(CapturedLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            log.Add(new Entry(logLevel, category, formatter(state, exception)));
    }
}

/// <summary>The backoff's restart window, on a clock the test turns.</summary>
public sealed class ReconnectBackoffTests
{
    private sealed class ManualClock : TimeProvider
    {
        public long Ticks { get; set; }
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(TimeSpan by) => Ticks += by.Ticks;
    }

    [Fact]
    public void After_shutdown_the_waits_are_short_and_steady_for_the_window_then_grow_again_and_one_burst_opens_one_window()
    {
        var clock = new ManualClock();
        var backoff = new ReconnectBackoff(TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(1), new Random(1), clock);
        Assert.True(backoff.RelayStopping());
        for (var i = 0; i < 50; i++)
        {
            var wait = backoff.Next();
            Assert.InRange(wait, ReconnectBackoff.RestartRetryMin, ReconnectBackoff.RestartRetryMax);
            clock.Advance(ReconnectBackoff.RestartRetryMax);
        }
        clock.Advance(ReconnectBackoff.RestartWindow);
        // A relay that still says it is stopping does not keep the window open.
        Assert.False(backoff.RelayStopping());
        Assert.False(backoff.Steady);
        Assert.InRange(backoff.Next(), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        Assert.InRange(backoff.Next(), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4));

        // Registered again: the next loss starts afresh, window and all.
        backoff.Reset();
        Assert.True(backoff.RelayStopping());
        Assert.True(backoff.Steady);
    }
}
