using System.Security.Cryptography;
using System.Text;

namespace TcpRelay.Protocol.Tests;

public sealed class RelayAuthTests
{
    private static readonly Nonce Nonce = TcpRelay.Protocol.Nonce.Parse("8f3a0c1d2e3f4a5b6c7d8e9f0a1b2c3d").Value;

    [Fact]
    public void The_digest_is_lowercase_hex_hmac_sha256_of_the_nonce_keyed_by_the_secret()
    {
        using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes("s3cret"));
        var expected = string.Concat(hmac.ComputeHash(Encoding.UTF8.GetBytes(Nonce.Value)).Select(b => b.ToString("x2")));
        Assert.Equal(expected, RelayAuth.Compute("s3cret", Nonce));
        Assert.True(RelayAuth.Verify("s3cret", Nonce, expected));
    }

    [Fact]
    public void Wrong_missing_or_misspelled_digests_fail()
    {
        var right = RelayAuth.Compute("s3cret", Nonce);
        Assert.False(RelayAuth.Verify("s3cret", Nonce, RelayAuth.Compute("other", Nonce)));
        Assert.False(RelayAuth.Verify("s3cret", Nonce, null));
        Assert.False(RelayAuth.Verify("s3cret", Nonce, right[..^1]));
        Assert.False(RelayAuth.Verify("s3cret", Nonce, right.ToUpperInvariant()));
    }

    [Fact]
    public void A_digest_for_one_nonce_fails_for_another()
    {
        var other = TcpRelay.Protocol.Nonce.New();
        Assert.NotEqual(RelayAuth.Compute("s3cret", Nonce), RelayAuth.Compute("s3cret", other));
        Assert.False(RelayAuth.Verify("s3cret", other, RelayAuth.Compute("s3cret", Nonce)));
    }
}
