using System.Net;
using System.Net.Sockets;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// One relayed session: a connected stream whose other end is the client. Shut down sending with
/// <c>Socket.Shutdown(SocketShutdown.Send)</c> to half-close: the client reads EOF and may go on sending.
/// </summary>
public sealed class RelayStream : NetworkStream
{
    internal RelayStream(Socket socket, SessionId id, IPEndPoint client) : base(socket, ownsSocket: true)
    {
        SessionId = id;
        Client = client;
    }

    /// <summary>The session's id as the relay announced it.</summary>
    public SessionId SessionId { get; }

    /// <summary>The client's address as the relay saw it.</summary>
    public IPEndPoint Client { get; }
}
