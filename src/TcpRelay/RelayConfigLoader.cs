using System.Text.Json;
using Akka.Configuration;
using TcpRelay.Server;
using TcpRelay.Server.Hosting;

namespace TcpRelay.Cli;

/// <summary>
/// Merges the relay's configuration in order of precedence: hocon/relay.hocon, then --config FILE,
/// then TCPRELAY_* environment variables, then flags. Every tcprelay.* key can be set each way
/// (flag --pending-timeout, variable TCPRELAY_PENDING_TIMEOUT) except the secret, which never
/// appears on a command line where other users can read it.
/// </summary>
internal static class RelayConfigLoader
{
    public const string SecretKey = "secret";

    /// <summary>The tcprelay.* keys flags may set: every key of the defaults but the secret itself.</summary>
    public static IReadOnlySet<string> FlagKeys(Config defaults) =>
        defaults.GetConfig("tcprelay").AsEnumerable().Select(kv => kv.Key).Where(k => k != SecretKey).ToHashSet();

    public static Config Load(string? configFile, IReadOnlyDictionary<string, string> flags, Func<string, string?> environment)
    {
        var defaults = RelayConfiguration.LoadDefaults();
        var keys = FlagKeys(defaults).Append(SecretKey).ToList();
        var config = defaults;
        if (configFile is not null)
        {
            var file = RelayConfiguration.LoadFile(configFile);
            RelayConfiguration.CheckSettings(file, "tcprelay", keys, configFile);
            config = file.WithFallback(defaults);
        }
        var overrides = new List<string>();
        foreach (var key in keys)
        {
            if (environment(SettingVariables.NameOf(key)) is { Length: > 0 } value)
                overrides.Add($"tcprelay.{key} = {JsonSerializer.Serialize(value)}");
        }
        foreach (var (key, value) in flags)
            overrides.Add($"tcprelay.{key} = {JsonSerializer.Serialize(value)}");
        // Later lines win within one HOCON document: flags after environment.
        return overrides.Count == 0 ? config : ConfigurationFactory.ParseString(string.Join("\n", overrides)).WithFallback(config);
    }

    public static RelaySettings Settings(Config config)
    {
        try
        {
            return RelaySettings.FromConfig(config);
        }
        catch (RelayConfigException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
