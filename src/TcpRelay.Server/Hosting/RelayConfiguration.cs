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

    /// <summary>Reads a HOCON file.</summary>
    /// <exception cref="RelayConfigException">The file cannot be read or is not HOCON.</exception>
    public static Config LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
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
