using Akka.Actor;

namespace TcpRelay.Server.Telemetry;

/// <summary>
/// What a relay shows of itself: the live <see cref="Status"/> board and the <see cref="Metrics"/>.
/// One per actor system (an Akka extension), so every actor reaches it without it being passed
/// through Props, and two relays in one process (tests) keep separate boards and meters. (An
/// exporter that picks meters by name, as the admin endpoint's does, sees every relay's.)
/// </summary>
public sealed class RelayTelemetry : IExtension
{
    private RelayTelemetry(ExtendedActorSystem system)
    {
        // A relay that is one node of a cluster has a remote address; a single relay's is local only.
        var address = system.Provider.DefaultAddress;
        Status.Node = address.HasGlobalScope ? address.ToString() : null;
        Metrics = new RelayMetrics(Status, Status.Node);
        system.WhenTerminated.ContinueWith(_ => Metrics.Dispose(), TaskScheduler.Default);
    }

    /// <summary>Apps and sessions as they are now, written by their actors and read by the admin endpoint.</summary>
    public RelayStatus Status { get; } = new();

    /// <summary>The relay's instruments on the <c>TcpRelay</c> meter.</summary>
    public RelayMetrics Metrics { get; }

    /// <summary>The relay telemetry of <paramref name="system"/>.</summary>
    public static RelayTelemetry Get(ActorSystem system) => system.WithExtension<RelayTelemetry, Provider>();

    private sealed class Provider : ExtensionIdProvider<RelayTelemetry>
    {
        public override RelayTelemetry CreateExtension(ExtendedActorSystem system) => new(system);
    }
}
