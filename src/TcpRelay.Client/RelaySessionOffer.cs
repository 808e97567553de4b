using System.Net;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// A client the relay announced (CONNECT) and nobody has answered yet: <see cref="ConnectAsync"/>
/// dials the relay's data port and takes the session, <see cref="RejectAsync"/> has the relay close
/// the client at once. An offer left unanswered is closed by the relay after its pending timeout.
/// </summary>
public sealed class RelaySessionOffer
{
    private readonly RelayListener _listener;

    internal RelaySessionOffer(RelayListener listener, Connect connect, HostPort dataPort)
    {
        _listener = listener;
        Id = connect.Id;
        Client = connect.Client;
        DataPort = dataPort;
    }

    /// <summary>The session's id as the relay announced it.</summary>
    public SessionId Id { get; }

    /// <summary>The client's address as the relay saw it.</summary>
    public IPEndPoint Client { get; }

    /// <summary>
    /// Where <see cref="ConnectAsync"/> dials: the data port the relay named in <c>CONNECT … data=</c>
    /// (the client arrived at another node of a relay cluster), else the data port of the node that
    /// announced the session.
    /// </summary>
    public HostPort DataPort { get; }

    /// <summary>
    /// Dials <see cref="DataPort"/> and sends ACCEPT; the stream returned is the session's bytes.
    /// When the dial fails the offer is rejected, so the client is not left waiting.
    /// </summary>
    /// <exception cref="IOException">The relay's data port could not be reached.</exception>
    public Task<RelayStream> ConnectAsync(CancellationToken cancellationToken = default) =>
        _listener.ConnectSessionAsync(this, cancellationToken);

    /// <summary>Tells the relay this session will not be served (best effort: without a control connection the pending timeout closes it).</summary>
    public Task RejectAsync() => _listener.RejectAsync(Id);
}
