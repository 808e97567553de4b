using System.Security.Cryptography;
using System.Text;

namespace TcpRelay.Protocol;

/// <summary>
/// The REGISTER auth digest: lowercase hex of HMAC-SHA256(key = UTF-8 secret, message = UTF-8 nonce).
/// The nonce changes per connection, so a digest seen on the wire cannot be replayed.
/// </summary>
public static class RelayAuth
{
    /// <summary>The digest an app sends for this nonce.</summary>
    public static string Compute(string secret, Nonce nonce) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(nonce.Value)));

    /// <summary>Whether <paramref name="auth"/> is the right digest, compared in constant time.</summary>
    public static bool Verify(string secret, Nonce nonce, string? auth)
    {
        var expected = Encoding.ASCII.GetBytes(Compute(secret, nonce));
        var given = Encoding.ASCII.GetBytes(auth ?? "");
        // FixedTimeEquals returns at once on a length mismatch; the length of a digest is public anyway.
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }
}
