using Akka.IO;

namespace TcpRelay.Server.Actors;

/// <summary>
/// The ack of every Tcp.Write the relay issues: the connection sends it back, from itself, once the
/// bytes are handed to the OS. Its sender says which connection is ready for more.
/// </summary>
public sealed class WriteAck : Tcp.Event
{
    /// <summary>The only instance.</summary>
    public static readonly WriteAck Instance = new();

    private WriteAck() { }
}
