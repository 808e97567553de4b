using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace TcpRelay.Cli;

/// <summary>The commands' log: Serilog to standard error, one line per event, level from a flag or TCPRELAY_LOG_LEVEL.</summary>
internal static class ConsoleLog
{
    /// <param name="level">The least severe level written.</param>
    /// <param name="json">Serilog's compact JSON, one object per line (for log shippers), instead of text.</param>
    public static ILogger Create(LogEventLevel level, bool json = false)
    {
        var logger = new LoggerConfiguration().MinimumLevel.Is(level).Filter.ByExcluding(e => IsAkkaIoChatter(e) || IsRemotingChatter(e));
        return (json
                ? logger.WriteTo.Console(new CompactJsonFormatter(), standardErrorFromLevel: LogEventLevel.Verbose)
                : logger.WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}",
                    standardErrorFromLevel: LogEventLevel.Verbose))
            .CreateLogger();
    }

    /// <summary>
    /// Akka.IO's own lines about binding: "Binding TCP channel …" for every port at Info, "Bind
    /// failed …" at Error when the relay tries a public port another process holds, which it then
    /// skips and logs itself, and "Bind commander died, stopping listener" at Warning for each port
    /// whose actor stops before its listener, which every clean stop does (the actor system stops
    /// /user before /system). The relay's own lines say what an operator needs: a bind of the control
    /// or data port that fails ends start-up with its own message, an actor that fails is logged by
    /// its supervisor.
    /// </summary>
    internal static bool IsAkkaIoChatter(LogEvent e) =>
        e.Properties.TryGetValue("LogSource", out var source)
        && source.ToString().Contains("/system/IO-TCP", StringComparison.Ordinal)
        && (e.Level <= LogEventLevel.Information
            || e.MessageTemplate.Text.StartsWith("Bind failed", StringComparison.Ordinal)
            || e.MessageTemplate.Text.StartsWith("Bind commander died", StringComparison.Ordinal));

    /// <summary>
    /// A clustered relay's remoting repeats itself at Info once a second while a lost node is away
    /// ("Quarantined address … is still unreachable", "Removing receive buffers …"); its warnings, and
    /// the cluster's own lines on reachability and downing, stay.
    /// </summary>
    internal static bool IsRemotingChatter(LogEvent e) =>
        e.Level <= LogEventLevel.Information
        && (e.MessageTemplate.Text.StartsWith("Quarantined address", StringComparison.Ordinal)
            || e.MessageTemplate.Text.StartsWith("Removing receive buffers", StringComparison.Ordinal));

    public static LogEventLevel ParseLevel(string? text, string source = "--log-level") =>
        (text ?? Environment.GetEnvironmentVariable("TCPRELAY_LOG_LEVEL") ?? "info").ToLowerInvariant() switch
        {
            "debug" => LogEventLevel.Debug,
            "info" or "information" => LogEventLevel.Information,
            "warning" or "warn" => LogEventLevel.Warning,
            "error" => LogEventLevel.Error,
            var other => throw new UsageException($"{source}: '{other}' is not one of debug, info, warning, error"),
        };

    /// <summary>Whether the log is JSON: "json", or "text" (the default).</summary>
    public static bool ParseFormat(string text) => text.ToLowerInvariant() switch
    {
        "text" => false,
        "json" => true,
        var other => throw new UsageException($"log-format: '{other}' is not text or json"),
    };
}
