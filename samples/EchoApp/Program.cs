// An echo server that accepts no inbound connection itself: it registers with a relay and
// echoes every relayed session, passing the client's half-close back as its own.
using System.Net.Sockets;
using Serilog;
using TcpRelay.Client;
using TcpRelay.Protocol;

Log.Logger = new LoggerConfiguration()
    .WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}")
    .CreateLogger();

string? relay = null, name = "echo";
int? port = null;
for (var i = 0; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : null;
    switch (args[i])
    {
        case "--relay" when value is not null: relay = value; i++; break;
        case "--name" when value is not null: name = value; i++; break;
        case "--port" when value is not null && PortNumber.Parse(value).IsOk: port = PortNumber.Parse(value).Value; i++; break;
        default:
            await Console.Error.WriteLineAsync($"EchoApp: bad argument '{args[i]}'\nusage: EchoApp --relay HOST:PORT [--name echo] [--port P]");
            return 2;
    }
}
if (relay is null)
{
    await Console.Error.WriteLineAsync("usage: EchoApp --relay HOST:PORT [--name echo] [--port P]   (secret: TCPRELAY_SECRET)");
    return 2;
}

(string Host, int Port) address;
try
{
    address = RelayListenerOptions.ParseAddress(relay);
}
catch (FormatException e)
{
    await Console.Error.WriteLineAsync($"EchoApp: --relay: {e.Message}");
    return 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
await using var listener = new RelayListener(new RelayListenerOptions
{
    RelayHost = address.Host,
    ControlPort = address.Port,
    Name = name,
    Port = port,
    Secret = Environment.GetEnvironmentVariable("TCPRELAY_SECRET") is { Length: > 0 } s ? s : null,
});
try
{
    await listener.StartAsync(stop.Token);
}
catch (RelayRegistrationException e)
{
    Log.Error("Registration failed: {Reason}", e.Message);
    return 1;
}
Log.Information("Echo app {Name} registered: clients connect to {Host}:{PublicPort}", listener.Name, address.Host, listener.PublicPort);

try
{
    while (true)
    {
        RelayStream session;
        try
        {
            session = await listener.AcceptAsync(stop.Token);
        }
        catch (IOException e)
        {
            Log.Warning("A client could not be taken: {Reason}", e.Message);
            continue;
        }
        _ = EchoAsync(session);
    }
}
catch (OperationCanceledException)
{
    Log.Information("Stopping");
}
catch (RelayRegistrationException e)
{
    Log.Error("Relay connection ended: {Reason}", e.Message);
    return 1;
}
return 0;

static async Task EchoAsync(RelayStream session)
{
    await using (session)
    {
        Log.Information("Session {SessionId} from {Client}", session.SessionId, session.Client);
        try
        {
            await session.CopyToAsync(session);
            session.Socket.Shutdown(SocketShutdown.Send);
            Log.Information("Session {SessionId} ended", session.SessionId);
        }
        catch (IOException e)
        {
            Log.Warning("Session {SessionId} failed: {Reason}", session.SessionId, e.Message);
        }
    }
}
