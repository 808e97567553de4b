namespace TcpRelay.Protocol.Tests;

public sealed class AcceptLineTests
{
    private const string Id = "0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("ACCEPT id=" + Id)]
    [InlineData("ACCEPT id=" + Id + "\r")]
    [InlineData("ACCEPT  id=" + Id + " future=1")]
    public void A_valid_accept_line_names_its_session(string line)
    {
        var result = AcceptLine.Parse(line);
        Assert.True(result.IsOk, result.Error);
        Assert.Equal(Id, result.Value!.Id.Value);
    }

    [Theory]
    [InlineData("HELLO", "must start with ACCEPT")]
    [InlineData("accept id=" + Id, "must start with ACCEPT")]
    [InlineData("ACCEPT", "ACCEPT needs id=")]
    [InlineData("ACCEPT id=0123456789abcdef0123456789abcde", "id")]
    [InlineData("ACCEPT id=0123456789abcdef0123456789abcdef0", "id")]
    [InlineData("ACCEPT id=0123456789ABCDEF0123456789ABCDEF", "id")]
    [InlineData("ACCEPT id=" + Id + " id=" + Id, "given twice")]
    [InlineData("", "empty")]
    public void Anything_else_is_refused_naming_the_rule(string line, string rule)
    {
        var result = AcceptLine.Parse(line);
        Assert.False(result.IsOk);
        Assert.Contains(rule, result.Error);
    }

    [Fact]
    public void Accept_formats_what_it_parses()
    {
        var accept = new Accept(SessionId.New());
        Assert.Equal(accept, AcceptLine.Parse(accept.ToBytes().AsSpan()[..^1]).Value);
        Assert.Equal((byte)'\n', accept.ToBytes()[^1]);
    }
}
