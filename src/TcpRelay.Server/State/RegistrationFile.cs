using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using TcpRelay.Protocol;

namespace TcpRelay.Server.State;

/// <summary>
/// A registration as the state file keeps it: enough for a restarted relay to hold the app's name
/// and port for its owner, and to know the owner again by its resume token, which is not kept:
/// of the token only its <see cref="Registration.ResumeHash"/> (64 lowercase hex digits). A shared
/// name is saved once per instance, each with <paramref name="Shared"/>.
/// </summary>
internal sealed record SavedRegistration(AppName Name, int Port, string ResumeSha256, UserId? User = null, bool Shared = false);

/// <summary>What a relay found in its state file at start-up; <paramref name="Problem"/> says why it found nothing usable.</summary>
internal sealed record LoadedRegistrations(IReadOnlyList<SavedRegistration> Apps, string? Problem)
{
    public static readonly LoadedRegistrations None = new([], null);
}

/// <summary>
/// The relay's registrations in its state directory (<c>state-dir</c>), one file per control port so
/// that relays sharing a directory (a per-user default) keep apart. Written whole on every change,
/// atomically (a temporary file renamed over the old one), so a crash leaves the last table or the
/// one before it, never half of one. A file that cannot be read is set aside, never fatal.
/// </summary>
internal sealed class RegistrationFile(string path)
{
    private const int Version = 1;

    public string Path => path;

    public static RegistrationFile? For(RelaySettings settings) =>
        settings.StateDirectory is { } directory
            ? new RegistrationFile(System.IO.Path.Combine(directory, $"relay-{settings.ControlPort}.json"))
            : null;

    /// <summary>The saved registrations; none when there is no file yet, or when it is unusable (then moved aside and said why).</summary>
    public LoadedRegistrations Load()
    {
        string text;
        try
        {
            if (!File.Exists(path))
                return LoadedRegistrations.None;
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new LoadedRegistrations([], $"cannot read {path}: {e.Message}; starting with no registrations");
        }
        var (apps, error) = Parse(text);
        return error is null
            ? new LoadedRegistrations(apps!, null)
            : new LoadedRegistrations([], $"{path} is not a registrations file ({error}); {SetAside()}, starting with no registrations");
    }

    /// <summary>Replaces the file with <paramref name="apps"/>.</summary>
    /// <exception cref="IOException">The directory or file cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory or file cannot be written.</exception>
    public void Save(IEnumerable<SavedRegistration> apps)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var document = new FileDocument(Version, apps.Select(a => (FileEntry?)new FileEntry(a.Name.Value, a.Port, a.ResumeSha256, a.User?.Value, a.Shared)).ToList());
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(file, document, FileJson.Default.FileDocument);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    private static (IReadOnlyList<SavedRegistration>? Apps, string? Error) Parse(string text)
    {
        FileDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(text, FileJson.Default.FileDocument);
        }
        catch (JsonException e)
        {
            return (null, e.Message);
        }
        if (document is null || document.Version != Version || document.Apps is null)
            return (null, $"expected version {Version} with a list of apps");
        var apps = new List<SavedRegistration>();
        foreach (var (entry, i) in document.Apps.Select((e, i) => (e, i)))
        {
            var name = AppName.Parse(entry?.Name ?? "");
            if (entry is null || !name.IsOk)
                return (null, $"app {i}: {name.Error ?? "missing"}");
            if (entry.Port is < 1 or > 65535)
                return (null, $"app {i}: {entry.Port} is not a port");
            if (entry.ResumeSha256 is not { Length: 64 } hash || !hash.All(char.IsAsciiHexDigitLower))
                return (null, $"app {i}: resume-sha256 must be 64 lowercase hex digits");
            UserId? user = null;
            if (entry.User is { } userText)
            {
                var parsed = UserId.Parse(userText);
                if (!parsed.IsOk)
                    return (null, $"app {i}: {parsed.Error}");
                user = parsed.Value;
            }
            apps.Add(new SavedRegistration(name.Value, entry.Port, hash, user, entry.Shared));
        }
        return (apps, null);
    }

    private string SetAside()
    {
        var aside = $"{path}.unreadable-{DateTime.UtcNow:yyyyMMddTHHmmssZ}";
        try
        {
            File.Move(path, aside, overwrite: true);
            return $"moved to {aside}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"left in place ({e.Message})";
        }
    }

    internal sealed record FileDocument(
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("apps")] List<FileEntry?>? Apps);

    internal sealed record FileEntry(
        [property: JsonPropertyName("name")] string? Name,
        [property: JsonPropertyName("port")] int Port,
        [property: JsonPropertyName("resume-sha256")] string? ResumeSha256,
        [property: JsonPropertyName("user")] string? User = null,
        [property: JsonPropertyName("shared")] bool Shared = false);
}

[JsonSerializable(typeof(RegistrationFile.FileDocument))]
[JsonSourceGenerationOptions(WriteIndented = true)]
internal sealed partial class FileJson : JsonSerializerContext;
