// Relay vs direct loopback in one run: see docs/performance.md.
using TcpRelay.Bench;

return await BenchRun.RunAsync(args, Console.Out);
