namespace TcpRelay.Cli;

/// <summary>
/// Reads "--name value" and "--name=value" flags against a fixed list, so that an unknown or
/// repeated flag, or one missing its value, is an error naming it rather than something ignored.
/// </summary>
internal sealed class FlagReader
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _switches = new(StringComparer.Ordinal);

    public FlagReader(IEnumerable<string> args, IReadOnlySet<string> valueFlags, IReadOnlySet<string> switchFlags)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            var arg = e.Current;
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
                throw new UsageException($"unexpected argument '{arg}'");
            var eq = arg.IndexOf('=');
            var name = eq < 0 ? arg[2..] : arg[2..eq];
            if (switchFlags.Contains(name))
            {
                if (eq >= 0)
                    throw new UsageException($"--{name} takes no value");
                if (!_switches.Add(name))
                    throw new UsageException($"--{name} given twice");
                continue;
            }
            if (!valueFlags.Contains(name))
                throw new UsageException($"unknown flag '--{name}'");
            string value;
            if (eq >= 0)
                value = arg[(eq + 1)..];
            else if (e.MoveNext())
                value = e.Current;
            else
                throw new UsageException($"--{name} needs a value");
            if (!_values.TryAdd(name, value))
                throw new UsageException($"--{name} given twice");
        }
    }

    public string? Value(string name) => _values.GetValueOrDefault(name);

    public IEnumerable<KeyValuePair<string, string>> Values => _values;

    public bool Switch(string name) => _switches.Contains(name);
}
