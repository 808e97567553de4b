using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using TcpRelay.Server.Actors;

namespace TcpRelay.Server.Hosting;

/// <summary>Wires the relay into an Akka.Hosting actor system (a worker service, an ASP.NET app, a test).</summary>
public static class TcpRelayHostingExtensions
{
    /// <summary>
    /// Starts the relay as <c>/user/relay</c> with <paramref name="settings"/>, and adds the relay's
    /// Akka settings (IO buffers, log levels) from <paramref name="akkaConfig"/>, by default
    /// hocon/relay.hocon, behind any HOCON the host adds itself. The relay's actor is registered in
    /// the ActorRegistry under <see cref="RelayActor"/>: take <c>IRequiredActor&lt;RelayActor&gt;</c>.
    /// </summary>
    public static AkkaConfigurationBuilder AddTcpRelay(this AkkaConfigurationBuilder builder, RelaySettings settings, Config? akkaConfig = null)
    {
        builder.AddHocon(akkaConfig ?? RelayConfiguration.LoadDefaults(), HoconAddMode.Append);
        // The drain runs inside this phase, so the phase must outlast the drain timeout.
        var phaseTimeout = (long)(settings.DrainTimeout + DrainMargin).TotalMilliseconds;
        builder.AddHocon($"akka.coordinated-shutdown.phases.service-requests-done.timeout = {phaseTimeout}ms", HoconAddMode.Prepend);
        return builder.WithActors((system, registry) =>
        {
            var relay = system.ActorOf(RelayActor.CreateProps(settings), "relay");
            registry.Register<RelayActor>(relay);
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "tcprelay-drain", async () =>
            {
                try
                {
                    await relay.Ask<RelayActor.Drained>(RelayActor.Drain.Instance, settings.DrainTimeout + DrainMargin);
                }
                catch (AskTimeoutException)
                {
                    // The relay is stuck; the actor system's own shutdown ends every connection anyway.
                }
                return Done.Instance;
            });
        });
    }

    /// <summary>How long past the drain timeout shutdown waits for the resets to be confirmed.</summary>
    public static readonly TimeSpan DrainMargin = TimeSpan.FromSeconds(10);

    /// <summary>Waits until the relay listens on its control and data ports.</summary>
    /// <exception cref="RelayBindException">A port could not be bound.</exception>
    public static async Task<RelayEndpoints> WaitForEndpointsAsync(this IActorRef relay, TimeSpan timeout)
    {
        try
        {
            return await relay.Ask<RelayEndpoints>(RelayActor.GetEndpoints.Instance, timeout);
        }
        catch (Exception e) when (e is not RelayBindException && e.InnerException is RelayBindException inner)
        {
            throw inner;
        }
    }
}
