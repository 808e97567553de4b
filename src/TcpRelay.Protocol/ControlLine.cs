using System.Net;
using System.Text;

namespace TcpRelay.Protocol;

/// <summary>Parses and formats control-channel lines (protocol.md, "Control channel").</summary>
public static class ControlLine
{
    /// <summary>
    /// Parses one line, without its LF (a trailing CR is dropped). Any verb of the control channel
    /// is accepted; whether it is expected from this peer at this point is the caller's business.
    /// A failure is always answered with <c>ERROR bad-request</c>.
    /// </summary>
    public static ParseResult<ControlMessage> Parse(ReadOnlySpan<byte> line)
    {
        var split = LineWords.Split(line);
        if (!split.IsOk)
            return ParseResult<ControlMessage>.Fail(split.Error!);
        var words = split.Value!;
        return words.Verb switch
        {
            "HELLO" => ParseHello(words),
            "REGISTER" => ParseRegister(words),
            "REGISTERED" => ParseRegistered(words),
            "CONNECT" => ParseConnect(words),
            "REJECT" => WithArguments(words, 0, args =>
                Required(args, "id", SessionId.Parse, "REJECT", id => (ControlMessage)new Reject(id))),
            "PING" => WithArguments(words, 0, _ => ParseResult<ControlMessage>.Ok(Ping.Instance)),
            "PONG" => WithArguments(words, 0, _ => ParseResult<ControlMessage>.Ok(Pong.Instance)),
            "LEAVE" => WithArguments(words, 0, _ => ParseResult<ControlMessage>.Ok(Leave.Instance)),
            "ERROR" => ParseError(words),
            var verb => ParseResult<ControlMessage>.Fail($"unknown verb '{LineWords.Shorten(verb)}'"),
        };
    }

    /// <summary>Parses one line given as text (for tests and tools).</summary>
    public static ParseResult<ControlMessage> Parse(string line) => Parse(Encoding.UTF8.GetBytes(line));

    /// <summary>The message as UTF-8 bytes ending in LF, ready to write.</summary>
    public static byte[] ToBytes(ControlMessage message) => Encoding.UTF8.GetBytes(message.Format() + "\n");

    private static ParseResult<ControlMessage> ParseHello(LineWords words)
    {
        if (words.Words.Length < 2 || words.Words[1].Contains('='))
            return ParseResult<ControlMessage>.Fail("HELLO needs the protocol version");
        var version = words.Words[1];
        return WithArguments(words, 1, args =>
            Required(args, "nonce", Nonce.Parse, "HELLO", nonce => (ControlMessage)new Hello(nonce, version)));
    }

    private static ParseResult<ControlMessage> ParseRegister(LineWords words) =>
        WithArguments(words, 0, args =>
        {
            AppName? name = null;
            int? port = null;
            string? auth = null;
            if (args.TryGetValue("name", out var n))
            {
                var parsed = AppName.Parse(n);
                if (!parsed.IsOk)
                    return ParseResult<ControlMessage>.Fail(parsed.Error!);
                name = parsed.Value;
            }
            if (args.TryGetValue("port", out var p))
            {
                var parsed = PortNumber.Parse(p);
                if (!parsed.IsOk)
                    return ParseResult<ControlMessage>.Fail(parsed.Error!);
                port = parsed.Value;
            }
            if (args.TryGetValue("auth", out var a))
            {
                if (!LowerHex.Is(a, 64))
                    return ParseResult<ControlMessage>.Fail("auth must be 64 lowercase hex digits");
                auth = a;
            }
            ResumeToken? resume = null;
            if (args.TryGetValue("resume", out var r))
            {
                var parsed = ResumeToken.Parse(r);
                if (!parsed.IsOk)
                    return ParseResult<ControlMessage>.Fail(parsed.Error!);
                resume = parsed.Value;
            }
            var redirect = false;
            if (args.TryGetValue("features", out var f))
            {
                // A list of words, so that later features need no new argument; unknown ones are ignored.
                var features = f.Split(',');
                if (features.Any(word => word.Length == 0 || word.Any(c => c is not (>= 'a' and <= 'z' or >= '0' and <= '9' or '-'))))
                    return ParseResult<ControlMessage>.Fail("features must be words of a-z, 0-9 and '-' separated by commas");
                redirect = features.Contains(Register.RedirectFeature);
            }
            UserId? user = null;
            if (args.TryGetValue("user", out var u))
            {
                var parsed = UserId.Parse(u);
                if (!parsed.IsOk)
                    return ParseResult<ControlMessage>.Fail(parsed.Error!);
                user = parsed.Value;
            }
            var shared = false;
            if (args.TryGetValue("shared", out var sh))
            {
                if (sh is not ("yes" or "no"))
                    return ParseResult<ControlMessage>.Fail("shared must be yes or no");
                shared = sh == "yes";
            }
            return ParseResult<ControlMessage>.Ok(new Register(name, port, auth, resume, redirect, user, shared));
        });

    private static ParseResult<ControlMessage> ParseRegistered(LineWords words) =>
        WithArguments(words, 0, args =>
            Required(args, "name", AppName.Parse, "REGISTERED", name =>
                Required(args, "port", PortNumber.Parse, "REGISTERED", port =>
                    Required(args, "data", PortNumber.Parse, "REGISTERED",
                        data => (ControlMessage)new Registered(name, port, data)))));

    private static ParseResult<ControlMessage> ParseConnect(LineWords words) =>
        WithArguments(words, 0, args =>
            Required(args, "id", SessionId.Parse, "CONNECT", id =>
                Required(args, "client", ParseEndPoint, "CONNECT", client =>
                {
                    if (!args.TryGetValue("data", out var d))
                        return ParseResult<ControlMessage>.Ok(new Connect(id, client));
                    var data = HostPort.Parse(d, "data");
                    return data.IsOk
                        ? ParseResult<ControlMessage>.Ok(new Connect(id, client, data.Value))
                        : ParseResult<ControlMessage>.Fail(data.Error!);
                })));

    private static ParseResult<ControlMessage> ParseError(LineWords words)
    {
        if (words.Words.Length < 2)
            return ParseResult<ControlMessage>.Fail("ERROR needs a code");
        var code = ErrorCode.Parse(words.Words[1]);
        if (!code.IsOk)
            return ParseResult<ControlMessage>.Fail(code.Error!);
        // The free text is everything after the code word, spacing kept.
        var text = words.Text.TrimStart(' ')["ERROR".Length..].TrimStart(' ')[words.Words[1].Length..].Trim(' ');
        return ParseResult<ControlMessage>.Ok(new Error(code.Value, text));
    }

    private static ParseResult<IPEndPoint> ParseEndPoint(string text) =>
        IPEndPoint.TryParse(text, out var ep) && ep.Port > 0 && text.Contains(':')
            ? ParseResult<IPEndPoint>.Ok(ep)
            : ParseResult<IPEndPoint>.Fail("client must be <ip>:<port>");

    private static ParseResult<ControlMessage> WithArguments(
        LineWords words, int positional, Func<IReadOnlyDictionary<string, string>, ParseResult<ControlMessage>> build)
    {
        var args = words.Arguments(positional);
        return args.IsOk ? build(args.Value!) : ParseResult<ControlMessage>.Fail(args.Error!);
    }

    internal static ParseResult<TOut> Required<TArg, TOut>(
        IReadOnlyDictionary<string, string> args, string key, Func<string, ParseResult<TArg>> parse, string verb,
        Func<TArg, ParseResult<TOut>> next)
    {
        if (!args.TryGetValue(key, out var raw))
            return ParseResult<TOut>.Fail($"{verb} needs {key}=");
        var parsed = parse(raw);
        return parsed.IsOk ? next(parsed.Value!) : ParseResult<TOut>.Fail(parsed.Error!);
    }

    private static ParseResult<TOut> Required<TArg, TOut>(
        IReadOnlyDictionary<string, string> args, string key, Func<string, ParseResult<TArg>> parse, string verb,
        Func<TArg, TOut> build) =>
        Required(args, key, parse, verb, value => ParseResult<TOut>.Ok(build(value)));
}
