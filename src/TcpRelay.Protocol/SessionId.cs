namespace TcpRelay.Protocol;

/// <summary>A session's id: 128 bits from a cryptographic random source, as 32 lowercase hex digits.</summary>
public readonly record struct SessionId
{
    private SessionId(string value) => Value = value;

    /// <summary>The 32 lowercase hex digits.</summary>
    public string Value { get; }

    /// <summary>A fresh random id.</summary>
    public static SessionId New() => new(LowerHex.Random(16));

    /// <summary>Validates an id received on the wire.</summary>
    public static ParseResult<SessionId> Parse(string text) =>
        LowerHex.Is(text, 32)
            ? ParseResult<SessionId>.Ok(new SessionId(text))
            : ParseResult<SessionId>.Fail("id must be 32 lowercase hex digits");

    /// <inheritdoc />
    public override string ToString() => Value;
}
