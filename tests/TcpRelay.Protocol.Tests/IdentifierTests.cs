namespace TcpRelay.Protocol.Tests;

public sealed class IdentifierTests
{
    [Theory]
    [InlineData("sha256:3AE4CAC6B01E844BF0AEFD64B07B6F45E0E8CDCD54AC35F74B86D953B15A985C", true)]
    [InlineData("SHA256:3ae4cac6b01e844bf0aefd64b07b6f45e0e8cdcd54ac35f74b86d953b15a985c", true)]
    [InlineData("3ae4cac6b01e844bf0aefd64b07b6f45e0e8cdcd54ac35f74b86d953b15a985c", false)]
    [InlineData("sha256:3ae4", false)]
    [InlineData("sha256:3ae4cac6b01e844bf0aefd64b07b6f45e0e8cdcd54ac35f74b86d953b15a985z", false)]
    [InlineData("sha1:3ae4cac6b01e844bf0aefd64b07b6f45e0e8cdcd54ac35f74b86d953b15a985c", false)]
    public void A_pin_is_sha256_and_64_hex_digits_kept_in_lowercase(string text, bool valid)
    {
        var pin = TlsPin.Parse(text);
        Assert.Equal(valid, pin.IsOk);
        if (valid)
            Assert.Equal("sha256:3ae4cac6b01e844bf0aefd64b07b6f45e0e8cdcd54ac35f74b86d953b15a985c", pin.Value);
    }

    [Fact]
    public void Session_ids_and_nonces_are_32_lowercase_hex_and_do_not_repeat()
    {
        var ids = Enumerable.Range(0, 1000).Select(_ => SessionId.New().Value).ToList();
        var nonces = Enumerable.Range(0, 1000).Select(_ => Nonce.New().Value).ToList();
        Assert.All(ids.Concat(nonces), v => Assert.True(LowerHex.Is(v, 32), v));
        Assert.Equal(1000, ids.Distinct().Count());
        Assert.Equal(1000, nonces.Distinct().Count());
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("8081", 8081)]
    [InlineData("65535", 65535)]
    public void Ports_parse(string text, int port) => Assert.Equal(port, PortNumber.Parse(text).Value);

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("99999")]
    [InlineData("123456")]
    [InlineData("+80")]
    [InlineData(" 80")]
    [InlineData("08")]
    [InlineData("")]
    public void Impossible_ports_are_refused(string text) => Assert.False(PortNumber.Parse(text).IsOk);

    [Theory]
    [InlineData("a")]
    [InlineData("echo")]
    [InlineData("0-x")]
    [InlineData("a-b-c-1")]
    public void Valid_names_parse(string name) => Assert.Equal(name, AppName.Parse(name).Value.Value);

    [Theory]
    [InlineData("")]
    [InlineData("-a")]
    [InlineData("a-")]
    [InlineData("A")]
    [InlineData("a_b")]
    [InlineData("a b")]
    public void Invalid_names_are_refused(string name) => Assert.False(AppName.Parse(name).IsOk);

    [Fact]
    public void Error_codes_are_lowercase_words_with_dashes()
    {
        Assert.Equal(ErrorCode.NameInUse, ErrorCode.Parse("name-in-use").Value);
        Assert.False(ErrorCode.Parse("Name").IsOk);
        Assert.False(ErrorCode.Parse("").IsOk);
    }
}
