using System.Globalization;

namespace TcpRelay.Protocol;

/// <summary>TCP port numbers as the protocol writes them: decimal, 1-65535, no sign, no leading zero.</summary>
public static class PortNumber
{
    /// <summary>Parses a port number written on the wire or on a command line.</summary>
    public static ParseResult<int> Parse(string text)
    {
        if (text.Length is 0 or > 5 || text[0] == '0')
            return ParseResult<int>.Fail("port must be a decimal number from 1 to 65535");
        foreach (var c in text)
            if (c is not (>= '0' and <= '9'))
                return ParseResult<int>.Fail("port must be a decimal number from 1 to 65535");
        var port = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        return port <= 65535
            ? ParseResult<int>.Ok(port)
            : ParseResult<int>.Fail("port must be a decimal number from 1 to 65535");
    }
}
