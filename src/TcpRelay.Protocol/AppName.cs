namespace TcpRelay.Protocol;

/// <summary>An app's name: 1-63 characters of [a-z0-9-], not starting or ending with '-'.</summary>
public readonly record struct AppName
{
    /// <summary>Longest name allowed.</summary>
    public const int MaxLength = 63;

    private AppName(string value) => Value = value;

    /// <summary>The name as sent on the wire.</summary>
    public string Value { get; }

    /// <summary>Validates a name received on the wire or from configuration.</summary>
    public static ParseResult<AppName> Parse(string text)
    {
        if (text.Length is 0 or > MaxLength)
            return ParseResult<AppName>.Fail($"name must be 1-{MaxLength} characters");
        foreach (var c in text)
            if (c is not (>= 'a' and <= 'z' or >= '0' and <= '9' or '-'))
                return ParseResult<AppName>.Fail("name may contain only a-z, 0-9 and '-'");
        if (text[0] == '-' || text[^1] == '-')
            return ParseResult<AppName>.Fail("name must not start or end with '-'");
        return ParseResult<AppName>.Ok(new AppName(text));
    }

    /// <inheritdoc />
    public override string ToString() => Value;
}
