namespace TcpRelay.Client;

/// <summary>
/// Exponential backoff with jitter: attempt n waits between half and all of min·2ⁿ, capped at max.
/// The jitter keeps many agents that lost the same relay from coming back in lockstep.
/// </summary>
internal sealed class ReconnectBackoff(TimeSpan min, TimeSpan max, Random? random = null)
{
    private readonly Random _random = random ?? Random.Shared;
    private int _attempt;

    /// <summary>The wait before the next attempt.</summary>
    public TimeSpan Next()
    {
        var ceiling = Math.Min(max.TotalMilliseconds, min.TotalMilliseconds * Math.Pow(2, Math.Min(_attempt++, 30)));
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + (_random.NextDouble() / 2)));
    }

    /// <summary>Starts over after a success.</summary>
    public void Reset() => _attempt = 0;
}
