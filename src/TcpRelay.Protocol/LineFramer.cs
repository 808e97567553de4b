namespace TcpRelay.Protocol;

/// <summary>What <see cref="LineFramer.TryTakeLine"/> found.</summary>
public enum FramerStatus
{
    /// <summary>A whole line was taken.</summary>
    Line,

    /// <summary>No LF yet, and what is buffered could still become a valid line.</summary>
    NeedMore,

    /// <summary>More than the longest allowed line arrived without an LF.</summary>
    TooLong,
}

/// <summary>
/// Cuts a byte stream into LF-terminated lines, holding at most one line's worth of bytes.
/// Bytes after the last line stay available through <see cref="TakeRemainder"/>, so a connection
/// that switches from lines to raw bytes loses nothing at the seam.
/// </summary>
public sealed class LineFramer
{
    private readonly int _maxLineLength;
    private byte[] _buffer = [];
    private int _start;

    /// <param name="maxLineLength">Longest line, not counting its LF or CR LF.</param>
    public LineFramer(int maxLineLength = ProtocolDefaults.MaxLineLength) => _maxLineLength = maxLineLength;

    /// <summary>Bytes buffered and not yet taken.</summary>
    public int Buffered => _buffer.Length - _start;

    /// <summary>Adds bytes read from the connection.</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
            return;
        var merged = new byte[Buffered + bytes.Length];
        _buffer.AsSpan(_start).CopyTo(merged);
        bytes.CopyTo(merged.AsSpan(Buffered));
        _buffer = merged;
        _start = 0;
    }

    /// <summary>Takes the next whole line (without its LF; a CR before it is left for the parser).</summary>
    public FramerStatus TryTakeLine(out ReadOnlyMemory<byte> line)
    {
        var pending = _buffer.AsMemory(_start);
        var lf = pending.Span.IndexOf((byte)'\n');
        // A CR may still come before the LF, so one byte more than the limit is not yet too long.
        var limit = _maxLineLength + 1;
        if (lf < 0)
        {
            line = default;
            return pending.Length > limit ? FramerStatus.TooLong : FramerStatus.NeedMore;
        }
        if (lf > limit || (lf == limit && pending.Span[lf - 1] != (byte)'\r'))
        {
            line = default;
            return FramerStatus.TooLong;
        }
        line = pending[..lf];
        _start += lf + 1;
        return FramerStatus.Line;
    }

    /// <summary>Takes every byte not yet taken as a line.</summary>
    public byte[] TakeRemainder()
    {
        var rest = _buffer.AsSpan(_start).ToArray();
        _buffer = [];
        _start = 0;
        return rest;
    }
}
