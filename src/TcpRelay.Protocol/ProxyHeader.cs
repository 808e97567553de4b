using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TcpRelay.Protocol;

/// <summary>
/// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that tells a service
/// behind a relay who the client really is: written to the service before any byte of the client.
/// </summary>
/// <remarks>
/// Both addresses go in one family. An IPv4-mapped IPv6 address (<c>::ffff:192.0.2.1</c>, as a
/// dual-stack socket reports an IPv4 peer) is taken as the IPv4 address it maps; if the two are
/// then still of different families, the IPv4 one is written as its IPv4-mapped IPv6 address and
/// the header is TCP6 (v1) or TCP over IPv6 (v2).
/// </remarks>
public static class ProxyHeader
{
    /// <summary>The 12 bytes every version 2 header starts with.</summary>
    public static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    // Version 2, command PROXY.
    private const byte V2VersionCommand = 0x21;
    // TCP (stream) over IPv4 or IPv6: the address family in the high nibble, the transport in the low.
    private const byte V2TcpOverIPv4 = 0x11;
    private const byte V2TcpOverIPv6 = 0x21;
    private const int V2FixedLength = 16;

    /// <summary>The header of <paramref name="version"/> for a TCP connection from <paramref name="source"/> to <paramref name="destination"/>.</summary>
    /// <param name="version">Which header to write.</param>
    /// <param name="source">The client's address and port.</param>
    /// <param name="destination">The address and port the client connected to.</param>
    /// <exception cref="ArgumentException">An address is neither IPv4 nor IPv6, or the version is unknown.</exception>
    public static byte[] Format(ProxyProtocolVersion version, IPEndPoint source, IPEndPoint destination)
    {
        var (src, dst) = OneFamily(source.Address, destination.Address);
        return version switch
        {
            ProxyProtocolVersion.V1 => FormatV1(src, source.Port, dst, destination.Port),
            ProxyProtocolVersion.V2 => FormatV2(src, source.Port, dst, destination.Port),
            _ => throw new ArgumentException($"no PROXY protocol version {(int)version}", nameof(version)),
        };
    }

    /// <summary>Parses "v1" or "v2" (any case), e.g. from a --proxy-protocol flag.</summary>
    public static ParseResult<ProxyProtocolVersion> ParseVersion(string text) => text.ToLowerInvariant() switch
    {
        "v1" => ParseResult<ProxyProtocolVersion>.Ok(ProxyProtocolVersion.V1),
        "v2" => ParseResult<ProxyProtocolVersion>.Ok(ProxyProtocolVersion.V2),
        _ => ParseResult<ProxyProtocolVersion>.Fail($"'{LineWords.Shorten(text)}' is not one of v1, v2"),
    };

    private static byte[] FormatV1(IPAddress src, int srcPort, IPAddress dst, int dstPort)
    {
        var family = src.AddressFamily == AddressFamily.InterNetwork ? "TCP4" : "TCP6";
        return Encoding.ASCII.GetBytes($"PROXY {family} {src} {dst} {srcPort} {dstPort}\r\n");
    }

    private static byte[] FormatV2(IPAddress src, int srcPort, IPAddress dst, int dstPort)
    {
        var v4 = src.AddressFamily == AddressFamily.InterNetwork;
        var addressLength = v4 ? 4 : 16;
        // Both addresses, then both ports.
        var length = 2 * addressLength + 4;
        var header = new byte[V2FixedLength + length];
        V2Signature.CopyTo(header);
        header[12] = V2VersionCommand;
        header[13] = v4 ? V2TcpOverIPv4 : V2TcpOverIPv6;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)length);
        var addresses = header.AsSpan(V2FixedLength);
        src.TryWriteBytes(addresses, out _);
        dst.TryWriteBytes(addresses[addressLength..], out _);
        BinaryPrimitives.WriteUInt16BigEndian(addresses[(2 * addressLength)..], (ushort)srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(addresses[(2 * addressLength + 2)..], (ushort)dstPort);
        return header;
    }

    private static (IPAddress Source, IPAddress Destination) OneFamily(IPAddress source, IPAddress destination)
    {
        var src = Unmapped(source);
        var dst = Unmapped(destination);
        if (src.AddressFamily == dst.AddressFamily)
            return (src, dst);
        return (src.MapToIPv6(), dst.MapToIPv6());
    }

    private static IPAddress Unmapped(IPAddress address) => address.AddressFamily switch
    {
        AddressFamily.InterNetwork => address,
        // A scope id (fe80::1%eth0) means nothing to the service and has no place in either header.
        AddressFamily.InterNetworkV6 => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : new IPAddress(address.GetAddressBytes()),
        _ => throw new ArgumentException($"{address} is neither IPv4 nor IPv6", nameof(address)),
    };
}
