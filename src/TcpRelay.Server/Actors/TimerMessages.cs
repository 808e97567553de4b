namespace TcpRelay.Server.Actors;

/// <summary>A connection's first line did not arrive within the handshake timeout (a timer a connection actor sets on itself).</summary>
internal sealed class HandshakeTimedOut
{
    public static readonly HandshakeTimedOut Instance = new();
    private HandshakeTimedOut() { }
}

/// <summary>A connection asked to close did not confirm within the close timeout: abort it (a timer an actor sets on itself).</summary>
internal sealed class CloseTimedOut
{
    public static readonly CloseTimedOut Instance = new();
    private CloseTimedOut() { }
}
