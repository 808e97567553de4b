using System.Globalization;
using TcpRelay.Protocol;

namespace TcpRelay.Server;

/// <summary>The inclusive range public ports are allocated from, lowest free first.</summary>
public sealed record PublicPortRange(int First, int Last)
{
    /// <summary>How many ports the range holds.</summary>
    public int Count => Last - First + 1;

    /// <summary>Whether <paramref name="port"/> lies in the range.</summary>
    public bool Contains(int port) => port >= First && port <= Last;

    /// <summary>Parses "first-last", e.g. "8081-8180"; a single port "9000" is a range of one.</summary>
    public static ParseResult<PublicPortRange> Parse(string text)
    {
        var parts = text.Trim().Split('-');
        if (parts.Length is < 1 or > 2)
            return ParseResult<PublicPortRange>.Fail($"public port range '{text}' is not first-last (e.g. 8081-8180)");
        var first = PortNumber.Parse(parts[0]);
        var last = parts.Length == 2 ? PortNumber.Parse(parts[1]) : first;
        if (!first.IsOk || !last.IsOk)
            return ParseResult<PublicPortRange>.Fail($"public port range '{text}' is not first-last with ports 1-65535");
        return first.Value <= last.Value
            ? ParseResult<PublicPortRange>.Ok(new PublicPortRange(first.Value, last.Value))
            : ParseResult<PublicPortRange>.Fail($"public port range '{text}' ends before it starts");
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{First}-{Last}");
}
