// A minimal ASP.NET Core app that accepts no inbound connection itself: Kestrel is served through
// the relay by TcpRelay.AspNetCore. With --listen it is an ordinary local web server instead, for
// `tcprelay agent` to expose.
using TcpRelay.AspNetCore;
using TcpRelay.Client;
using TcpRelay.Samples.HttpApp;

const string usage = "usage: HttpApp --relay HOST:PORT [--name web] [--port P]   (secret: TCPRELAY_SECRET)\n" +
                     "       HttpApp --listen http://127.0.0.1:5000";
HttpAppOptions options;
try
{
    options = HttpAppOptions.Parse(args, Environment.GetEnvironmentVariable("TCPRELAY_SECRET") is { Length: > 0 } s ? s : null);
}
catch (FormatException e)
{
    await Console.Error.WriteLineAsync($"HttpApp: {e.Message}\n{usage}");
    return 2;
}

WebApplication app;
try
{
    app = HttpApp.Build(options);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"HttpApp: {e.Message}");
    return 2;
}
try
{
    await app.StartAsync();
}
catch (RelayRegistrationException e)
{
    await Console.Error.WriteLineAsync($"HttpApp: cannot register with the relay: {e.Message}");
    return 1;
}
if (options.Relay is not null)
{
    var relay = app.Services.GetRequiredService<RelayEndPoint>();
    Console.WriteLine($"HttpApp {relay.Name}: curl http://{relay.RelayHost}:{relay.PublicPort}/");
}
else
{
    Console.WriteLine($"HttpApp listening on {options.Listen}");
}
await app.WaitForShutdownAsync();
return 0;
