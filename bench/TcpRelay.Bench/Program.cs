// Relay vs direct loopback, and the peer relays beside TcpRelay, in one run: see docs/performance.md.
// The same executable is also the echo apps the benchmark starts as processes of their own.
using TcpRelay.Bench;

return args switch
{
    [TcpRelayEchoApp.Mode, ..] => await TcpRelayEchoApp.RunAsync(args),
    [SeedEchoApp.Mode, ..] => await SeedEchoApp.RunAsync(args),
    _ => await BenchRun.RunAsync(args, Console.Out),
};
