namespace TcpRelay.Client;

/// <summary>
/// Exponential backoff with jitter: attempt n waits between half and all of min·2ⁿ, capped at max.
/// The jitter keeps many agents that lost the same relay from coming back in lockstep.
/// Once the relay has said it is stopping (<see cref="RelayStopping"/>), the waits are short and
/// steady for <see cref="RestartWindow"/> instead: see there why.
/// </summary>
internal sealed class ReconnectBackoff(TimeSpan min, TimeSpan max, Random? random = null, TimeProvider? time = null)
{
    /// <summary>
    /// After ERROR shutdown the relay is draining and probably restarting: it answers ERROR shutdown
    /// while it drains, then nothing listens until the new process does. A short steady interval for
    /// this long brings the app back within about half a second of the new relay listening, where
    /// growing backoff took up to 28s; a minute covers a drain at its default deadline (30s) and a
    /// restart. Past it the relay is not coming back soon, and the usual backoff spares it.
    /// </summary>
    public static readonly TimeSpan RestartWindow = TimeSpan.FromSeconds(60);

    /// <summary>The steady interval's bounds; the wait is drawn between them, so that a restarted relay's apps do not return in one instant.</summary>
    public static readonly TimeSpan RestartRetryMin = TimeSpan.FromMilliseconds(250);

    /// <inheritdoc cref="RestartRetryMin"/>
    public static readonly TimeSpan RestartRetryMax = TimeSpan.FromMilliseconds(500);

    private readonly Random _random = random ?? Random.Shared;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private int _attempt;
    private long? _stoppingSince;

    /// <summary>
    /// The relay said ERROR shutdown: the waits are steady from now until <see cref="RestartWindow"/>
    /// has passed. Returns false, and changes nothing, when a window has already begun since the
    /// last <see cref="Reset"/>: a relay that goes on saying it is stopping does not prolong it, so
    /// one that never finishes its drain is not asked 2-4 times a second for ever.
    /// </summary>
    public bool RelayStopping()
    {
        if (_stoppingSince is not null)
            return false;
        _stoppingSince = _time.GetTimestamp();
        return true;
    }

    /// <summary>Whether the next wait is the short steady one (a restart window is open).</summary>
    public bool Steady => _stoppingSince is { } since && _time.GetElapsedTime(since) < RestartWindow;

    /// <summary>Whether a restart window was opened since the last <see cref="Reset"/> (open or over).</summary>
    public bool InRestartBurst => _stoppingSince is not null;

    /// <summary>How long ago the restart window opened; zero when none did.</summary>
    public TimeSpan SinceStopping => _stoppingSince is { } since ? _time.GetElapsedTime(since) : TimeSpan.Zero;

    /// <summary>The wait before the next attempt.</summary>
    public TimeSpan Next()
    {
        if (Steady)
            return TimeSpan.FromMilliseconds(_random.Next((int)RestartRetryMin.TotalMilliseconds, (int)RestartRetryMax.TotalMilliseconds + 1));
        var ceiling = Math.Min(max.TotalMilliseconds, min.TotalMilliseconds * Math.Pow(2, Math.Min(_attempt++, 30)));
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + (_random.NextDouble() / 2)));
    }

    /// <summary>Starts over after a success: growing waits from the minimum, and no restart window.</summary>
    public void Reset()
    {
        _attempt = 0;
        _stoppingSince = null;
    }
}
