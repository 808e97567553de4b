namespace TcpRelay.Cli;

/// <summary>The command line or configuration is wrong: one line to stderr, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
