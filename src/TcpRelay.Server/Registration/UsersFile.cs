using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Akka.Configuration.Hocon;
using TcpRelay.Protocol;

namespace TcpRelay.Server.Registration;

/// <summary>
/// Reads and validates a users file (<c>users-file</c>): HOCON with one block per user under
/// <c>users</c>. Every rule of the file is checked here; a file that breaks one is refused as a
/// whole, naming the line, so that a typo never grants more (or less) than was written.
/// </summary>
public static class UsersFile
{
    /// <summary>The shortest secret a user may have, in UTF-8 bytes.</summary>
    public const int MinSecretBytes = 16;

    private static readonly string[] Keys = ["secret", "secret-file", "names", "ports", "max-apps", "max-sessions"];

    /// <summary>Reads the file at <paramref name="path"/> (and the secret files it names).</summary>
    /// <param name="path">The users file.</param>
    /// <param name="publicPorts">The relay's public range: a user's ports must lie within it.</param>
    /// <exception cref="RelayConfigException">The file cannot be read or breaks a rule; the message names the file and the line.</exception>
    public static UserTable Load(string path, PublicPortRange publicPorts)
    {
        using var fingerprint = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var text = Read(path, "users file", fingerprint);
        return Parse(text, path, publicPorts, secretFile =>
        {
            var resolved = Path.IsPathRooted(secretFile) ? secretFile : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", secretFile);
            return Read(resolved, "secret file", fingerprint);
        }, () => Convert.ToHexStringLower(fingerprint.GetHashAndReset()));
    }

    /// <summary>Parses a users file's text; <paramref name="readSecretFile"/> reads a secret-file a user names.</summary>
    internal static UserTable Parse(string text, string path, PublicPortRange publicPorts, Func<string, string> readSecretFile, Func<string> fingerprint)
    {
        var lines = text.Split('\n');
        var config = HoconText.Parse(text, $"users file '{path}'");
        RelayConfigException Refused(int line, string why) =>
            new($"users file '{path}'{(line > 0 ? $" line {line}" : "")}: {why}");

        if (config.Root.GetObject()?.Items.Keys.FirstOrDefault(k => k != "users") is { } stray)
            throw Refused(LineOf(lines, stray, 0), $"'{stray}' is not a setting of a users file (it holds one block: users {{ … }})");
        if (!config.HasPath("users") || !config.GetValue("users").IsObject())
            throw Refused(LineOf(lines, "users", 0), "it needs a block users { NAME { secret = \"…\" } … }");
        var users = new Dictionary<UserId, UserGrant>();
        foreach (var (key, field) in config.GetValue("users").GetObject().Items)
        {
            var userLine = LineOf(lines, key, 0);
            var id = UserId.Parse(key);
            if (!id.IsOk)
                throw Refused(userLine, $"user '{key}': {id.Error}");
            var value = field;
            if (!value.IsObject())
                throw Refused(userLine, $"user {key} must be a block {{ secret = \"…\", … }}");
            var block = value.GetObject();
            int LineOfKey(string k) => LineOf(lines, k, Math.Max(userLine - 1, 0)) is var l && l > 0 ? l : userLine;
            if (block.Items.Keys.FirstOrDefault(k => !Keys.Contains(k)) is { } unknown)
                throw Refused(LineOfKey(unknown), $"user {key}: '{unknown}' is not a key of a user (known: {string.Join(", ", Keys)})");
            string? Single(string k)
            {
                if (block.GetKey(k) is not { } v)
                    return null;
                return v.IsString() ? v.GetString() : throw Refused(LineOfKey(k), $"user {key}: {k} must be a single value");
            }
            var secret = Single("secret");
            var secretFile = Single("secret-file");
            if (secret is not null && secretFile is not null)
                throw Refused(LineOfKey("secret-file"), $"user {key} has both secret and secret-file: give one");
            if (secretFile is not null)
            {
                if (secretFile.Length == 0)
                    throw Refused(LineOfKey("secret-file"), $"user {key}: secret-file is empty");
                try
                {
                    secret = readSecretFile(secretFile).Split('\n')[0].TrimEnd('\r');
                }
                catch (RelayConfigException e)
                {
                    throw Refused(LineOfKey("secret-file"), $"user {key}: {e.Message}");
                }
            }
            if (secret is null)
                throw Refused(userLine, $"user {key} needs a secret (secret = \"…\" or secret-file = PATH)");
            var bytes = Encoding.UTF8.GetByteCount(secret);
            if (bytes < MinSecretBytes)
                throw Refused(LineOfKey(secretFile is null ? "secret" : "secret-file"),
                    $"user {key}: the secret is {bytes} bytes, at least {MinSecretBytes} are needed (e.g. openssl rand -hex 32)");

            IReadOnlyList<string>? names = null;
            if (block.GetKey("names") is { } namesValue)
            {
                // Akka's HOCON keeps the whitespace after a list as a literal beside it.
                var lists = namesValue.Values.OfType<HoconArray>().ToList();
                if (lists.Count != 1 || namesValue.Values.Any(v => v is not HoconArray && !(v.IsString() && string.IsNullOrWhiteSpace(v.GetString()))))
                    throw Refused(LineOfKey("names"), $"user {key}: names must be a list, e.g. names = [\"web\", \"api-*\"]");
                if (lists[0].Count == 0)
                    throw Refused(LineOfKey("names"), $"user {key}: names is empty (leave it out to allow any name)");
                var list = new List<string>();
                foreach (var item in lists[0])
                {
                    var pattern = item.IsString() ? item.GetString() : throw Refused(LineOfKey("names"), $"user {key}: every name in names is a string");
                    if (WhyNotPattern(pattern) is { } why)
                        throw Refused(LineOfKey("names"), $"user {key}: names: '{pattern}' {why}");
                    list.Add(pattern);
                }
                names = list;
            }

            PublicPortRange? ports = null;
            if (Single("ports") is { } portsText)
            {
                var range = PublicPortRange.Parse(portsText);
                if (!range.IsOk)
                    throw Refused(LineOfKey("ports"), $"user {key}: ports: {range.Error}");
                if (!publicPorts.Contains(range.Value!.First) || !publicPorts.Contains(range.Value.Last))
                    throw Refused(LineOfKey("ports"), $"user {key}: ports {range.Value} are not within the relay's public-ports {publicPorts}");
                ports = range.Value;
            }
            int? Positive(string k)
            {
                if (Single(k) is not { } n)
                    return null;
                return int.TryParse(n, out var v) && v > 0 ? v : throw Refused(LineOfKey(k), $"user {key}: {k}: '{n}' is not a positive whole number");
            }
            users[id.Value] = new UserGrant(id.Value, secret, names, ports, Positive("max-apps"), Positive("max-sessions"));
        }
        return new UserTable(users, fingerprint());
    }

    /// <summary>Why a names pattern is not one, or null: an app name, or a prefix of one followed by '*'.</summary>
    private static string? WhyNotPattern(string pattern)
    {
        if (pattern == "*")
            return null;
        if (pattern.IndexOf('*') is var star && star >= 0 && star != pattern.Length - 1)
            return "may have '*' only at its end";
        var stem = star < 0 ? pattern : pattern[..^1];
        // A prefix may end with '-' (api-*); checked as the name it starts.
        var asName = AppName.Parse(star < 0 ? stem : stem + "a");
        return asName.IsOk ? null : $"is not a name{(star < 0 ? "" : " prefix")}: {asName.Error}";
    }

    private static string Read(string path, string what, IncrementalHash fingerprint)
    {
        try
        {
            var bytes = File.ReadAllBytes(path);
            fingerprint.AppendData(Encoding.UTF8.GetBytes(path));
            fingerprint.AppendData(bytes);
            return Encoding.UTF8.GetString(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new RelayConfigException($"cannot read {what} '{path}': {e.Message}");
        }
    }

    /// <summary>The 1-based line at or after <paramref name="from"/> (0-based) where <paramref name="key"/> is set; 0 if not found.</summary>
    private static int LineOf(string[] lines, string key, int from)
    {
        var pattern = new Regex($"(^|[\\s{{,])\"?{Regex.Escape(key)}\"?\\s*[={{:]");
        for (var i = from; i < lines.Length; i++)
            if (pattern.IsMatch(lines[i]))
                return i + 1;
        return 0;
    }
}
