using System.Text;

namespace TcpRelay.Protocol.Tests;

public sealed class LineFramerTests
{
    private static string Take(LineFramer framer)
    {
        Assert.Equal(FramerStatus.Line, framer.TryTakeLine(out var line));
        return Encoding.UTF8.GetString(line.Span);
    }

    [Fact]
    public void A_line_arriving_byte_by_byte_is_taken_once_its_lf_arrives()
    {
        var framer = new LineFramer();
        foreach (var b in "PING\n"u8.ToArray()[..^1])
        {
            framer.Append([b]);
            Assert.Equal(FramerStatus.NeedMore, framer.TryTakeLine(out _));
        }
        framer.Append("\n"u8);
        Assert.Equal("PING", Take(framer));
        Assert.Equal(FramerStatus.NeedMore, framer.TryTakeLine(out _));
    }

    [Fact]
    public void Several_lines_in_one_read_are_taken_in_order_and_the_cr_is_left_for_the_parser()
    {
        var framer = new LineFramer();
        framer.Append("PING\r\nPONG\nREG"u8);
        Assert.Equal("PING\r", Take(framer));
        Assert.Equal("PONG", Take(framer));
        Assert.Equal(FramerStatus.NeedMore, framer.TryTakeLine(out _));
        framer.Append("ISTER\n"u8);
        Assert.Equal("REGISTER", Take(framer));
    }

    [Fact]
    public void Bytes_after_the_line_are_kept_whole_for_the_raw_stream()
    {
        var framer = new LineFramer();
        framer.Append("ACCEPT id=0123456789abcdef0123456789abcdef\nSSH-2.0-banner\r\n"u8);
        Assert.StartsWith("ACCEPT", Take(framer));
        Assert.Equal("SSH-2.0-banner\r\n", Encoding.ASCII.GetString(framer.TakeRemainder()));
        Assert.Equal(0, framer.Buffered);
    }

    [Fact]
    public void Lines_longer_than_the_limit_are_too_long_with_or_without_their_lf()
    {
        var framer = new LineFramer(10);
        framer.Append(Encoding.ASCII.GetBytes(new string('x', 11)));
        Assert.Equal(FramerStatus.NeedMore, framer.TryTakeLine(out _)); // 10 + a CR still to come is fine
        framer.Append("x"u8);
        Assert.Equal(FramerStatus.TooLong, framer.TryTakeLine(out _));

        var withLf = new LineFramer(10);
        withLf.Append(Encoding.ASCII.GetBytes(new string('x', 11) + "\n"));
        Assert.Equal(FramerStatus.TooLong, withLf.TryTakeLine(out _));
    }

    [Fact]
    public void A_line_at_the_limit_may_end_in_cr_lf()
    {
        var framer = new LineFramer(10);
        framer.Append(Encoding.ASCII.GetBytes(new string('x', 10) + "\r\n" + new string('y', 10) + "\n"));
        Assert.Equal(new string('x', 10) + "\r", Take(framer));
        Assert.Equal(new string('y', 10), Take(framer));
    }

    [Fact]
    public void The_default_limit_is_the_protocol_s_4096_bytes()
    {
        var framer = new LineFramer();
        framer.Append(Encoding.ASCII.GetBytes(new string('x', 4096) + "\n" + new string('y', 4097) + "\n"));
        Assert.Equal(4096, Take(framer).Length);
        Assert.Equal(FramerStatus.TooLong, framer.TryTakeLine(out _));
    }
}
