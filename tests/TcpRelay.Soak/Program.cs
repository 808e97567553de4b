// Soak run: an in-process relay, a few echo apps on the client library, and clients opening and
// closing sessions as fast as they can for minutes (echoes verified byte for byte, resets mid-transfer,
// clients that leave before they are paired). Every interval it prints the live actor count and the
// memory; at the end it checks that the actor count is back to its baseline and that memory stopped
// growing. Not part of `dotnet test`:
//   dotnet run -c Release --project tests/TcpRelay.Soak -- [--minutes 5] [--concurrency 64] [--apps 4] [--hold 1000]
using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TcpRelay.Client;
using TcpRelay.Server;
using TcpRelay.Server.Telemetry;
using TcpRelay.Server.Hosting;
using TcpRelay.Soak;
using TcpRelay.TestSupport;

SoakOptions options;
try
{
    options = SoakOptions.Parse(args);
}
catch (FormatException e)
{
    Console.Error.WriteLine($"soak: {e.Message}\nusage: TcpRelay.Soak [--minutes 5] [--concurrency 64] [--apps 4] [--hold 1000] [--report-every 30s]");
    return 2;
}

var first = Random.Shared.Next(20000, 31000);
var settings = new RelaySettings
{
    Bind = IPAddress.Loopback,
    ControlPort = 0,
    DataPort = 0,
    PublicPorts = new PublicPortRange(first, first + 99),
};
var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
builder.Services.AddAkka("relay-soak", akka =>
{
    akka.ConfigureLoggers(setup => setup.LogLevel = Akka.Event.LogLevel.WarningLevel);
    akka.AddTcpRelay(settings);
});
using var host = builder.Build();
await host.StartAsync();
var system = host.Services.GetRequiredService<ActorSystem>();
var endpoints = await host.Services.GetTcpRelay().WaitForEndpointsAsync(TimeSpan.FromSeconds(30));

var apps = new List<RelayListener>();
for (var i = 0; i < options.Apps; i++)
{
    var app = new RelayListener(new RelayListenerOptions
    {
        RelayHost = "127.0.0.1",
        ControlPort = endpoints.Control.Port,
        Name = $"soak-{i}",
    });
    await app.StartAsync();
    _ = EchoApp.ServeAsync(app);
    apps.Add(app);
}

var ports = apps.Select(a => a.PublicPort).ToArray();
var idleActors = ActorTree.Count(system);
// Held sessions stay open through the whole run, idle, and must still echo at the end.
var held = await SoakClient.HoldAsync(ports, options.Hold);
var baselineActors = ActorTree.Count(system);
var baselineHeap = Memory.HeapAfterFullGc();
Console.WriteLine($"relay: control {endpoints.Control.Port}, data {endpoints.Data.Port}; {options.Apps} apps; " +
                  $"{options.Concurrency} clients for {options.Duration.TotalMinutes:0.#} min; {held.Count} sessions held");
Console.WriteLine($"baseline: {baselineActors} actors ({idleActors} with no session), heap {Memory.MiB(baselineHeap)}, RSS {Memory.MiB(Memory.Rss())}");
Console.WriteLine();
Console.WriteLine($"{"elapsed",8} {"sessions",9} {"per s",7} {"echoed",9} {"reset",8} {"left",8} {"failed",6} {"actors",7} {"heap",9} {"RSS",9}");

var tally = new Tally();
var clock = Stopwatch.StartNew();
var heapSamples = new List<long>();
var lastSessions = 0L;
var lastReport = TimeSpan.Zero;

// A warm-up fifth of the run fills the pools (Akka.IO buffers, sockets, thread pool) that a process
// keeps for good; the quiet state after it is the baseline the end of the run is held to.
var warmUp = options.Duration / 5;
await LoadAsync(warmUp);
var warm = await SettleAsync("after warm-up");
await LoadAsync(options.Duration - warmUp);
var end = await SettleAsync("after the load");
var heldFailed = await SoakClient.CheckAndCloseAsync(held);
var heldClosed = await SettleAsync("held sessions closed", idleActors);

Console.WriteLine($"sessions: {tally.Sessions} ({tally.Echoed} echoed byte-exact, {tally.Reset} reset mid-transfer, " +
                  $"{tally.Left} left before pairing), {tally.Failed} failed; {Memory.MiB(tally.BytesEchoed)} echoed");
foreach (var failure in tally.FirstFailures)
    Console.WriteLine($"  failure: {failure}");

// Memory has stopped growing when the last third of the samples, taken under the same load, is no
// higher than the first third (with slack for the GC's own sizing), and the quiet heap at the end
// is no higher than the quiet heap after the warm-up.
var third = Math.Max(1, heapSamples.Count / 3);
var early = heapSamples.Take(third).Average();
var late = heapSamples.TakeLast(third).Average();
var verdicts = new (bool Ok, string What)[]
{
    (tally.Failed == 0, $"no failed session ({tally.Failed})"),
    (heldFailed == 0, $"every held session still echoes ({held.Count - heldFailed} of {held.Count})"),
    (warm.Actors == baselineActors && end.Actors == baselineActors && heldClosed.Actors == idleActors,
        $"actor count back to baseline after warm-up and at the end ({warm.Actors}, {end.Actors} vs {baselineActors}; " +
        $"{heldClosed.Actors} vs {idleActors} once the held sessions closed)"),
    (late <= early * 1.25 + (2 << 20), $"heap under load not growing (first third {Memory.MiB((long)early)}, last third {Memory.MiB((long)late)})"),
    (end.Heap <= warm.Heap * 1.25 + (4 << 20), $"quiet heap not growing ({Memory.MiB(warm.Heap)} after warm-up, {Memory.MiB(end.Heap)} at the end)"),
};
foreach (var (ok, what) in verdicts)
    Console.WriteLine($"{(ok ? "PASS" : "FAIL")}  {what}");

foreach (var app in apps)
    await app.DisposeAsync();
await host.StopAsync();
return verdicts.All(v => v.Ok) ? 0 : 1;

async Task LoadAsync(TimeSpan duration)
{
    using var stop = new CancellationTokenSource(duration);
    var clients = Enumerable.Range(0, options.Concurrency)
        .Select(i => Task.Run(() => SoakClient.RunAsync(ports, Random.Shared.Next(), tally, stop.Token)))
        .ToArray();
    while (!stop.IsCancellationRequested)
    {
        try
        {
            await Task.Delay(options.ReportEvery, stop.Token);
        }
        catch (OperationCanceledException)
        {
            break;
        }
        var heap = Memory.HeapAfterFullGc();
        heapSamples.Add(heap);
        var now = clock.Elapsed;
        var sessions = tally.Sessions;
        var rate = (sessions - lastSessions) / (now - lastReport).TotalSeconds;
        (lastSessions, lastReport) = (sessions, now);
        Console.WriteLine($"{now,8:mm\\:ss} {sessions,9} {rate,7:0} {tally.Echoed,9} {tally.Reset,8} {tally.Left,8} {tally.Failed,6} " +
                          $"{ActorTree.Count(system),7} {Memory.MiB(heap),9} {Memory.MiB(Memory.Rss()),9}");
    }
    await Task.WhenAll(clients);
}

// With no load, every session's actors must stop, bringing the count back to what it was before.
async Task<(int Actors, long Heap)> SettleAsync(string when, int? target = null)
{
    var expected = target ?? baselineActors;
    var settled = Stopwatch.StartNew();
    var actors = ActorTree.Count(system);
    while (actors != expected && settled.Elapsed < TimeSpan.FromSeconds(30))
    {
        await Task.Delay(100);
        actors = ActorTree.Count(system);
    }
    var heap = Memory.HeapAfterFullGc();
    Console.WriteLine($"{when}: {actors} actors (expected {expected}), heap {Memory.MiB(heap)}, RSS {Memory.MiB(Memory.Rss())}");
    if (actors != expected)
        Console.WriteLine(ActorTree.Render(((ExtendedActorSystem)system).Provider.RootGuardian));
    return (actors, heap);
}
