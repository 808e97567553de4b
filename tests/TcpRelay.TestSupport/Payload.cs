using System.Buffers.Binary;

namespace TcpRelay.TestSupport;

/// <summary>
/// Deterministic pseudo-random bytes of any length, made and checked block by block (SplitMix64 of
/// the block's index), so that multi-megabyte transfers are verified without keeping them in memory
/// and a lost, repeated or reordered block shows up at its offset.
/// </summary>
public static class Payload
{
    public static void Fill(ulong seed, long offset, Span<byte> buffer)
    {
        Span<byte> block = stackalloc byte[8];
        for (var i = 0; i < buffer.Length; i++)
        {
            var at = offset + i;
            if (i == 0 || at % 8 == 0)
                BinaryPrimitives.WriteUInt64LittleEndian(block, Mix(seed ^ (ulong)(at / 8)));
            buffer[i] = block[(int)(at % 8)];
        }
    }

    public static byte[] Make(ulong seed, int length)
    {
        var bytes = new byte[length];
        Fill(seed, 0, bytes);
        return bytes;
    }

    /// <summary>The offset of the first byte that differs from the payload, or -1.</summary>
    public static long FirstMismatch(ulong seed, long offset, ReadOnlySpan<byte> received)
    {
        var expected = new byte[received.Length];
        Fill(seed, offset, expected);
        var at = received.CommonPrefixLength(expected);
        return at == received.Length ? -1 : offset + at;
    }

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB;
        return x ^ (x >> 31);
    }
}
