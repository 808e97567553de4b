namespace TcpRelay.Bench;

/// <summary>What the targets need to start: the programs, where the service is, the run's options.</summary>
public sealed record TargetContext(
    string TcprelayDll,
    string? BenchDll,
    string PeersDirectory,
    LocalServices Services,
    BenchOptions Options,
    string LogDirectory)
{
    public string Peer(string name) => Path.Combine(PeersDirectory, name);

    public string LogFile(string name) => Path.Combine(LogDirectory, name + ".log");
}
