using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace TcpRelay.TestSupport;

/// <summary>A reader of PROXY headers written from HAProxy's proxy-protocol.txt alone (TCP over IPv4 and IPv6).</summary>
public static class ProxyHeaderReader
{
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>The length of the v2 header starting with these 16 bytes, or null when they begin a v1 line.</summary>
    public static int? V2Length(byte[] first16) =>
        first16.AsSpan().StartsWith(Signature) ? 16 + BinaryPrimitives.ReadUInt16BigEndian(first16.AsSpan(14)) : null;

    /// <summary>
    /// The addresses of a whole header, each rule of the spec asserted. TcpRelay.Protocol.Tests
    /// compiles this file too (a link), so it uses nothing but xunit.
    /// </summary>
    public static (IPEndPoint Source, IPEndPoint Destination) Read(byte[] header) =>
        header.AsSpan().StartsWith(Signature) ? ReadV2(header) : ReadV1(header);

    private static (IPEndPoint, IPEndPoint) ReadV1(byte[] header)
    {
        // 2.1: at most 107 bytes, ending CRLF, words separated by single spaces.
        Assert.True(header.Length <= 107);
        var line = Encoding.ASCII.GetString(header);
        Assert.EndsWith("\r\n", line);
        Assert.Equal(1, line.Split("\r\n").Length - 1);
        var words = line[..^2].Split(' ');
        Assert.Equal(6, words.Length);
        Assert.Equal("PROXY", words[0]);
        var family = words[1] switch
        {
            "TCP4" => System.Net.Sockets.AddressFamily.InterNetwork,
            "TCP6" => System.Net.Sockets.AddressFamily.InterNetworkV6,
            var other => throw new Xunit.Sdk.XunitException($"unknown protocol {other}"),
        };
        var src = IPAddress.Parse(words[2]);
        var dst = IPAddress.Parse(words[3]);
        Assert.Equal(family, src.AddressFamily);
        Assert.Equal(family, dst.AddressFamily);
        // Ports are decimal without leading zeroes.
        foreach (var port in words[4..])
            Assert.Matches("^(0|[1-9][0-9]{0,4})$", port);
        return (new IPEndPoint(src, int.Parse(words[4])), new IPEndPoint(dst, int.Parse(words[5])));
    }

    private static (IPEndPoint, IPEndPoint) ReadV2(byte[] header)
    {
        Assert.True(header.Length >= 16);
        Assert.Equal(2, header[12] >> 4); // version
        Assert.Equal(1, header[12] & 0x0F); // PROXY
        var length = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(14));
        Assert.Equal(16 + length, header.Length);
        var addressLength = header[13] switch
        {
            0x11 => 4, // TCP over IPv4: 12 bytes
            0x21 => 16, // TCP over IPv6: 36 bytes
            var other => throw new Xunit.Sdk.XunitException($"unexpected family/protocol 0x{other:X2}"),
        };
        Assert.Equal(2 * addressLength + 4, length);
        var body = header.AsSpan(16);
        var src = new IPAddress(body[..addressLength]);
        var dst = new IPAddress(body.Slice(addressLength, addressLength));
        var srcPort = BinaryPrimitives.ReadUInt16BigEndian(body[(2 * addressLength)..]);
        var dstPort = BinaryPrimitives.ReadUInt16BigEndian(body[(2 * addressLength + 2)..]);
        return (new IPEndPoint(src, srcPort), new IPEndPoint(dst, dstPort));
    }
}
