using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TcpRelay.Protocol;

/// <summary>
/// A host and a port as the protocol writes them: <c>name:port</c>, <c>192.0.2.1:port</c> or
/// <c>[2001:db8::1]:port</c>. The host is a DNS name or an IP literal; nothing is resolved here.
/// </summary>
public readonly record struct HostPort(string Host, int Port)
{
    private const string Rule = "must be <host>:<port>";

    /// <summary>Parses "host:port"; <paramref name="what"/> names the value in the error (e.g. "data").</summary>
    public static ParseResult<HostPort> Parse(string text, string what = "address")
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0)
            return ParseResult<HostPort>.Fail($"{what} {Rule}");
        var host = text[..colon];
        var port = PortNumber.Parse(text[(colon + 1)..]);
        if (!port.IsOk)
            return ParseResult<HostPort>.Fail($"{what} {Rule} with a port from 1 to 65535");
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
            return IPAddress.TryParse(host, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6
                ? ParseResult<HostPort>.Ok(new HostPort(host, port.Value))
                : ParseResult<HostPort>.Fail($"{what} {Rule}: '[{LineWords.Shorten(host)}]' is not an IPv6 address");
        }
        return IsDnsNameOrIPv4(host)
            ? ParseResult<HostPort>.Ok(new HostPort(host, port.Value))
            : ParseResult<HostPort>.Fail($"{what} {Rule}: '{LineWords.Shorten(host)}' is not a host name or IPv4 address (IPv6 goes in brackets)");
    }

    private static bool IsDnsNameOrIPv4(string host)
    {
        // One trailing dot is how a fully qualified name may be written.
        var name = host.EndsWith('.') ? host[..^1] : host;
        if (name.Length is 0 or > 253)
            return false;
        var labels = name.Split('.');
        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
                return false;
            foreach (var c in label)
                if (c is not (>= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '-'))
                    return false;
        }
        // All digits is an IPv4 address, and then only the four-part dotted form: resolvers read
        // "127.1" or "0x7f.1" as addresses nobody meant to write.
        return !labels.All(label => label.All(char.IsAsciiDigit))
            || (labels.Length == 4 && labels.All(label => label.Length <= 3 && int.Parse(label, CultureInfo.InvariantCulture) <= 255
                                                         && (label.Length == 1 || label[0] != '0')));
    }

    /// <summary>As a line writes it; IPv6 hosts in brackets.</summary>
    public override string ToString() =>
        Host.Contains(':') ? string.Create(CultureInfo.InvariantCulture, $"[{Host}]:{Port}") : string.Create(CultureInfo.InvariantCulture, $"{Host}:{Port}");
}
