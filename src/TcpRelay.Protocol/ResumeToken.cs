namespace TcpRelay.Protocol;

/// <summary>
/// An app's proof that it is the same app coming back (extension, <c>REGISTER … resume=</c>):
/// 128 random bits the app draws once and sends on every REGISTER, as 32 lowercase hex digits.
/// A relay that knows the token keeps the app's name and port through a control reconnect.
/// </summary>
public readonly record struct ResumeToken
{
    private ResumeToken(string value) => Value = value;

    /// <summary>The 32 lowercase hex digits.</summary>
    public string Value { get; }

    /// <summary>A fresh random token.</summary>
    public static ResumeToken New() => new(LowerHex.Random(16));

    /// <summary>Validates a token received on the wire.</summary>
    public static ParseResult<ResumeToken> Parse(string text) =>
        LowerHex.Is(text, 32)
            ? ParseResult<ResumeToken>.Ok(new ResumeToken(text))
            : ParseResult<ResumeToken>.Fail("resume must be 32 lowercase hex digits");

    /// <inheritdoc />
    public override string ToString() => Value;
}
