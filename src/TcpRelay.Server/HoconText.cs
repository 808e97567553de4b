namespace TcpRelay.Server;

/// <summary>
/// Parses HOCON text that a person wrote (a configuration file, a users file). Akka's HOCON parser
/// takes the process down on some unbalanced brackets (<c>users = [ }</c> never returns), so the
/// brackets are checked here first: a typo in a file edited while the relay runs must be a refusal,
/// not the end of the relay.
/// </summary>
internal static class HoconText
{
    /// <summary>Parses <paramref name="text"/>; <paramref name="source"/> names it in the error.</summary>
    /// <exception cref="RelayConfigException">The text is not HOCON.</exception>
    public static Akka.Configuration.Config Parse(string text, string source)
    {
        if (WhyUnbalanced(text) is { } why)
            throw new RelayConfigException($"{source} is not valid HOCON: {why}");
        try
        {
            return Akka.Configuration.ConfigurationFactory.ParseString(text);
        }
        catch (Exception e)
        {
            throw new RelayConfigException($"{source} is not valid HOCON: {e.Message}");
        }
    }

    /// <summary>Why the brackets outside strings and comments do not pair up, or null if they do.</summary>
    internal static string? WhyUnbalanced(string text)
    {
        var open = new Stack<(char Bracket, int Line)>();
        var line = 1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\n')
            {
                line++;
            }
            else if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i + 1 < text.Length && text[i + 1] != '\n')
                    i++;
            }
            else if (c == '"')
            {
                var triple = string.CompareOrdinal(text, i, "\"\"\"", 0, 3) == 0;
                var start = line;
                i += triple ? 3 : 1;
                while (i < text.Length && !(triple ? string.CompareOrdinal(text, i, "\"\"\"", 0, 3) == 0 : text[i] == '"'))
                {
                    if (text[i] == '\n')
                    {
                        if (!triple)
                            return $"line {start}: a quoted string is not closed on its line";
                        line++;
                    }
                    if (!triple && text[i] == '\\')
                        i++;
                    i++;
                }
                if (i >= text.Length)
                    return $"line {start}: a quoted string is never closed";
                if (triple)
                    i += 2;
            }
            else if (c is '{' or '[')
            {
                open.Push((c, line));
            }
            else if (c is '}' or ']')
            {
                var expected = c == '}' ? '{' : '[';
                if (open.Count == 0)
                    return $"line {line}: '{c}' closes nothing";
                var (bracket, opened) = open.Pop();
                if (bracket != expected)
                    return $"line {line}: '{c}' closes the '{bracket}' of line {opened}";
            }
        }
        return open.Count > 0 ? $"line {open.Peek().Line}: '{open.Peek().Bracket}' is never closed" : null;
    }
}
