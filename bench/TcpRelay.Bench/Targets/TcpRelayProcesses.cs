namespace TcpRelay.Bench;

/// <summary>
/// Starting TcpRelay's processes: <c>tcprelay serve</c>, <c>tcprelay agent</c> and the benchmark's own
/// app mode, each a <c>dotnet</c> process of its own. The relay's limits are raised so that the
/// benchmark's load (thousands of sessions from one address) is not refused.
/// </summary>
public static class TcpRelayProcesses
{
    private const string Limits =
        "--max-sessions-per-app 100000 --max-pending-per-app 10000 --max-handshakes-per-address 10000 --max-handshakes 20000";

    public static ChildProcess Serve(TargetContext context, string label, string arguments) =>
        Dotnet(context.TcprelayDll, label, $"serve {arguments} --log-level warning {Limits} --state-dir {Path.Combine(context.LogDirectory, "state")}",
            context.Options.RelayEnvironment);

    public static ChildProcess Agent(TargetContext context, int controlPort, params (int Service, string Name, int PublicPort)[] services) =>
        Agent(context, controlPort, "", services);

    /// <summary>The agent with <paramref name="flags"/> added (TLS: " --tls-pin …").</summary>
    public static ChildProcess Agent(TargetContext context, int controlPort, string flags, params (int Service, string Name, int PublicPort)[] services) =>
        Dotnet(context.TcprelayDll, "tcprelay agent",
            $"agent --relay 127.0.0.1:{controlPort} --log-level warning{flags} " +
            string.Join(" ", services.Select(s => $"--to 127.0.0.1:{s.Service} --name {s.Name} --port {s.PublicPort}")),
            new Dictionary<string, string> { ["STATE_DIRECTORY"] = Path.Combine(context.LogDirectory, "state") });

    /// <summary>The benchmark's own executable in one of its app modes.</summary>
    public static ChildProcess BenchApp(TargetContext context, string label, string arguments) =>
        Dotnet(context.BenchDll ?? throw new InvalidOperationException("the benchmark's own dll was not found"), label, arguments);

    public static async Task WaitForControlPortAsync(ChildProcess relay, int controlPort) =>
        await Ports.WaitUntilAsync(() => Ports.ConnectsAsync(controlPort), relay, "the relay's control port");

    private static ChildProcess Dotnet(string dll, string label, string arguments, IReadOnlyDictionary<string, string>? environment = null) =>
        ChildProcess.Start(label, "dotnet", [dll, .. arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)], environment: environment);
}
