using Serilog;
using Serilog.Events;

namespace TcpRelay.Cli;

/// <summary>The commands' log: Serilog to standard error, one line per event, level from a flag or TCPRELAY_LOG_LEVEL.</summary>
internal static class ConsoleLog
{
    public static ILogger Create(LogEventLevel level) =>
        new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: LogEventLevel.Verbose)
            .CreateLogger();

    public static LogEventLevel ParseLevel(string? flag) =>
        (flag ?? Environment.GetEnvironmentVariable("TCPRELAY_LOG_LEVEL") ?? "info").ToLowerInvariant() switch
        {
            "debug" => LogEventLevel.Debug,
            "info" or "information" => LogEventLevel.Information,
            "warning" or "warn" => LogEventLevel.Warning,
            "error" => LogEventLevel.Error,
            var other => throw new UsageException($"--log-level: '{other}' is not one of debug, info, warning, error"),
        };
}
