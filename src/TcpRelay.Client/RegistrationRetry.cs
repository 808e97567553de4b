using Microsoft.Extensions.Logging;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// Registering again until it works: the wait before each attempt (<see cref="ReconnectBackoff"/>),
/// and the log of the failures. While a relay restarts, its refusals come 2-4 times a second for
/// seconds on end; they cost one line when the relay says it is stopping and one when it is back
/// or the short steady interval gives up, the attempts between them only at debug. Attempts with
/// growing backoff are rare enough to be logged each.
/// </summary>
internal sealed class RegistrationRetry(ReconnectBackoff backoff, ILogger logger, string app)
{
    // Failures logged at debug only, to be summed up in the burst's last line.
    private int _quiet;

    /// <summary>How many attempts failed since the last success.</summary>
    public int Failures { get; private set; }

    /// <summary>The control connection was lost for <paramref name="why"/>; returns the wait before the first attempt.</summary>
    public TimeSpan Lost(string relay, RelayRegistrationException why)
    {
        if (why.Code == ErrorCode.Shutdown && backoff.RelayStopping())
            LogStopping(relay, why);
        else
            logger.LogWarning("Lost the control connection to relay {Relay}: {Reason}; registering {App} again", relay, why.Message, app);
        return backoff.Next();
    }

    /// <summary>An attempt failed (not for good); returns the wait before the next.</summary>
    public TimeSpan Failed(string relay, RelayRegistrationException why)
    {
        Failures++;
        if (why.Code == ErrorCode.Shutdown && backoff.RelayStopping())
        {
            LogStopping(relay, why);
            return backoff.Next();
        }
        if (backoff.Steady)
        {
            _quiet++;
            logger.LogDebug("Registering {App} again with relay {Relay} failed (attempt {Attempt}): {Reason}", app, relay, Failures, why.Message);
            return backoff.Next();
        }
        if (_quiet > 0)
        {
            logger.LogWarning("Relay {Relay} is not back: {Attempts} attempts to register {App} failed over {Seconds:0}s; trying on with growing backoff",
                relay, _quiet, app, backoff.SinceStopping.TotalSeconds);
            _quiet = 0;
        }
        var delay = backoff.Next();
        logger.LogWarning("Registering {App} with relay {Relay} failed (attempt {Attempt}): {Reason}; trying again in {Delay:0.0}s",
            app, relay, Failures, why.Message, delay.TotalSeconds);
        return delay;
    }

    /// <summary>Registered: the text to add to the caller's line (how long it took, what failed meanwhile), and a fresh start.</summary>
    public string Succeeded()
    {
        var note = backoff.InRestartBurst
            ? $"{backoff.SinceStopping.TotalSeconds:0.0}s after the relay said it was stopping, {Failures} attempts failed meanwhile"
            : $"{Failures} attempts failed before";
        backoff.Reset();
        (Failures, _quiet) = (0, 0);
        return note;
    }

    /// <summary>Retrying stopped (the listener or agent is closing) in the middle of a quiet burst: its line, so that the burst is not left unaccounted.</summary>
    public void GaveUp(string relay)
    {
        if (_quiet > 0)
            logger.LogInformation("Stopped registering {App} with relay {Relay}: {Attempts} attempts failed over {Seconds:0}s",
                app, relay, _quiet, backoff.SinceStopping.TotalSeconds);
        _quiet = 0;
    }

    private void LogStopping(string relay, RelayRegistrationException why) =>
        logger.LogWarning("Relay {Relay} is stopping ({Reason}): registering {App} again every {Min}-{Max}ms for up to {Window}s, as it may be restarting",
            relay, why.Message, app, ReconnectBackoff.RestartRetryMin.TotalMilliseconds, ReconnectBackoff.RestartRetryMax.TotalMilliseconds,
            ReconnectBackoff.RestartWindow.TotalSeconds);
}
