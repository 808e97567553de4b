using System.Net;

namespace TcpRelay.Bench;

/// <summary>No relay: clients connect to the echo server itself. What every other target is compared with.</summary>
public sealed class DirectTarget : Target
{
    public const string KeyName = "direct";

    public override string Key => KeyName;

    public override string Title => "direct";

    public override Task<RunningTarget> StartAsync(TargetContext context) =>
        Task.FromResult(new RunningTarget(this, new IPEndPoint(IPAddress.Loopback, context.Services.EchoPort), [], [], context.Services.SinkPort));
}
