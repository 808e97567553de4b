using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using CsCheck;

namespace TcpRelay.Protocol.Tests;

/// <summary>
/// The parsers that face the network, fed generated input: valid lines round-trip, random and
/// mutated lines never throw, and every reject names the rule the input broke.
/// </summary>
public sealed class ParserPropertyTests
{
    private const long Iterations = 20_000;

    /// <summary>Every rule a parser may name; a reject must be exactly one of these.</summary>
    private static readonly Dictionary<string, Regex> Rules = new()
    {
        ["too-long"] = Rule($"line longer than {ProtocolDefaults.MaxLineLength} bytes"),
        ["utf8"] = Rule("line is not valid UTF-8"),
        ["control-char"] = Rule("line contains a control character"),
        ["empty"] = Rule("empty line"),
        ["not-key-value"] = Rule("argument '.*' is not key=value"),
        ["twice"] = Rule("argument '.*' given twice"),
        ["unknown-verb"] = Rule("unknown verb '.*'"),
        ["not-accept"] = Rule("a data connection must start with ACCEPT, not '.*'"),
        ["hello-version"] = Rule("HELLO needs the protocol version"),
        ["missing"] = Rule("(HELLO|REGISTERED|CONNECT|REJECT|ACCEPT) needs (nonce|name|port|data|id|client)="),
        ["name"] = Rule("name (must be 1-63 characters|may contain only a-z, 0-9 and '-'|must not start or end with '-')"),
        ["port"] = Rule("port must be a decimal number from 1 to 65535"),
        ["hex"] = Rule("(id|nonce|resume) must be 32 lowercase hex digits|auth must be 64 lowercase hex digits"),
        ["client"] = Rule("client must be <ip>:<port>"),
        ["data"] = Rule("data must be <host>:<port>( with a port from 1 to 65535|: '.*' is not (an IPv6 address|a host name or IPv4 address \\(IPv6 goes in brackets\\)))?"),
        ["features"] = Rule("features must be words of a-z, 0-9 and '-' separated by commas"),
        ["error-code"] = Rule("ERROR needs a code|error code may contain only a-z and '-'"),
    };

    private static Regex Rule(string pattern) => new($"^(?:{pattern})$", RegexOptions.CultureInvariant);

    private static string RuleOf(string? error)
    {
        Assert.NotNull(error);
        var named = Rules.Where(r => r.Value.IsMatch(error)).Select(r => r.Key).ToList();
        Assert.True(named.Count == 1, $"'{error}' does not name exactly one known rule");
        return named[0];
    }

    // ---- generators

    private static readonly Gen<string> Hex32 = Gen.Char["0123456789abcdef"].Array[32].Select(c => new string(c));
    private static readonly Gen<string> Hex64 = Gen.Char["0123456789abcdef"].Array[64].Select(c => new string(c));
    private static readonly Gen<SessionId> Ids = Hex32.Select(h => SessionId.Parse(h).Value);
    private static readonly Gen<int> Ports = Gen.Int[1, 65535];

    private static readonly Gen<AppName> Names =
        Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789-"].Array[1, AppName.MaxLength]
            .Select(c => new string(c).Trim('-'))
            .Where(s => s.Length > 0)
            .Select(s => AppName.Parse(s).Value);

    private static readonly Gen<IPEndPoint> Clients = Gen.OneOf(
        Gen.Select(Gen.Byte.Array[4], Ports, (b, p) => new IPEndPoint(new IPAddress(b), p)),
        Gen.Select(Gen.Byte.Array[16], Ports, (b, p) => new IPEndPoint(new IPAddress(b), p)));

    private static readonly Gen<HostPort> DataAddresses = Gen.OneOf(
        Gen.Select(Gen.OneOf("relay-2", "node3.example.net", "10.0.0.7", "2001:db8::2", "::1"), Ports, (host, port) => new HostPort(host, port)),
        Gen.Select(Clients, c => new HostPort(c.Address.ToString(), c.Port)));

    private static readonly Gen<ControlMessage> Messages = Gen.OneOf<ControlMessage>(
        Hex32.Select(n => (ControlMessage)new Hello(Nonce.Parse(n).Value)),
        Gen.Select(Names.Nullable(), Ports.Nullable(), Hex64.Null(), Hex32.Null(), Gen.Bool,
            (name, port, auth, resume, redirect) => (ControlMessage)new Register(
                name, port, auth,
                resume is null ? null : ResumeToken.Parse(resume).Value, redirect)),
        Gen.Select(Names, Ports, Ports, (n, p, d) => (ControlMessage)new Registered(n, p, d)),
        Gen.Select(Ids, Clients, DataAddresses.Nullable(), (id, c, data) => (ControlMessage)new Connect(id, c, data)),
        Ids.Select(id => (ControlMessage)new Reject(id)),
        Gen.OneOf<ControlMessage>(Ping.Instance, Pong.Instance, Leave.Instance),
        Gen.Select(
            Gen.OneOf(ErrorCode.BadRequest, ErrorCode.Timeout, ErrorCode.AuthFailed, ErrorCode.NameInUse,
                ErrorCode.PortInUse, ErrorCode.PortNotAllowed, ErrorCode.Limit, ErrorCode.Shutdown),
            Gen.Char["abc XYZ-é€"].Array[0, 40].Select(c => new string(c).Trim(' ')),
            (code, text) => (ControlMessage)new Error(code, text)));

    private static readonly Gen<string> Verbs = Gen.OneOf(
        "HELLO", "REGISTER", "REGISTERED", "CONNECT", "REJECT", "PING", "PONG", "LEAVE", "ERROR", "ACCEPT");

    /// <summary>Values a peer might send, valid and nearly valid, to reach deep into the parsers.</summary>
    private static readonly Gen<string> Values = Gen.OneOf(Hex32, Hex64, Ports.Select(p => p.ToString()),
        Gen.String[0, 8],
        Gen.OneOf("127.0.0.1:9", "[::1]:80", "127.0.0.1:0", "1.2.3.4", "app-1", "App", "-a", "0", "65536",
            "redirect", "redirect,x", ",", "[x]:1", "a..b:1", "::1:80"));

    private static readonly Gen<string> Arguments = Gen.Select(
        Gen.OneOf("id=", "nonce=", "name=", "port=", "data=", "auth=", "client=", "resume=", "features=", "future="),
        Values, (key, value) => key + value);

    /// <summary>Any word at all: protocol words, separators, control characters, random text.</summary>
    private static readonly Gen<string> Fragments = Gen.OneOf(
        Verbs,
        Arguments,
        Gen.OneOf("accept", "tcprelay/1", "limit", "BAD_CODE", "=", "==", "x=", "=x", " ", "  ", "\r", "\t",
            "\0", "é", "\u2028", "-"),
        Gen.String[0, 6]);

    /// <summary>Mostly a verb and arguments, so that most lines get past the first checks.</summary>
    private static readonly Gen<byte[]> WordSoup =
        from verb in Gen.OneOf(Verbs, Verbs, Verbs, Fragments)
        from words in Gen.OneOf(Arguments, Arguments, Fragments).Array[0, 8]
        select Encoding.UTF8.GetBytes(string.Join(' ', words.Prepend(verb)));

    /// <summary>A valid line with one argument's value swapped for another.</summary>
    private static readonly Gen<byte[]> SwappedValue =
        from message in Messages
        from value in Values
        from pick in Gen.Int[0, 1 << 20]
        let words = message.Format().Split(' ')
        let arguments = words.Select((w, i) => (w, i)).Where(x => x.w.Contains('=')).Select(x => x.i).ToArray()
        select Encoding.UTF8.GetBytes(arguments.Length == 0
            ? message.Format()
            : string.Join(' ', words.Select((w, i) =>
                i == arguments[pick % arguments.Length] ? w[..(w.IndexOf('=') + 1)] + value : w)));

    private static readonly Gen<byte[]> AnyBytes = Gen.OneOf(
        Gen.Byte.Array[0, 200],
        Gen.Byte[32, 126].Array[0, 200],
        Gen.Byte.Array[ProtocolDefaults.MaxLineLength - 2, ProtocolDefaults.MaxLineLength + 3]);

    // ---- properties

    [Fact]
    public void Every_control_message_parses_back_to_itself()
    {
        Messages.Sample(message =>
        {
            var result = ControlLine.Parse(ControlLine.ToBytes(message).AsSpan()[..^1]);
            Assert.True(result.IsOk, result.Error);
            Assert.Equal(message, result.Value);
        }, iter: Iterations);
    }

    [Fact]
    public void Every_accept_line_parses_back_to_itself()
    {
        Ids.Sample(id =>
        {
            var accept = new Accept(id);
            Assert.Equal(accept, AcceptLine.Parse(accept.ToBytes().AsSpan()[..^1]).Value);
        }, iter: Iterations);
    }

    [Fact]
    public void Random_bytes_never_throw_and_every_reject_names_a_rule()
    {
        var rulesSeen = new HashSet<string>();
        Gen.OneOf(AnyBytes, WordSoup, SwappedValue).Sample(line =>
        {
            var control = ControlLine.Parse(line);
            if (!control.IsOk)
                lock (rulesSeen) rulesSeen.Add(RuleOf(control.Error));
            var accept = AcceptLine.Parse(line);
            if (!accept.IsOk)
                lock (rulesSeen) rulesSeen.Add(RuleOf(accept.Error));
        }, iter: Iterations);
        // The generators are only worth something if they reach every rule, not just the first checks.
        Assert.True(rulesSeen.Count == Rules.Count,
            $"reached only {string.Join(", ", rulesSeen)} of {string.Join(", ", Rules.Keys)}");
    }

    private static readonly Gen<(string Rule, byte[] Line, string Original)> MutatedControlLines =
        from message in Messages
        from position in Gen.Int[0, 1 << 20]
        from noise in Gen.Byte[0, 31].Where(b => b != (byte)'\r')
        from bad in Gen.OneOf<byte>(0x80, 0xC0, 0xC3, 0xE2, 0xF5, 0xFF)
        from choice in Gen.Int[0, 3]
        let line = message.Format()
        let at = position % (line.Length + 1)
        select choice switch
        {
            // A control character anywhere (a CR is allowed only last, so it is not used here).
            0 => ("control-char", Encoding.UTF8.GetBytes(line.Insert(at, ((char)noise).ToString())), line),
            // A byte that is not UTF-8, anywhere.
            1 => ("utf8", Splice(Encoding.UTF8.GetBytes(line), at, bad), line),
            // Padding past the longest line.
            2 => ("too-long", Encoding.UTF8.GetBytes(line + " x=" + new string('y', ProtocolDefaults.MaxLineLength)), line),
            // The verb in lower case is no verb at all.
            _ => ("unknown-verb", Encoding.UTF8.GetBytes(line.ToLowerInvariant()), line),
        };

    private static byte[] Splice(byte[] bytes, int at, byte inserted)
    {
        at = Math.Min(at, bytes.Length);
        return [.. bytes.AsSpan(0, at), inserted, .. bytes.AsSpan(at)];
    }

    /// <summary>Mutations of a line's arguments: only for lines that have the argument.</summary>
    private static readonly Gen<(string Rule, byte[] Line, string Original)> MutatedArguments =
        from message in Messages.Where(m => m is Registered or Connect or Reject or Register { Port: not null })
        from choice in Gen.Int[0, 4]
        from junk in Gen.OneOf("", "0", "65536", "-1", "1e3", "０", "+80", "99999999")
        from hexFlaw in Gen.OneOf("A", "g", "", "00")
        let line = message.Format()
        let words = line.Split(' ')
        let key = message switch
        {
            Registered or Register => "port",
            _ => "id",
        }
        let index = Array.FindIndex(words, w => w.StartsWith(key + "=", StringComparison.Ordinal))
        let mutated = choice switch
        {
            // The same argument twice.
            0 => ("twice", line + " " + words[index]),
            // A bare word where key=value belongs.
            1 => ("not-key-value", line + " " + key),
            // A value that breaks its own rule.
            2 => (key == "port" ? "port" : "hex",
                  Replace(words, index, key == "port" ? $"port={junk}" : $"id={words[index][3..^1]}{hexFlaw}")),
            // A required argument left out (REGISTER has none).
            3 when message is not Register => ("missing", Replace(words, index, "")),
            _ => ("twice", Replace(words, index, words[index] + " " + words[index])),
        }
        select (mutated.Item1, Encoding.UTF8.GetBytes(mutated.Item2), line);

    private static string Replace(string[] words, int index, string word) =>
        string.Join(' ', words.Select((w, i) => i == index ? word : w));

    [Fact]
    public void A_mutated_control_line_is_refused_for_the_rule_the_mutation_broke()
    {
        Gen.OneOf(MutatedControlLines, MutatedArguments).Sample(m =>
        {
            var result = ControlLine.Parse(m.Line);
            Assert.False(result.IsOk, $"'{m.Original}' mutated for {m.Rule} to '{Encoding.UTF8.GetString(m.Line)}' was accepted");
            Assert.Equal(m.Rule, RuleOf(result.Error));
        }, iter: Iterations);
    }

    private static readonly Gen<(string Rule, string Line)> MutatedAcceptLines =
        from id in Hex32
        from choice in Gen.Int[0, 5]
        from verb in Gen.OneOf("accept", "Accept", "ACCEPTED", "HELLO", "CONNECT", "GET")
        from flaw in Gen.OneOf("A", "g", "", "00")
        from noise in Gen.Char[(char)0, (char)31].Where(c => c != '\r')
        select choice switch
        {
            0 => ("not-accept", $"{verb} id={id}"),
            1 => ("missing", $"ACCEPT other={id}"),
            2 => ("hex", $"ACCEPT id={id[..^1]}{flaw}"),
            3 => ("twice", $"ACCEPT id={id} id={id}"),
            4 => ("not-key-value", $"ACCEPT {id}"),
            _ => ("control-char", $"ACCEPT id={id}{noise}"),
        };

    [Fact]
    public void A_mutated_accept_line_is_refused_for_the_rule_the_mutation_broke()
    {
        MutatedAcceptLines.Sample(m =>
        {
            var result = AcceptLine.Parse(m.Line);
            Assert.False(result.IsOk, $"'{m.Line}' was accepted; expected {m.Rule}");
            Assert.Equal(m.Rule, RuleOf(result.Error));
        }, iter: Iterations);
    }

    [Fact]
    public void The_framer_cuts_the_same_lines_however_the_stream_is_chunked()
    {
        var lines = Gen.Byte.Where(b => b != (byte)'\n').Array[0, 300].Array[0, 8];
        var tail = Gen.Byte.Where(b => b != (byte)'\n').Array[0, 50];
        var cuts = Gen.Int[1, 64].Array[1, 40];
        Gen.Select(lines, tail, cuts).Sample((expected, rest, chunkSizes) =>
        {
            var stream = expected.SelectMany(l => l.Append((byte)'\n')).Concat(rest).ToArray();
            var framer = new LineFramer(maxLineLength: 300);
            var taken = new List<byte[]>();
            var offset = 0;
            var chunk = 0;
            while (offset < stream.Length)
            {
                var size = Math.Min(chunkSizes[chunk++ % chunkSizes.Length], stream.Length - offset);
                framer.Append(stream.AsSpan(offset, size));
                offset += size;
                while (framer.TryTakeLine(out var line) == FramerStatus.Line)
                    taken.Add(line.ToArray());
            }
            Assert.Equal(expected.Length, taken.Count);
            for (var i = 0; i < expected.Length; i++)
                Assert.Equal(expected[i], taken[i]);
            Assert.Equal(rest, framer.TakeRemainder());
        }, iter: 5_000);
    }
}
