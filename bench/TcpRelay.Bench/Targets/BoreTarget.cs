using System.Net;

namespace TcpRelay.Bench;

/// <summary>
/// bore (peers/bore, Rust): <c>bore server</c> with one public port, and <c>bore local</c> exposing
/// the benchmark's echo server. Its control port is 7835, fixed, so only one runs at a time. The
/// counterpart of TcpRelay + agent. Both log every connection: to a file, not the benchmark's pipe.
/// </summary>
public sealed class BoreTarget : Target
{
    public const string KeyName = "bore";
    private const int ControlPort = 7835;

    public override string Key => KeyName;

    public override string Title => "bore";

    // Its proxy is a select over the two directions' copies: the session ends, both ways, as soon as
    // one direction has (a client's half-close cuts the echo still on its way back).
    public override bool PassesHalfClose => false;

    public override string? Unavailable(TargetContext context) =>
        !File.Exists(context.Peer("bore")) ? $"{context.Peer("bore")} not found (bash /work/shared/peers/build.sh {context.PeersDirectory})"
        : Ports.Listening(ControlPort) ? $"its control port {ControlPort} is taken (bore cannot move it)"
        : null;

    public override async Task<RunningTarget> StartAsync(TargetContext context)
    {
        var port = Ports.FreePair();
        var server = ChildProcess.Start("bore server", context.Peer("bore"),
            ["server", "--min-port", $"{port}", "--max-port", $"{port}"], context.LogFile("bore-server"));
        await Ports.WaitUntilAsync(() => Ports.ConnectsAsync(ControlPort), server, "bore's control port");
        var local = ChildProcess.Start("bore local", context.Peer("bore"),
            ["local", $"{context.Services.EchoPort}", "--local-host", "127.0.0.1", "--to", "127.0.0.1", "--port", $"{port}"],
            context.LogFile("bore-local"));
        var echo = new IPEndPoint(IPAddress.Loopback, port);
        await Ports.WaitUntilAsync(() => Ports.EchoesAsync(echo), local, "the echo server through bore");
        return new RunningTarget(this, echo, [server], [local]);
    }
}
