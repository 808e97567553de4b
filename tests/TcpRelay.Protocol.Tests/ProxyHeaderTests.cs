using System.Buffers.Binary;
using System.Net;
using System.Text;
using TcpRelay.TestSupport;

namespace TcpRelay.Protocol.Tests;

/// <summary>PROXY protocol headers, byte for byte, and as a reader written from proxy-protocol.txt takes them.</summary>
public sealed class ProxyHeaderTests
{
    private static readonly IPEndPoint Client4 = IPEndPoint.Parse("192.0.2.10:51234");
    private static readonly IPEndPoint Relay4 = IPEndPoint.Parse("198.51.100.1:8443");
    private static readonly IPEndPoint Client6 = IPEndPoint.Parse("[2001:db8::10]:51234");
    private static readonly IPEndPoint Relay6 = IPEndPoint.Parse("[2001:db8::1]:8443");

    [Fact]
    public void V1_over_IPv4_is_one_text_line()
    {
        var header = ProxyHeader.Format(ProxyProtocolVersion.V1, Client4, Relay4);
        Assert.Equal("PROXY TCP4 192.0.2.10 198.51.100.1 51234 8443\r\n", Encoding.ASCII.GetString(header));
        Assert.Equal((Client4, Relay4), ProxyHeaderReader.Read(header));
    }

    [Fact]
    public void V1_over_IPv6_is_one_text_line()
    {
        var header = ProxyHeader.Format(ProxyProtocolVersion.V1, Client6, Relay6);
        Assert.Equal("PROXY TCP6 2001:db8::10 2001:db8::1 51234 8443\r\n", Encoding.ASCII.GetString(header));
        Assert.Equal((Client6, Relay6), ProxyHeaderReader.Read(header));
    }

    [Fact]
    public void V2_over_IPv4_is_the_signature_then_12_address_bytes()
    {
        byte[] expected =
        [
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
            0x21, 0x11, 0x00, 0x0C,
            192, 0, 2, 10, 198, 51, 100, 1,
            0xC8, 0x22, 0x20, 0xFB,
        ];
        var header = ProxyHeader.Format(ProxyProtocolVersion.V2, Client4, Relay4);
        Assert.Equal(expected, header);
        Assert.Equal((Client4, Relay4), ProxyHeaderReader.Read(header));
    }

    [Fact]
    public void V2_over_IPv6_is_the_signature_then_36_address_bytes()
    {
        var header = ProxyHeader.Format(ProxyProtocolVersion.V2, Client6, Relay6);
        Assert.Equal(16 + 36, header.Length);
        Assert.Equal(ProxyHeader.V2Signature.ToArray(), header[..12]);
        Assert.Equal(new byte[] { 0x21, 0x21, 0x00, 0x24 }, header[12..16]);
        Assert.Equal(Client6.Address.GetAddressBytes(), header[16..32]);
        Assert.Equal(Relay6.Address.GetAddressBytes(), header[32..48]);
        Assert.Equal(new byte[] { 0xC8, 0x22, 0x20, 0xFB }, header[48..52]);
        Assert.Equal((Client6, Relay6), ProxyHeaderReader.Read(header));
    }

    [Theory]
    [InlineData(ProxyProtocolVersion.V1)]
    [InlineData(ProxyProtocolVersion.V2)]
    public void Mixed_families_write_the_IPv4_address_as_IPv4_mapped_IPv6(ProxyProtocolVersion version)
    {
        var mapped = new IPEndPoint(Client4.Address.MapToIPv6(), Client4.Port);
        Assert.Equal((mapped, Relay6), ProxyHeaderReader.Read(ProxyHeader.Format(version, Client4, Relay6)));
        if (version == ProxyProtocolVersion.V1)
            Assert.StartsWith("PROXY TCP6 ::ffff:192.0.2.10 2001:db8::1 ", Encoding.ASCII.GetString(ProxyHeader.Format(version, Client4, Relay6)));
    }

    [Theory]
    [InlineData(ProxyProtocolVersion.V1)]
    [InlineData(ProxyProtocolVersion.V2)]
    public void An_IPv4_mapped_address_beside_an_IPv4_one_is_written_as_IPv4(ProxyProtocolVersion version)
    {
        var mapped = new IPEndPoint(Client4.Address.MapToIPv6(), Client4.Port);
        Assert.Equal((Client4, Relay4), ProxyHeaderReader.Read(ProxyHeader.Format(version, mapped, Relay4)));
    }

    [Theory]
    [InlineData("v1", ProxyProtocolVersion.V1)]
    [InlineData("V2", ProxyProtocolVersion.V2)]
    public void A_version_is_v1_or_v2(string text, ProxyProtocolVersion expected) =>
        Assert.Equal(expected, ProxyHeader.ParseVersion(text).Value);

    [Theory]
    [InlineData("v3")]
    [InlineData("1")]
    [InlineData("")]
    public void Any_other_version_names_the_allowed_ones(string text) =>
        Assert.Contains("is not one of v1, v2", ProxyHeader.ParseVersion(text).Error);
}
