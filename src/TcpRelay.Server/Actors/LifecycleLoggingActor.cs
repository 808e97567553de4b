using Akka.Actor;
using Akka.Event;

namespace TcpRelay.Server.Actors;

/// <summary>
/// Every relay actor writes one structured line when it starts and one when it stops, with its
/// path, so the actor hierarchy can be followed in the log. Per-connection actors log these at
/// Debug (there are thousands of them); long-lived ones at Info.
/// </summary>
public abstract class LifecycleLoggingActor : ReceiveActor
{
    /// <summary>The actor's Serilog-backed logger.</summary>
    protected ILoggingAdapter Log { get; } = Logging.GetLogger(Context);

    /// <summary>The level of the start and stop lines.</summary>
    protected virtual LogLevel LifecycleLevel => LogLevel.DebugLevel;

    /// <inheritdoc />
    protected override void PreStart() => Log.Log(LifecycleLevel, null, "Actor started {ActorPath}", Self.Path.ToStringWithoutAddress());

    /// <inheritdoc />
    protected override void PostStop() => Log.Log(LifecycleLevel, null, "Actor stopped {ActorPath}", Self.Path.ToStringWithoutAddress());
}

/// <summary>
/// <see cref="LifecycleLoggingActor"/> for the actors created per connection: an untyped actor
/// builds no message matchers for each new instance, and these are created by the thousand.
/// </summary>
public abstract class LifecycleLoggingUntypedActor : UntypedActor
{
    /// <summary>The actor's Serilog-backed logger.</summary>
    protected ILoggingAdapter Log { get; } = Logging.GetLogger(Context);

    /// <summary>The level of the start and stop lines.</summary>
    protected virtual LogLevel LifecycleLevel => LogLevel.DebugLevel;

    /// <inheritdoc />
    protected override void PreStart() => Log.Log(LifecycleLevel, null, "Actor started {ActorPath}", Self.Path.ToStringWithoutAddress());

    /// <inheritdoc />
    protected override void PostStop() => Log.Log(LifecycleLevel, null, "Actor stopped {ActorPath}", Self.Path.ToStringWithoutAddress());
}
