namespace TcpRelay.Protocol;

/// <summary>The constants of wire protocol version 1: the defaults every relay and app starts from.</summary>
public static class ProtocolDefaults
{
    /// <summary>The protocol name and version sent in HELLO.</summary>
    public const string Version = "tcprelay/1";

    /// <summary>Longest control or ACCEPT line, in bytes, not counting its LF or CR LF.</summary>
    public const int MaxLineLength = 4096;

    /// <summary>Port apps register on.</summary>
    public const int ControlPort = 8080;

    /// <summary>
    /// Port apps dial once per session: TcpRelay's default, past the public range. protocol.md's
    /// table names 8082, inside that range; apps learn the port from REGISTERED either way.
    /// </summary>
    public const int DataPort = 8181;

    /// <summary>First port of the default public range.</summary>
    public const int PublicPortFirst = 8081;

    /// <summary>Last port of the default public range.</summary>
    public const int PublicPortLast = 8180;

    /// <summary>How long a new control or data connection may take to send its first line.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long a client waits for its app to dial the data port.</summary>
    public static readonly TimeSpan PendingTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Interval of PINGs on an idle control connection; three silent intervals close it.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(15);

    /// <summary>How many heartbeat intervals of silence close a control connection.</summary>
    public const int MissedHeartbeatsAllowed = 3;
}
