namespace TcpRelay.Protocol;

/// <summary>
/// The code word of an ERROR line. Known codes are static members; an app keeps unknown codes
/// from newer relays as they are instead of failing to parse them.
/// </summary>
public readonly record struct ErrorCode
{
    private ErrorCode(string value) => Value = value;

    /// <summary>The code as written on the wire.</summary>
    public string Value { get; }

    /// <summary>A line's syntax or an argument's form is wrong.</summary>
    public static readonly ErrorCode BadRequest = new("bad-request");

    /// <summary>The app was too slow: no REGISTER in time, or a silent control connection.</summary>
    public static readonly ErrorCode Timeout = new("timeout");

    /// <summary>The relay has a secret and the app's auth was missing or wrong.</summary>
    public static readonly ErrorCode AuthFailed = new("auth-failed");

    /// <summary>A live app already has this name.</summary>
    public static readonly ErrorCode NameInUse = new("name-in-use");

    /// <summary>The requested public port is held by another app or process.</summary>
    public static readonly ErrorCode PortInUse = new("port-in-use");

    /// <summary>The requested public port is outside the relay's public range.</summary>
    public static readonly ErrorCode PortNotAllowed = new("port-not-allowed");

    /// <summary>Extension: the name or port is outside what the app's user is granted (its users file entry), or no longer is.</summary>
    public static readonly ErrorCode NotAllowed = new("not-allowed");

    /// <summary>Too many apps, or no free public port left.</summary>
    public static readonly ErrorCode Limit = new("limit");

    /// <summary>The relay is stopping.</summary>
    public static readonly ErrorCode Shutdown = new("shutdown");

    /// <summary>Validates a code word: one or more of [a-z-].</summary>
    public static ParseResult<ErrorCode> Parse(string text)
    {
        if (text.Length == 0)
            return ParseResult<ErrorCode>.Fail("error code is empty");
        foreach (var c in text)
            if (c is not (>= 'a' and <= 'z' or '-'))
                return ParseResult<ErrorCode>.Fail("error code may contain only a-z and '-'");
        return ParseResult<ErrorCode>.Ok(new ErrorCode(text));
    }

    /// <inheritdoc />
    public override string ToString() => Value;
}
