using System.Globalization;
using TcpRelay.Client;

namespace TcpRelay.Bench;

/// <summary>
/// <c>TcpRelay.Bench --tcprelay-app CONTROLPORT PUBLICPORT</c>: a native app on the client library,
/// run as a process of its own so that its memory and CPU are its own. It registers with the relay
/// on 127.0.0.1 and is the echo service itself (no local service behind it, unlike the agent).
/// Not samples/EchoApp: that logs two lines per session, which the benchmark would measure.
/// </summary>
public static class TcpRelayEchoApp
{
    public const string Mode = "--tcprelay-app";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is not [_, var control, var port])
        {
            await Console.Error.WriteLineAsync($"usage: TcpRelay.Bench {Mode} CONTROLPORT PUBLICPORT");
            return 2;
        }
        await using var listener = new RelayListener(new RelayListenerOptions
        {
            RelayHost = "127.0.0.1",
            ControlPort = int.Parse(control, CultureInfo.InvariantCulture),
            Name = "bench-app",
            Port = int.Parse(port, CultureInfo.InvariantCulture),
        });
        try
        {
            await listener.StartAsync();
            while (true)
            {
                var offer = await listener.AcceptOfferAsync();
                // Each offer dialled on its own: one slow dial does not hold up the sessions behind it.
                _ = Task.Run(async () =>
                {
                    try
                    {
                        var session = await offer.ConnectAsync();
                        await Echo.ServeAsync(session.Socket);
                        await session.DisposeAsync();
                    }
                    catch (IOException e)
                    {
                        await Console.Error.WriteLineAsync($"a session could not be taken: {e.Message}");
                    }
                });
            }
        }
        catch (RelayRegistrationException e)
        {
            await Console.Error.WriteLineAsync($"registration ended: {e.Message}");
            return 1;
        }
    }
}
