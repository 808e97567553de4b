using System.Collections;
using TcpRelay.Server;
using TcpRelay.Server.Hosting;

namespace TcpRelay.Cli;

/// <summary>
/// The TCPRELAY_* environment: each variable sets the relay's or the agent's setting of the same
/// name (TCPRELAY_ and the key in capitals, '-' as '_'). Docker and systemd users configure through
/// these, so a mistyped one is refused as a mistyped file key is, naming the setting it most likely
/// meant, rather than leaving the default in force without a word. The relay's and the agent's
/// variables are both known to both commands: one shell or unit file often sets both.
/// </summary>
internal static class SettingVariables
{
    private const string Prefix = "TCPRELAY_";

    /// <summary>The variable that sets <paramref name="key"/>.</summary>
    public static string NameOf(string key) => Prefix + key.ToUpperInvariant().Replace('-', '_');

    /// <summary>Checks this process's environment.</summary>
    /// <exception cref="UsageException">A TCPRELAY_ variable names no setting.</exception>
    public static void CheckEnvironment() =>
        Check(Environment.GetEnvironmentVariables().Keys.Cast<string>(), KnownKeys());

    /// <summary>Every key a TCPRELAY_ variable may set: the relay's (and its secret) and the agent's.</summary>
    public static IReadOnlyCollection<string> KnownKeys()
    {
        try
        {
            var relay = RelayConfigLoader.FlagKeys(RelayConfiguration.LoadDefaults()).Append(RelayConfigLoader.SecretKey);
            var agent = AgentCommand.DefaultKeys(AgentCommand.LoadDefaults());
            return relay.Concat(agent).ToHashSet();
        }
        catch (RelayConfigException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <exception cref="UsageException">One of <paramref name="variables"/> starts with TCPRELAY_ and names none of <paramref name="keys"/>.</exception>
    public static void Check(IEnumerable<string> variables, IEnumerable<string> keys)
    {
        var known = keys.ToDictionary(NameOf, key => key);
        foreach (var variable in variables.Where(v => v.StartsWith(Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            if (known.ContainsKey(variable))
                continue;
            var nearest = known.Keys.MinBy(name => Distance(variable, name))!;
            throw new UsageException($"environment variable {variable} is not a setting; the nearest is {nearest} ({known[nearest]}). " +
                                     $"Known: {string.Join(", ", known.Keys.Order(StringComparer.Ordinal))}");
        }
    }

    /// <summary>Edit distance (insertions, deletions, substitutions): how far a typo is from a name.</summary>
    private static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
