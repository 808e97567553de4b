namespace TcpRelay.Protocol;

/// <summary>
/// The outcome of parsing untrusted input: a value, or the rule the input broke.
/// Parsers return this instead of throwing so that bad input is an ordinary value on every path.
/// </summary>
public readonly record struct ParseResult<T>
{
    private ParseResult(T? value, string? error)
    {
        Value = value;
        Error = error;
    }

    /// <summary>The parsed value; set only when <see cref="IsOk"/>.</summary>
    public T? Value { get; }

    /// <summary>What was wrong with the input; set only when not <see cref="IsOk"/>.</summary>
    public string? Error { get; }

    /// <summary>Whether the input was valid.</summary>
    public bool IsOk => Error is null;

    /// <summary>A successful parse.</summary>
    public static ParseResult<T> Ok(T value) => new(value, null);

    /// <summary>A failed parse, naming the rule broken.</summary>
    public static ParseResult<T> Fail(string error) => new(default, error);

    /// <summary>The value, or an exception carrying the error.</summary>
    public T GetValueOrThrow() => IsOk ? Value! : throw new FormatException(Error);
}
