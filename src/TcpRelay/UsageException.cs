namespace TcpRelay.Cli;

/// <summary>The command line or configuration is wrong: one line to stderr, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message)
{
    /// <summary>A client library option refused (its message names the option), without .NET's "(Parameter …)" tail.</summary>
    public static UsageException From(ArgumentException e) =>
        new(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal));
}
