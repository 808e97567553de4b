namespace TcpRelay.Protocol;

/// <summary>
/// Extension: the id of a user of a relay's users file, sent as <c>REGISTER … user=&lt;id&gt;</c>:
/// 1-64 characters of [A-Za-z0-9_-]. No '.': an id is a key of the users file's HOCON, where a dot
/// would split it into a path.
/// </summary>
public readonly record struct UserId
{
    /// <summary>Longest id allowed.</summary>
    public const int MaxLength = 64;

    private UserId(string value) => Value = value;

    /// <summary>The id as sent on the wire and written in the users file.</summary>
    public string Value { get; }

    /// <summary>Validates an id received on the wire or read from a file.</summary>
    public static ParseResult<UserId> Parse(string text)
    {
        if (text.Length is 0 or > MaxLength)
            return ParseResult<UserId>.Fail($"user must be 1-{MaxLength} characters");
        foreach (var c in text)
            if (c is not (>= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '-' or '_'))
                return ParseResult<UserId>.Fail("user may contain only A-Z, a-z, 0-9, '-' and '_'");
        return ParseResult<UserId>.Ok(new UserId(text));
    }

    /// <inheritdoc />
    public override string ToString() => Value;
}
