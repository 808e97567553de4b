using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TcpRelay.Protocol;

/// <summary>
/// A key pin, <c>sha256:</c> and the lowercase hex SHA-256 of a certificate's SubjectPublicKeyInfo:
/// it names the key, not the certificate, so a certificate renewed with the same key keeps its pin.
/// </summary>
public static class TlsPin
{
    private const string Prefix = "sha256:";

    /// <summary>The pin of <paramref name="certificate"/>'s public key.</summary>
    public static string Of(X509Certificate2 certificate) =>
        Prefix + Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    /// <summary>Checks the form <c>sha256:</c> and 64 hex digits; returns the pin in lowercase.</summary>
    public static ParseResult<string> Parse(string text)
    {
        var hex = text.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) ? text[Prefix.Length..] : null;
        return hex is { Length: 64 } && hex.All(Uri.IsHexDigit)
            ? ParseResult<string>.Ok(Prefix + hex.ToLowerInvariant())
            : ParseResult<string>.Fail($"'{text}' is not a pin (sha256: and the 64 hex digits of the key's SHA-256, as tcprelay cert prints it)");
    }
}
