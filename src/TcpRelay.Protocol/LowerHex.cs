using System.Security.Cryptography;

namespace TcpRelay.Protocol;

/// <summary>Lowercase hexadecimal, the only spelling the protocol accepts for ids, nonces and digests.</summary>
public static class LowerHex
{
    /// <summary>Whether <paramref name="text"/> is exactly <paramref name="length"/> characters of [0-9a-f].</summary>
    public static bool Is(string? text, int length)
    {
        if (text is null || text.Length != length)
            return false;
        foreach (var c in text)
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f'))
                return false;
        return true;
    }

    /// <summary><paramref name="bytes"/> random bytes from a cryptographic source, as lowercase hex.</summary>
    public static string Random(int bytes) =>
        Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}
