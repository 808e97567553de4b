using System.Diagnostics;
using System.Net;

namespace TcpRelay.Bench;

/// <summary>
/// <c>tcprelay serve</c> and <c>tcprelay agent</c>, the agent exposing the benchmark's echo server
/// and its sink (the stalled-reader scenario). The counterpart of bore. With <paramref name="tls"/>
/// the relay's control and data ports speak TLS (a pair from <c>tcprelay cert</c>, the agent
/// trusting its pin): the same column beside plain TCP, for what TLS costs.
/// </summary>
public sealed class TcpRelayAgentTarget(bool tls = false) : Target
{
    public const string KeyName = "agent";
    public const string TlsKeyName = "agent-tls";

    public override string Key => tls ? TlsKeyName : KeyName;

    public override string Title => tls ? "TcpRelay + agent, TLS" : "TcpRelay + agent";

    public override async Task<RunningTarget> StartAsync(TargetContext context)
    {
        var (ports, first) = (Ports.Any(2), Ports.FreePair());
        var (control, data) = (ports[0], ports[1]);
        var (serveTls, agentTls) = tls ? await CertificateAsync(context) : ("", "");
        var relay = TcpRelayProcesses.Serve(context, "tcprelay serve", $"--control-port {control} --data-port {data} --public-ports {first}-{first + 1}{serveTls}");
        await TcpRelayProcesses.WaitForControlPortAsync(relay, control);
        var agent = TcpRelayProcesses.Agent(context, control, agentTls,
            (context.Services.EchoPort, "bench-echo", first), (context.Services.SinkPort, "bench-sink", first + 1));
        var echo = new IPEndPoint(IPAddress.Loopback, first);
        await Ports.WaitUntilAsync(() => Ports.EchoesAsync(echo), agent, "the echo server through the relay");
        // The agent registers its services one after the other: the sink's port may not listen yet.
        await Ports.WaitUntilAsync(() => Ports.ConnectsAsync(first + 1), agent, "the sink's public port");
        return new RunningTarget(this, echo, [relay], [agent], first + 1);
    }

    /// <summary>A new pair from <c>tcprelay cert</c> (as a user makes one): serve's flags and the agent's.</summary>
    private static async Task<(string Serve, string Agent)> CertificateAsync(TargetContext context)
    {
        var directory = Path.Combine(context.LogDirectory, $"tls-{Guid.NewGuid():N}");
        using var cert = Process.Start(new ProcessStartInfo("dotnet", [context.TcprelayDll, "cert", "--host", "127.0.0.1", "--out", directory])
        {
            RedirectStandardOutput = true,
        })!;
        var printed = await cert.StandardOutput.ReadToEndAsync();
        await cert.WaitForExitAsync();
        if (cert.ExitCode != 0)
            throw new InvalidOperationException($"tcprelay cert failed ({cert.ExitCode}): {printed}");
        var pin = printed.TrimEnd().Split('\n')[^1];
        return ($" --tls-cert {Path.Combine(directory, "relay.crt")} --tls-key {Path.Combine(directory, "relay.key")}", $" --tls-pin {pin}");
    }
}
