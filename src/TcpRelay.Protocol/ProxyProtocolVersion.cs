namespace TcpRelay.Protocol;

/// <summary>Which PROXY protocol header (HAProxy's proxy-protocol.txt) a session starts with.</summary>
public enum ProxyProtocolVersion
{
    /// <summary>Version 1: one text line, <c>PROXY TCP4|TCP6 src dst sport dport\r\n</c>.</summary>
    V1 = 1,

    /// <summary>Version 2: a binary header with a 12-byte signature and the addresses in network order.</summary>
    V2 = 2,
}
