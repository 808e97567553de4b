namespace TcpRelay.Client;

/// <summary>The TLS handshake with the relay failed: its certificate was refused (the message says why: expired, name mismatch, pin mismatch, unknown CA), or it does not speak TLS.</summary>
public sealed class RelayTlsException(string message, Exception inner) : IOException(message, inner);
