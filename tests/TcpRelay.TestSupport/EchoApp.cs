using System.Net.Sockets;
using TcpRelay.Client;

namespace TcpRelay.TestSupport;

/// <summary>An app for tests and the soak run: echoes every session, passing the client's half-close back.</summary>
public static class EchoApp
{
    /// <summary>Serves the listener's sessions until it is disposed; <paramref name="accepted"/> is called for each one as it starts.</summary>
    public static async Task ServeAsync(RelayListener listener, Action? accepted = null)
    {
        try
        {
            while (true)
            {
                var session = await listener.AcceptAsync();
                accepted?.Invoke();
                _ = Task.Run(async () =>
                {
                    await using (session)
                    {
                        try
                        {
                            await session.CopyToAsync(session);
                            await session.ShutdownSendAsync();
                        }
                        catch (Exception e) when (e is IOException or SocketException)
                        {
                            // The client reset the session.
                        }
                    }
                });
            }
        }
        catch (RelayRegistrationException)
        {
            // The listener was disposed.
        }
    }
}
