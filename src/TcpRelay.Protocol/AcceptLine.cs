using System.Text;

namespace TcpRelay.Protocol;

/// <summary>app → relay, first line on a data connection: "this connection carries session Id".</summary>
public sealed record Accept(SessionId Id)
{
    /// <summary>The line as sent on the wire, without its LF.</summary>
    public string Format() => $"ACCEPT id={Id}";

    /// <summary>The line as UTF-8 bytes ending in LF, ready to write.</summary>
    public byte[] ToBytes() => Encoding.UTF8.GetBytes(Format() + "\n");
}

/// <summary>Parses the one line a data connection (the data port) starts with.</summary>
public static class AcceptLine
{
    /// <summary>Parses the line, without its LF (a trailing CR is dropped). Unknown arguments are ignored.</summary>
    public static ParseResult<Accept> Parse(ReadOnlySpan<byte> line)
    {
        var split = LineWords.Split(line);
        if (!split.IsOk)
            return ParseResult<Accept>.Fail(split.Error!);
        var words = split.Value!;
        if (words.Verb != "ACCEPT")
            return ParseResult<Accept>.Fail($"a data connection must start with ACCEPT, not '{LineWords.Shorten(words.Verb)}'");
        var args = words.Arguments();
        if (!args.IsOk)
            return ParseResult<Accept>.Fail(args.Error!);
        return ControlLine.Required(args.Value!, "id", SessionId.Parse, "ACCEPT",
            id => ParseResult<Accept>.Ok(new Accept(id)));
    }

    /// <summary>Parses one line given as text (for tests and tools).</summary>
    public static ParseResult<Accept> Parse(string line) => Parse(Encoding.UTF8.GetBytes(line));
}
