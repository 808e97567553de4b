using System.Collections.Concurrent;
using System.Net;
using Akka.Actor;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// A client accepted on an app's public port and announced with CONNECT, whose connection nobody
/// has registered for yet: the relay reads nothing from it until the app dials in (protocol.md).
/// </summary>
/// <param name="Id">The session's id, as CONNECT named it.</param>
/// <param name="App">The app's name, for the session's log lines.</param>
/// <param name="Port">The app's public port actor: told when the session is paired and when it ends.</param>
/// <param name="Connection">Akka.IO's actor of the client connection, waiting for a Register.</param>
/// <param name="Address">The client's address.</param>
/// <param name="Status">The session's entry on the status board, there since the client arrived.</param>
internal sealed record WaitingClient(SessionId Id, AppName App, IActorRef Port, IActorRef Connection, IPEndPoint Address, SessionStatus Status);

/// <summary>
/// The clients of every app of this relay (this node, in a cluster) that wait for a data
/// connection, by session id. An app's public port (<see cref="PublicPortActor"/>) adds its clients;
/// the actor of the data connection whose ACCEPT names one takes it out and becomes that session,
/// with no message to anyone in between. Whoever takes an entry owns it: the port, when it closes a client that waited too
/// long or was rejected, and the data connection, when it pairs. <see cref="TryTake"/> decides races
/// between them, so a client is either paired or closed, never both.
/// </summary>
internal sealed class WaitingClients : IExtension
{
    private readonly ConcurrentDictionary<SessionId, WaitingClient> _waiting = new();

    /// <summary>Clients waiting now (tests, and the status of a relay that holds many).</summary>
    public int Count => _waiting.Count;

    /// <summary>Puts a client up for its data connection; ids are random and unique, so none is replaced.</summary>
    public void Add(WaitingClient client) => _waiting[client.Id] = client;

    /// <summary>Takes the client waiting with <paramref name="id"/> out of the table; false if none does (any more).</summary>
    public bool TryTake(SessionId id, out WaitingClient client) => _waiting.TryRemove(id, out client!);

    /// <summary>The table of <paramref name="system"/>.</summary>
    public static WaitingClients Get(ActorSystem system) => system.WithExtension<WaitingClients, Provider>();

    private sealed class Provider : ExtensionIdProvider<WaitingClients>
    {
        public override WaitingClients CreateExtension(ExtendedActorSystem system) => new();
    }
}
