using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TcpRelay.Bench;

/// <summary>
/// The relayed setup: <c>tcprelay serve</c> and <c>tcprelay agent</c> as processes of their own,
/// so the relay's memory and CPU are its own, the agent exposing the echo server and the sink.
/// With <see cref="StartClusterAsync"/>, several relay processes joined in one cluster.
/// </summary>
public sealed class RelayProcesses : IAsyncDisposable
{
    private readonly Process _relay;
    private readonly Process[] _otherNodes;
    private readonly Process _agent;

    private RelayProcesses(Process relay, Process agent, int echoPort, int sinkPort, params Process[] otherNodes)
    {
        _relay = relay;
        _agent = agent;
        _otherNodes = otherNodes;
        EchoPort = echoPort;
        SinkPort = sinkPort;
    }

    /// <summary>The relay's public port for the echo server.</summary>
    public int EchoPort { get; }

    /// <summary>The relay's public port for the sink that never reads.</summary>
    public int SinkPort { get; }

    public int RelayPid => _relay.Id;

    public static async Task<RelayProcesses> StartAsync(string tcprelayDll, LocalServices services, IReadOnlyDictionary<string, string>? relayEnvironment = null)
    {
        var control = LocalServices.FreePort();
        var data = LocalServices.FreePort();
        var first = FreePair();
        var relay = Start(tcprelayDll,
            $"serve --control-port {control} --data-port {data} --public-ports {first}-{first + 1} --log-level warning " +
            "--max-sessions-per-app 100000 --max-pending-per-app 10000 --max-handshakes-per-address 10000 --max-handshakes 20000",
            relayEnvironment);
        await WaitUntilAsync(() => Connects(control), relay, "the relay's control port");
        var agent = Start(tcprelayDll,
            $"agent --relay 127.0.0.1:{control} --log-level warning " +
            $"--to 127.0.0.1:{services.EchoPort} --name bench-echo --port {first} " +
            $"--to 127.0.0.1:{services.SinkPort} --name bench-sink --port {first + 1}");
        await WaitUntilAsync(() => Echoes(first), agent, "the echo server through the relay");
        return new RelayProcesses(relay, agent, first, first + 1);
    }

    /// <summary>
    /// Relay nodes on 127.0.0.1 … 127.0.0.<paramref name="nodes"/> in one cluster, the agent registered
    /// on the first; every node serves the echo server on <see cref="EchoPort"/> of its own address.
    /// </summary>
    public static async Task<RelayProcesses> StartClusterAsync(string tcprelayDll, LocalServices services, int nodes)
    {
        var (control, data, cluster) = (LocalServices.FreePort(), LocalServices.FreePort(), LocalServices.FreePort());
        var first = FreePair();
        var relays = Enumerable.Range(1, nodes).Select(i => Start(tcprelayDll,
            $"serve --bind 127.0.0.{i} --control-port {control} --data-port {data} --public-ports {first}-{first + 1} --log-level warning " +
            $"--cluster-bind 127.0.0.{i}:{cluster} --cluster-seeds 127.0.0.1:{cluster} " +
            "--max-sessions-per-app 100000 --max-pending-per-app 10000")).ToArray();
        await WaitUntilAsync(() => Connects(control), relays[0], "the first node's control port");
        var agent = Start(tcprelayDll,
            $"agent --relay 127.0.0.1:{control} --log-level warning " +
            $"--to 127.0.0.1:{services.EchoPort} --name bench-echo --port {first} " +
            $"--to 127.0.0.1:{services.SinkPort} --name bench-sink --port {first + 1}");
        for (var i = 1; i <= nodes; i++)
        {
            var address = IPAddress.Parse($"127.0.0.{i}");
            await WaitUntilAsync(() => Echoes(first, address), agent, $"the echo server through node {address}");
        }
        return new RelayProcesses(relays[0], agent, first, first + 1, relays[1..]);
    }

    /// <summary>The relay process's resident memory, threads and CPU time, now (in a cluster, every node's CPU).</summary>
    public ProcessSample SampleRelay()
    {
        var sample = Sample(_relay);
        foreach (var node in _otherNodes)
        {
            var other = Sample(node);
            sample = sample with { Cpu = sample.Cpu + other.Cpu, KernelCpu = sample.KernelCpu + other.KernelCpu };
        }
        return sample;
    }

    public ProcessSample SampleAgent() => Sample(_agent);

    private static ProcessSample Sample(Process process)
    {
        process.Refresh();
        return new ProcessSample(process.WorkingSet64, process.Threads.Count, process.TotalProcessorTime, process.PrivilegedProcessorTime);
    }

    private static Process Start(string dll, string arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet", $"\"{dll}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            info.Environment[key] = value;
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start dotnet");
        // A benchmark stopped by SIGTERM (not Ctrl-C, which reaches the whole process group) would
        // otherwise leave its relay and agent running and skew the next run.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillQuietly(process);
        // Warnings and errors only; shown so that a relay problem is not silent.
        process.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) Console.Error.WriteLine($"  [{Path.GetFileNameWithoutExtension(dll)}] {line}"); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) Console.Error.WriteLine($"  [{Path.GetFileNameWithoutExtension(dll)}] {line}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static int FreePair()
    {
        for (var attempt = 0; ; attempt++)
        {
            var first = Random.Shared.Next(20000, 30000);
            if (Free(first) && Free(first + 1))
                return first;
            if (attempt > 100)
                throw new InvalidOperationException("no two free adjacent ports in 20000-30000");
        }
    }

    private static bool Free(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task<bool> Connects(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task<bool> Echoes(int port, IPAddress? address = null)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(address ?? IPAddress.Loopback, port);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.SendAsync(new byte[] { 42 }, timeout.Token);
            var one = new byte[1];
            return await socket.ReceiveAsync(one, timeout.Token) == 1 && one[0] == 42;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> ready, Process process, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!await ready())
        {
            if (process.HasExited)
                throw new InvalidOperationException($"waiting for {what}: the process exited with {process.ExitCode}");
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException($"{what} not ready after 60 s");
            await Task.Delay(100);
        }
    }

    private static void KillQuietly(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or AggregateException)
        {
            // Exited or disposed already, or a child of it could not be killed: nothing more to do at exit.
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _otherNodes.Prepend(_relay).Prepend(_agent))
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
        }
    }
}

/// <summary>A process's resident memory, thread count and CPU time (all, and of it in the kernel) at one moment.</summary>
public readonly record struct ProcessSample(long Rss, int Threads, TimeSpan Cpu, TimeSpan KernelCpu)
{
    /// <summary>The CPU spent from <paramref name="before"/> to this sample, and the share of it in the kernel (percent).</summary>
    public (TimeSpan Cpu, double KernelPercent) Since(ProcessSample before)
    {
        var cpu = Cpu - before.Cpu;
        return (cpu, cpu > TimeSpan.Zero ? 100.0 * (KernelCpu - before.KernelCpu) / cpu : 0);
    }
}
