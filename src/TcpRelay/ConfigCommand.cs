using System.Text;
using System.Text.Json;

namespace TcpRelay.Cli;

/// <summary><c>tcprelay config print</c>: the configuration serve would run with, secrets masked.</summary>
internal static class ConfigCommand
{
    public const string Usage =
        "usage: tcprelay config print [--config FILE] [any tcprelay serve flag]\n" +
        "  Prints the effective relay configuration as HOCON: hocon/relay.hocon, then --config FILE, then\n" +
        "  TCPRELAY_* variables, then flags, merged; the shared secret is shown as \"***\".";

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var (config, settings, _, _, _) = ServeCommand.LoadConfig(args);
        var section = config.GetConfig("tcprelay");
        var text = new StringBuilder("# effective configuration (defaults, --config file, TCPRELAY_* variables, flags)\ntcprelay {\n");
        foreach (var key in section.AsEnumerable().Select(kv => kv.Key).Where(k => k != RelayConfigLoader.SecretKey).Order(StringComparer.Ordinal))
            text.Append("  ").Append(key).Append(" = ").Append(JsonSerializer.Serialize(section.GetString(key))).Append('\n');
        // The secret itself never leaves the process; whether one is set is what an operator needs.
        text.Append("  # secret: ").Append(settings.Secret is null ? "none" : "set (\"***\")").Append('\n');
        text.Append("}\n");
        await output.WriteAsync(text.ToString());
        return 0;
    }
}
