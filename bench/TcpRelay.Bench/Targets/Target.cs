namespace TcpRelay.Bench;

/// <summary>
/// Something the benchmark measures in front of the echo service: no relay at all, TcpRelay with
/// the agent or a native app, a peer relay. Each knows how to start itself; the scenarios only see
/// the <see cref="RunningTarget"/> it returns.
/// </summary>
public abstract class Target
{
    /// <summary>How <c>--targets</c> names it.</summary>
    public abstract string Key { get; }

    /// <summary>Its column in the table.</summary>
    public abstract string Title { get; }

    /// <summary>
    /// A client's half-close reaches the service and the service's comes back (EOF after the echo).
    /// Where not, the throughput scenario's clients do not half-close: a stream ends once every byte
    /// is back, without an EOF that would never come, or cutting the session short.
    /// </summary>
    public virtual bool PassesHalfClose => true;

    /// <summary>The echo runs in the app process (the app is the service), not in the benchmark's echo server.</summary>
    public virtual bool EchoesInApp => false;

    /// <summary>Why it cannot run here (a peer not built, a port taken), or null.</summary>
    public virtual string? Unavailable(TargetContext context) => null;

    /// <summary>Starts its processes and returns once a byte goes through it and back.</summary>
    public abstract Task<RunningTarget> StartAsync(TargetContext context);

    public override string ToString() => Title;
}
