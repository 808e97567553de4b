namespace TcpRelay.Protocol;

/// <summary>The per-connection challenge in HELLO: 128 random bits as 32 lowercase hex digits.</summary>
public readonly record struct Nonce
{
    private Nonce(string value) => Value = value;

    /// <summary>The 32 lowercase hex digits.</summary>
    public string Value { get; }

    /// <summary>A fresh random nonce.</summary>
    public static Nonce New() => new(LowerHex.Random(16));

    /// <summary>Validates a nonce received on the wire.</summary>
    public static ParseResult<Nonce> Parse(string text) =>
        LowerHex.Is(text, 32)
            ? ParseResult<Nonce>.Ok(new Nonce(text))
            : ParseResult<Nonce>.Fail("nonce must be 32 lowercase hex digits");

    /// <inheritdoc />
    public override string ToString() => Value;
}
