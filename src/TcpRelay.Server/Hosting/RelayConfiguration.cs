using System.Reflection;
using Akka.Configuration;

namespace TcpRelay.Server.Hosting;

/// <summary>The relay's HOCON defaults, hocon/relay.hocon, embedded in this assembly.</summary>
public static class RelayConfiguration
{
    // LogicalName in TcpRelay.Server.csproj.
    private const string DefaultsResource = "hocon/relay.hocon";

    /// <summary>Reads hocon/relay.hocon.</summary>
    /// <exception cref="RelayConfigException">The assembly was built without it, or it is not HOCON.</exception>
    public static Config LoadDefaults() => LoadEmbedded(typeof(RelayConfiguration).Assembly, DefaultsResource);

    /// <summary>Reads a HOCON file that <paramref name="assembly"/> carries as an embedded resource.</summary>
    /// <exception cref="RelayConfigException">There is no resource of that name, or it is not HOCON.</exception>
    public static Config LoadEmbedded(Assembly assembly, string resourceName)
    {
        using var stream = assembly.GetManifestResourceStream(resourceName)
            ?? throw new RelayConfigException($"{assembly.GetName().Name} was built without its defaults ({resourceName})");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), resourceName);
    }

    /// <summary>
    /// Checks that <paramref name="path"/> in a user's configuration file, if there, is a block whose
    /// keys are all known settings: a misspelt key would otherwise be ignored without a word and its
    /// default used.
    /// </summary>
    /// <exception cref="RelayConfigException">The path is not a block, or holds a key that is not a setting.</exception>
    public static void CheckSettings(Config config, string path, IEnumerable<string> known, string file)
    {
        if (!config.HasPath(path))
            return;
        var value = config.GetValue(path);
        if (!value.IsObject())
            throw new RelayConfigException($"configuration file '{file}': {path} must be a block of settings, e.g. {path} {{ … }}");
        var knownKeys = known.ToHashSet();
        foreach (var key in value.GetObject().Items.Keys)
            if (!knownKeys.Contains(key))
                throw new RelayConfigException($"configuration file '{file}': {path}.{key} is not a setting (known: {string.Join(", ", knownKeys.Order())})");
    }

    /// <summary>Reads a HOCON file.</summary>
    /// <exception cref="RelayConfigException">The file cannot be read or is not HOCON.</exception>
    public static Config LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new RelayConfigException($"cannot read configuration file '{path}': {e.Message}");
        }
        return Parse(text, path);
    }

    private static Config Parse(string text, string source) => HoconText.Parse(text, $"configuration file '{source}'");
}
