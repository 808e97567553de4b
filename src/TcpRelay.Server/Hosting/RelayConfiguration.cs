using Akka.Configuration;

namespace TcpRelay.Server.Hosting;

/// <summary>The relay's HOCON defaults, shipped as hocon/relay.hocon beside the binaries.</summary>
public static class RelayConfiguration
{
    /// <summary>Where the defaults are read from.</summary>
    public static string DefaultsPath => Path.Combine(AppContext.BaseDirectory, "hocon", "relay.hocon");

    /// <summary>Reads hocon/relay.hocon.</summary>
    /// <exception cref="RelayConfigException">The file is missing or is not HOCON.</exception>
    public static Config LoadDefaults() => LoadFile(DefaultsPath);

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
        try
        {
            return ConfigurationFactory.ParseString(text);
        }
        catch (Exception e)
        {
            throw new RelayConfigException($"configuration file '{path}' is not valid HOCON: {e.Message}");
        }
    }
}
