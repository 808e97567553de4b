using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>The relay answered ERROR, or ended the control connection.</summary>
public sealed class RelayRegistrationException : Exception
{
    /// <summary>An ERROR line from the relay.</summary>
    public RelayRegistrationException(ErrorCode code, string text)
        : base(text.Length == 0 ? $"relay refused: {code}" : $"relay refused: {code} {text}") => Code = code;

    /// <summary>Anything else that ended the registration.</summary>
    public RelayRegistrationException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>The relay's error code, when it sent one.</summary>
    public ErrorCode? Code { get; }

    /// <summary>The relay could not be reached, or stopped answering before it said anything: another node of it may serve.</summary>
    public bool Unreachable { get; init; }

    /// <summary>What answered speaks another protocol (an ssh server, a web server): it is no TcpRelay control port, and asking again will not make it one.</summary>
    public bool NotARelay { get; init; }

    /// <summary>
    /// The TLS handshake failed for good: the relay's certificate is not trusted (expired, name
    /// mismatch, pin mismatch, unknown CA; the message says which), or the relay does not speak TLS.
    /// </summary>
    public bool TlsRefused { get; init; }

    /// <summary>The line read was not one the protocol allows.</summary>
    internal bool Malformed { get; init; }
}
