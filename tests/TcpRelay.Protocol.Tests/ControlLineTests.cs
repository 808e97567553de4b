using System.Net;
using System.Text;

namespace TcpRelay.Protocol.Tests;

public sealed class ControlLineTests
{
    private const string Id = "5b1e9d0c7a3f4e2b8c1d6a9f0e3b7c2d";
    private const string Nonce32 = "8f3a0c1d2e3f4a5b6c7d8e9f0a1b2c3d";
    private static readonly string Auth64 = new('a', 64);

    private static ControlMessage Parsed(string line)
    {
        var result = ControlLine.Parse(line);
        Assert.True(result.IsOk, $"'{line}' refused: {result.Error}");
        return result.Value!;
    }

    private static string Refused(string line)
    {
        var result = ControlLine.Parse(line);
        Assert.False(result.IsOk, $"'{line}' accepted as {result.Value}");
        Assert.False(string.IsNullOrWhiteSpace(result.Error));
        return result.Error!;
    }

    [Theory]
    [InlineData("HELLO tcprelay/1 nonce=" + Nonce32)]
    [InlineData("REGISTER")]
    [InlineData("REGISTER name=echo")]
    [InlineData("REGISTER port=8081")]
    [InlineData("REGISTER name=echo port=8081 auth=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("REGISTERED name=echo port=8081 data=8082")]
    [InlineData("CONNECT id=" + Id + " client=127.0.0.1:53412")]
    [InlineData("CONNECT id=" + Id + " client=[::1]:5000")]
    [InlineData("CONNECT id=" + Id + " client=127.0.0.1:53412 data=relay-2.example.net:8082")]
    [InlineData("CONNECT id=" + Id + " client=127.0.0.1:53412 data=127.0.0.2:8082")]
    [InlineData("CONNECT id=" + Id + " client=127.0.0.1:53412 data=[2001:db8::2]:8082")]
    [InlineData("REGISTER name=echo features=redirect")]
    [InlineData("REJECT id=" + Id)]
    [InlineData("PING")]
    [InlineData("PONG")]
    [InlineData("ERROR bad-request line longer than 4096 bytes")]
    [InlineData("ERROR timeout")]
    [InlineData("ERROR auth-failed auth does not match")]
    [InlineData("ERROR name-in-use name 'echo' is in use")]
    [InlineData("ERROR port-in-use port 8081 is in use")]
    [InlineData("ERROR port-not-allowed port 1 is outside the public range 8081-8180")]
    [InlineData("ERROR limit no free port left")]
    [InlineData("ERROR shutdown the relay is stopping")]
    public void Every_line_of_the_protocol_parses_and_formats_back_the_same(string line) =>
        Assert.Equal(line, Parsed(line).Format());

    [Fact]
    public void Each_verb_becomes_its_type()
    {
        Assert.Equal(Nonce32, Assert.IsType<Hello>(Parsed($"HELLO tcprelay/1 nonce={Nonce32}")).Nonce.Value);
        var register = Assert.IsType<Register>(Parsed($"REGISTER name=web port=9000 auth={Auth64}"));
        Assert.Equal(("web", 9000, Auth64), (register.Name!.Value.Value, register.Port!.Value, register.Auth));
        Assert.Equal(new Register(), Parsed("REGISTER"));
        var registered = Assert.IsType<Registered>(Parsed("REGISTERED name=web port=9000 data=8082"));
        Assert.Equal((9000, 8082), (registered.Port, registered.DataPort));
        var connect = Assert.IsType<Connect>(Parsed($"CONNECT id={Id} client=10.1.2.3:4567"));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.1.2.3"), 4567), connect.Client);
        Assert.Equal(Id, Assert.IsType<Reject>(Parsed($"REJECT id={Id}")).Id.Value);
        Assert.Same(Ping.Instance, Parsed("PING"));
        Assert.Same(Pong.Instance, Parsed("PONG"));
        var error = Assert.IsType<Error>(Parsed("ERROR port-in-use port 8081  is taken"));
        Assert.Equal(ErrorCode.PortInUse, error.Code);
        Assert.Equal("port 8081  is taken", error.Text);
    }

    [Fact]
    public void Unknown_error_codes_from_newer_relays_are_kept()
    {
        var error = Assert.IsType<Error>(Parsed("ERROR maintenance back soon"));
        Assert.Equal("maintenance", error.Code.Value);
    }

    [Fact]
    public void An_ipv4_mapped_client_is_written_as_plain_ipv4()
    {
        var connect = new Connect(SessionId.New(), new IPEndPoint(IPAddress.Parse("127.0.0.1").MapToIPv6(), 5000));
        Assert.EndsWith(" client=127.0.0.1:5000", connect.Format());
    }

    [Fact]
    public void Error_text_stays_on_one_line()
    {
        var line = new Error(ErrorCode.BadRequest, "two\nlines\r").Format();
        Assert.Equal("ERROR bad-request two lines", line);
        Assert.Equal("ERROR timeout", new Error(ErrorCode.Timeout, "").Format());
    }

    [Fact]
    public void Cr_lf_extra_spaces_and_unknown_arguments_are_accepted()
    {
        Assert.Equal(new Register(AppName.Parse("a").Value), Parsed("REGISTER name=a\r"));
        Assert.Equal(new Register(AppName.Parse("a").Value), Parsed("REGISTER   future-key=1    name=a  "));
        Assert.Equal(new Register(Port: 9000), Parsed("REGISTER port=9000 compress=on x=y"));
        Assert.Same(Ping.Instance, Parsed("PING later=1"));
    }

    [Fact]
    public void Register_carries_a_resume_token_for_reconnecting_apps()
    {
        var parsed = Parsed($"REGISTER name=a resume={Id}");
        Assert.Equal(new Register(AppName.Parse("a").Value, Resume: ResumeToken.Parse(Id).Value), parsed);
        Assert.Equal($"REGISTER name=a resume={Id}", parsed.Format());
        Assert.NotEqual(ResumeToken.New(), ResumeToken.New());
    }

    [Fact]
    public void Register_opts_into_redirects_with_a_feature_word_and_ignores_words_it_does_not_know()
    {
        Assert.Equal(new Register(Redirect: true), Parsed("REGISTER features=redirect"));
        Assert.Equal(new Register(Redirect: true), Parsed("REGISTER features=compress,redirect,future-2"));
        Assert.Equal(new Register(), Parsed("REGISTER features=compress"));
        Assert.Equal("REGISTER features=redirect", new Register(Redirect: true).Format());
    }

    [Fact]
    public void Register_asks_to_share_its_name_with_yes_and_no_as_the_only_words()
    {
        Assert.Equal(new Register(AppName.Parse("web").Value, Shared: true), Parsed("REGISTER name=web shared=yes"));
        Assert.Equal(new Register(AppName.Parse("web").Value), Parsed("REGISTER name=web shared=no"));
        Assert.Equal("REGISTER name=web shared=yes", new Register(AppName.Parse("web").Value, Shared: true).Format());
        Assert.Equal("REGISTER name=web", new Register(AppName.Parse("web").Value).Format());
    }

    [Fact]
    public void Register_names_the_user_whose_secret_keys_its_auth()
    {
        var auth = new string('a', 64);
        var parsed = Parsed($"REGISTER name=web user=alice_2-B auth={auth}");
        Assert.Equal(new Register(AppName.Parse("web").Value, Auth: auth, User: UserId.Parse("alice_2-B").Value), parsed);
        Assert.Equal($"REGISTER name=web user=alice_2-B auth={auth}", parsed.Format());
        Assert.Equal("not-allowed", ErrorCode.NotAllowed.Value);
    }

    [Fact]
    public void Connect_may_name_the_data_port_to_dial_for_that_session()
    {
        var connect = Assert.IsType<Connect>(Parsed($"CONNECT id={Id} client=203.0.113.7:51234 data=[2001:db8::2]:8082"));
        Assert.Equal(new HostPort("2001:db8::2", 8082), connect.Data);
        Assert.Equal(new HostPort("relay.example.", 8082), HostPort.Parse("relay.example.:8082").Value);
        Assert.Equal(new HostPort("0x7f", 8082), HostPort.Parse("0x7f:8082").Value); // a name, not a number
        Assert.Null(Assert.IsType<Connect>(Parsed($"CONNECT id={Id} client=203.0.113.7:51234")).Data);
    }

    [Fact]
    public void Leave_is_a_bare_verb()
    {
        Assert.Same(Leave.Instance, Parsed("LEAVE"));
        Assert.Equal("LEAVE", Leave.Instance.Format());
    }

    [Theory]
    [InlineData("HELLO?", "unknown verb")]
    [InlineData("register", "unknown verb")]
    [InlineData("ACCEPT id=" + Id, "unknown verb")]
    [InlineData("REGISTER noequals", "not key=value")]
    [InlineData("REGISTER =value", "not key=value")]
    [InlineData("REGISTER name=a name=b", "given twice")]
    [InlineData("REGISTER port=80a", "port")]
    [InlineData("REGISTER port=-1", "port")]
    [InlineData("REGISTER port=", "port")]
    [InlineData("REGISTER port=8o80", "port")]
    [InlineData("REGISTER port=0", "port")]
    [InlineData("REGISTER port=65536", "port")]
    [InlineData("REGISTER port=080", "port")]
    [InlineData("REGISTER name=", "name")]
    [InlineData("REGISTER name=Not_A-Name", "name")]
    [InlineData("REGISTER name=-lead", "name")]
    [InlineData("REGISTER name=trail-", "name")]
    [InlineData("REGISTER name=UPPER", "name")]
    [InlineData("REGISTER name=dot.name", "name")]
    [InlineData("REGISTER name=café", "name")]
    [InlineData("REGISTER auth=abc", "auth")]
    [InlineData("REGISTER auth=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "auth")]
    [InlineData("REGISTER resume=abc", "resume")]
    [InlineData("REGISTER resume=" + Id + "0", "resume")]
    [InlineData("REGISTER resume=0123456789ABCDEF0123456789abcdef", "resume")]
    [InlineData("REGISTER user=", "user must be 1-64")]
    [InlineData("REGISTER user=a.b", "user may contain only")]
    [InlineData("REGISTER user=" + Id + Id + "x", "user must be 1-64")]
    [InlineData("REJECT", "REJECT needs id=")]
    [InlineData("REJECT id=xyz", "id")]
    [InlineData("REJECT id=" + Id + "0", "id")]
    [InlineData("CONNECT id=" + Id, "CONNECT needs client=")]
    [InlineData("CONNECT id=" + Id + " client=nohost", "client")]
    [InlineData("CONNECT id=" + Id + " client=1.2.3.4:5 data=relay", "data must be <host>:<port>")]
    [InlineData("CONNECT id=" + Id + " client=1.2.3.4:5 data=relay:0", "data must be <host>:<port> with a port")]
    [InlineData("CONNECT id=" + Id + " client=1.2.3.4:5 data=2001:db8::2:8082", "IPv6 goes in brackets")]
    [InlineData("CONNECT id=" + Id + " client=1.2.3.4:5 data=[relay]:8082", "not an IPv6 address")]
    [InlineData("CONNECT id=" + Id + " client=1.2.3.4:5 data=-bad.example:8082", "not a host name")]
    [InlineData("CONNECT id=" + Id + " client=1.2.3.4:5 data=a..b:8082", "not a host name")]
    [InlineData("CONNECT id=" + Id + " client=1.2.3.4:5 data=256.1.1.1:8082", "not a host name")]
    [InlineData("CONNECT id=" + Id + " client=1.2.3.4:5 data=127.1:8082", "not a host name")]
    [InlineData("CONNECT id=" + Id + " client=1.2.3.4:5 data=127.0.0.01:8082", "not a host name")]
    [InlineData("REGISTER features=", "features must be words")]
    [InlineData("REGISTER features=redirect,,x", "features must be words")]
    [InlineData("REGISTER features=Redirect", "features must be words")]
    [InlineData("REGISTER shared=true", "shared must be yes or no")]
    [InlineData("REGISTER shared=", "shared must be yes or no")]
    [InlineData("HELLO nonce=" + Nonce32, "version")]
    [InlineData("HELLO tcprelay/1 nonce=short", "nonce")]
    [InlineData("REGISTERED name=a port=1", "data=")]
    [InlineData("ERROR", "code")]
    [InlineData("ERROR Bad_Code", "error code")]
    [InlineData("", "empty")]
    [InlineData("    ", "empty")]
    [InlineData("REGISTER\tname=a", "control character")]
    public void Malformed_lines_are_refused_naming_the_rule(string line, string rule) =>
        Assert.Contains(rule, Refused(line));

    [Fact]
    public void A_name_of_64_characters_is_refused_and_63_accepted()
    {
        Assert.Contains("name", Refused("REGISTER name=" + new string('a', 64)));
        Assert.IsType<Register>(Parsed("REGISTER name=" + new string('a', 63)));
    }

    [Fact]
    public void Invalid_utf8_is_refused()
    {
        var result = ControlLine.Parse(new byte[] { 0x00, 0xFF, 0xFE });
        Assert.False(result.IsOk);
        Assert.Contains("UTF-8", result.Error);
    }

    [Fact]
    public void Lines_up_to_4096_bytes_are_accepted_longer_ones_refused()
    {
        static byte[] Line(int length, bool cr = false) =>
            Encoding.ASCII.GetBytes("REGISTER x=" + new string('p', length - 11) + (cr ? "\r" : ""));
        Assert.True(ControlLine.Parse(Line(4096)).IsOk);
        Assert.True(ControlLine.Parse(Line(4096, cr: true)).IsOk);
        Assert.Contains("4096", ControlLine.Parse(Line(4097)).Error);
    }

    [Fact]
    public void Formatted_messages_round_trip_for_many_generated_values()
    {
        var random = new Random(20261125);
        const string nameChars = "abcdefghijklmnopqrstuvwxyz0123456789-";
        for (var i = 0; i < 500; i++)
        {
            var length = random.Next(1, 64);
            var chars = Enumerable.Range(0, length).Select(_ => nameChars[random.Next(nameChars.Length)]).ToArray();
            chars[0] = 'a';
            chars[^1] = '7';
            var name = AppName.Parse(new string(chars)).GetValueOrThrow();
            var port = random.Next(1, 65536);
            var auth = random.Next(2) == 0 ? null : LowerHex.Random(32);
            var messages = new ControlMessage[]
            {
                new Register(random.Next(2) == 0 ? name : null, random.Next(2) == 0 ? port : null, auth,
                    random.Next(2) == 0 ? ResumeToken.New() : null),
                new Registered(name, port, random.Next(1, 65536)),
                new Connect(SessionId.New(), new IPEndPoint(new IPAddress(random.NextInt64(0, uint.MaxValue)), port)),
                new Reject(SessionId.New()),
                new Hello(Nonce.New()),
                new Error(ErrorCode.Limit, $"text {i}"),
            };
            foreach (var message in messages)
                Assert.Equal(message, ControlLine.Parse(ControlLine.ToBytes(message).AsSpan()[..^1]).Value);
        }
    }

    [Fact]
    public void Random_and_mutated_input_never_throws_and_every_refusal_says_why()
    {
        var random = new Random(4096);
        var seeds = new[] { $"REGISTER name=echo port=8081 auth={Auth64}", $"CONNECT id={Id} client=[::1]:5000", $"ACCEPT id={Id}", "PING" }
            .Select(Encoding.UTF8.GetBytes).ToArray();
        for (var i = 0; i < 4000; i++)
        {
            byte[] input;
            if (i % 2 == 0)
            {
                input = new byte[random.Next(0, 200)];
                random.NextBytes(input);
            }
            else
            {
                var bytes = seeds[random.Next(seeds.Length)].ToList();
                for (var m = random.Next(1, 4); m > 0 && bytes.Count > 0; m--)
                {
                    var at = random.Next(bytes.Count);
                    switch (random.Next(3))
                    {
                        case 0: bytes[at] = (byte)random.Next(256); break;
                        case 1: bytes.Insert(at, (byte)random.Next(256)); break;
                        default: bytes.RemoveAt(at); break;
                    }
                }
                input = bytes.ToArray();
            }
            var control = ControlLine.Parse(input);
            Assert.True(control.IsOk || !string.IsNullOrWhiteSpace(control.Error));
            var accept = AcceptLine.Parse(input);
            Assert.True(accept.IsOk || !string.IsNullOrWhiteSpace(accept.Error));
        }
    }
}
