using System.Text;

namespace TcpRelay.Protocol;

/// <summary>
/// The grammar every protocol line shares: UTF-8, words separated by one or more spaces,
/// a verb, maybe positional words, then key=value arguments. Unknown keys are kept so that
/// callers can ignore them; a repeated key is an error because its meaning would be ambiguous.
/// </summary>
internal sealed class LineWords
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private LineWords(string text, string[] words)
    {
        Text = text;
        Words = words;
    }

    /// <summary>The decoded line, without CR or LF.</summary>
    public string Text { get; }

    /// <summary>The space-separated words; the first is the verb.</summary>
    public string[] Words { get; }

    public string Verb => Words[0];

    /// <summary>Decodes and splits one line (its LF already removed; one trailing CR is dropped).</summary>
    public static ParseResult<LineWords> Split(ReadOnlySpan<byte> line)
    {
        if (line.Length > 0 && line[^1] == (byte)'\r')
            line = line[..^1];
        if (line.Length > ProtocolDefaults.MaxLineLength)
            return ParseResult<LineWords>.Fail($"line longer than {ProtocolDefaults.MaxLineLength} bytes");
        string text;
        try
        {
            text = StrictUtf8.GetString(line);
        }
        catch (DecoderFallbackException)
        {
            return ParseResult<LineWords>.Fail("line is not valid UTF-8");
        }
        foreach (var c in text)
            if (char.IsControl(c))
                return ParseResult<LineWords>.Fail("line contains a control character");
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return words.Length == 0
            ? ParseResult<LineWords>.Fail("empty line")
            : ParseResult<LineWords>.Ok(new LineWords(text, words));
    }

    /// <summary>
    /// The key=value arguments after <paramref name="positional"/> positional words, or the rule
    /// one of them broke.
    /// </summary>
    public ParseResult<IReadOnlyDictionary<string, string>> Arguments(int positional = 0)
    {
        var args = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var word in Words.Skip(1 + positional))
        {
            var eq = word.IndexOf('=');
            if (eq <= 0)
                return ParseResult<IReadOnlyDictionary<string, string>>.Fail($"argument '{Shorten(word)}' is not key=value");
            var key = word[..eq];
            if (!args.TryAdd(key, word[(eq + 1)..]))
                return ParseResult<IReadOnlyDictionary<string, string>>.Fail($"argument '{Shorten(key)}' given twice");
        }
        return ParseResult<IReadOnlyDictionary<string, string>>.Ok(args);
    }

    /// <summary>Keeps error texts short when a peer sends a huge word.</summary>
    public static string Shorten(string word) => word.Length <= 40 ? word : word[..40] + "...";
}
