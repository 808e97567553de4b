using Akka.Actor;
using TcpRelay.Server.Actors;

namespace TcpRelay.Server;

/// <summary>
/// A relay started in an actor system (see <c>AddTcpRelay</c>): where it listens, and what a host
/// may ask of it while it runs. Stopping it is the actor system's CoordinatedShutdown, which drains.
/// </summary>
public sealed class RunningRelay
{
    private readonly IActorRef _relay;

    internal RunningRelay(IActorRef relay) => _relay = relay;

    /// <summary>Waits until the relay listens on its control and data ports.</summary>
    /// <exception cref="RelayBindException">A port could not be bound.</exception>
    public async Task<RelayEndpoints> WaitForEndpointsAsync(TimeSpan timeout)
    {
        try
        {
            return await _relay.Ask<RelayEndpoints>(RelayActor.GetEndpoints.Instance, timeout);
        }
        catch (Exception e) when (e is not RelayBindException && e.InnerException is RelayBindException inner)
        {
            throw inner;
        }
    }

    /// <summary>During a drain: resets every session left now instead of at the drain deadline (a second stop signal).</summary>
    public void ResetSessionsNow() => _relay.Tell(RelayActor.AbortDrain.Instance);

    /// <summary>Writes the whole actor tree to the log at Info (the CLI does on SIGHUP).</summary>
    public void LogActorTree() => _relay.Tell(RelayActor.LogActorTree.Instance);
}
