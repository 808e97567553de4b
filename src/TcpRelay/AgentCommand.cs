using System.Runtime.InteropServices;
using Akka.Configuration;
using Serilog;
using Serilog.Extensions.Logging;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server;
using TcpRelay.Server.Hosting;

namespace TcpRelay.Cli;

/// <summary><c>tcprelay agent</c>: expose local services through a relay until SIGINT or SIGTERM.</summary>
internal static class AgentCommand
{
    public const string Usage =
        "usage: tcprelay agent --relay HOST[:PORT][,HOST[:PORT]...] --to HOST:PORT [--name N] [--port P] [--shared]\n" +
        "                      [--proxy-protocol v1|v2] [--health-interval D] [--to HOST:PORT ...]\n" +
        "                      [--config FILE] [--secret-file PATH] [--user ID] [--resume-token-file PATH] [--log-level LEVEL]\n" +
        "                      [--connect-timeout D] [--drain-timeout D] [--taken-timeout D] [--session-log info|debug|off]\n" +
        "                      [--heartbeat-interval D] [--reconnect-delay-min D] [--reconnect-delay-max D]\n" +
        "                      [--tls] [--tls-ca FILE | --tls-pin sha256:HEX] [--tls-server-name NAME]\n" +
        "  Each --to is a local service; the --name, --port, --shared, --proxy-protocol and --health-interval\n" +
        "  after it are that service's.\n" +
        "  --tls verifies the relay against the system's trust store and its host name; --tls-ca trusts that CA\n" +
        "  (or self-signed certificate) instead, --tls-pin exactly that key (as tcprelay cert prints it); either implies --tls.\n" +
        "  The shared secret (with --user, that user's secret) comes from TCPRELAY_SECRET or --secret-file.\n" +
        "  Every setting may also be given as\n" +
        "  TCPRELAY_<SETTING> (TCPRELAY_RELAY, TCPRELAY_DRAIN_TIMEOUT=10s) or in a --config file; flags win.\n" +
        "  A --config file may list services: tcprelay-agent.services = [{ to = \"127.0.0.1:22\", name = ssh }]";

    // LogicalName in TcpRelay.csproj.
    private const string DefaultsResource = "hocon/agent.hocon";

    // Flags that belong to the --to before them; in a config file, keys of a service's block.
    private static readonly string[] ServiceKeys = ["name", "port", "shared", "proxy-protocol", "health-interval"];

    private static readonly HashSet<string> SettingFlags =
        ["relay", "secret-file", "user", "resume-token-file", "connect-timeout", "heartbeat-interval", "reconnect-delay-min", "reconnect-delay-max", "drain-timeout",
         "taken-timeout", "session-log", "tls-ca", "tls-pin", "tls-server-name"];

    // Flags that take no value: --tls sets the tls setting to on.
    private static readonly HashSet<string> SwitchFlags = ["tls"];

    public static async Task<int> RunAsync(string[] args)
    {
        SettingVariables.CheckEnvironment();
        var settings = Parse(args, Environment.GetEnvironmentVariable);
        Log.Logger = ConsoleLog.Create(settings.Level);
        try
        {
            using var tokenFile = OpenTokenFile(settings);
            return await RunAgentAsync(settings, tokenFile is null ? settings.Relay : settings.Relay with { ResumeToken = tokenFile.Token });
        }
        finally
        {
            await Log.CloseAndFlushAsync();
        }
    }

    /// <summary>
    /// The agent's settings. <paramref name="TokenFile"/>: where its resume token is kept, or null
    /// (a token for this run only, <paramref name="TokenNote"/> says why when that was not asked for);
    /// <paramref name="TokenFileIsDefault"/>: the per-agent default, which falls back to a token for
    /// this run when it cannot be used, where a file given explicitly is an error.
    /// </summary>
    internal sealed record AgentSettings(
        RelayListenerOptions Relay, IReadOnlyList<ExposedService> Services, Serilog.Events.LogEventLevel Level,
        string? TokenFile, bool TokenFileIsDefault, string? TokenNote)
    {
        /// <summary>On SIGTERM or SIGINT, how long running sessions may go on once the services are deregistered.</summary>
        public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

        /// <summary>How long a name or port another app holds is waited for.</summary>
        public TimeSpan TakenTimeout { get; init; } = TimeSpan.FromMinutes(1);

        /// <summary>The level of the per-session lines; None: left out.</summary>
        public Microsoft.Extensions.Logging.LogLevel SessionLog { get; init; } = Microsoft.Extensions.Logging.LogLevel.Information;
    }

    /// <summary>The resume token file, held for the agent's lifetime, or null when the token lives in memory only.</summary>
    /// <exception cref="UsageException">A token file given explicitly cannot be used.</exception>
    private static ResumeTokenFile? OpenTokenFile(AgentSettings settings)
    {
        const string InMemory = "using a token for this run only: a restarted agent waits out the relay's grace period for its names";
        if (settings.TokenFile is not { } path)
        {
            if (settings.TokenNote is { } note)
                Log.Warning("No resume token file ({Problem}); {Consequence}", note, InMemory);
            return null;
        }
        try
        {
            return ResumeTokenFile.Open(path);
        }
        catch (UsageException e) when (settings.TokenFileIsDefault)
        {
            Log.Warning("{Problem}; {Consequence}", e.Message, InMemory);
            return null;
        }
    }

    /// <summary>Reads hocon/agent.hocon, then --config, then the environment, then flags, into the agent's options.</summary>
    /// <exception cref="UsageException">Anything that cannot be used, named.</exception>
    internal static AgentSettings Parse(string[] args, Func<string, string?> environment)
    {
        var flags = new Dictionary<string, string>();
        var services = new List<(string To, Dictionary<string, string> Flags)>();
        string? configFile = null, logLevel = null;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
                throw new UsageException($"unexpected argument '{arg}'");
            var eq = arg.IndexOf('=');
            var name = eq < 0 ? arg[2..] : arg[2..eq];
            if (SwitchFlags.Contains(name))
            {
                if (eq >= 0)
                    throw new UsageException($"--{name} takes no value");
                if (!flags.TryAdd(name, "on"))
                    throw new UsageException($"--{name} given twice");
                continue;
            }
            string value;
            if (name == "shared" && eq < 0)
                value = "yes"; // a switch; --shared=no says the opposite
            else if (eq >= 0)
                value = arg[(eq + 1)..];
            else if (i + 1 < args.Length)
                value = args[++i];
            else
                throw new UsageException($"--{name} needs a value");
            switch (name)
            {
                case "to":
                    services.Add((value, []));
                    break;
                case var key when ServiceKeys.Contains(key):
                    if (services.Count == 0)
                        throw new UsageException($"--{name} must follow the --to it belongs to");
                    if (!services[^1].Flags.TryAdd(key, value))
                        throw new UsageException($"--{name} given twice for --to {services[^1].To}");
                    break;
                case "config" when configFile is null:
                    configFile = value;
                    break;
                case "log-level" when logLevel is null:
                    logLevel = value;
                    break;
                case var setting when SettingFlags.Contains(setting):
                    if (!flags.TryAdd(setting, value))
                        throw new UsageException($"--{name} given twice");
                    break;
                case "config" or "log-level":
                    throw new UsageException($"--{name} given twice");
                default:
                    throw new UsageException($"unknown flag '--{name}'");
            }
        }
        var level = ConsoleLog.ParseLevel(logLevel);
        Config config;
        Config? file = null;
        HashSet<string> defaultKeys;
        try
        {
            var defaults = LoadDefaults();
            defaultKeys = DefaultKeys(defaults);
            file = configFile is null ? null : RelayConfiguration.LoadFile(configFile);
            config = file is null ? defaults : file.WithFallback(defaults);
        }
        catch (RelayConfigException e)
        {
            throw new UsageException(e.Message);
        }
        if (configFile is not null)
        {
            try
            {
                RelayConfiguration.CheckSettings(config, "tcprelay-agent", defaultKeys, configFile);
            }
            catch (RelayConfigException e)
            {
                throw new UsageException(e.Message);
            }
        }
        var section = config.GetConfig("tcprelay-agent");
        // Each layer over the one before, as for the relay: defaults, --config, TCPRELAY_<KEY>, flags.
        // Source says where the value came from, so that an error points at what to change.
        string Setting(string key) => SettingWithSource(key).Value;
        (string Value, string Source) SettingWithSource(string key)
        {
            if (flags.TryGetValue(key, out var flag))
                return (flag, $"--{key}");
            var variable = SettingVariables.NameOf(key);
            if (environment(variable) is { Length: > 0 } fromEnvironment)
                return (fromEnvironment, variable);
            var inFile = file?.HasPath($"tcprelay-agent.{key}") == true;
            return (section.GetString(key) ?? "", inFile ? $"tcprelay-agent.{key} in {configFile}" : $"tcprelay-agent.{key} (default)");
        }
        TimeSpan DurationSetting(string key)
        {
            var (value, source) = SettingWithSource(key);
            return Duration.Parse(value) is { } d && d > TimeSpan.Zero
                ? d
                : throw new UsageException($"{source}: '{value}' is not {Duration.Forms}, above zero");
        }

        var (relayText, relaySource) = SettingWithSource("relay");
        if (relayText.Length == 0)
            throw new UsageException("--relay HOST[:PORT] is required");
        IReadOnlyList<HostPort> nodes;
        try
        {
            nodes = RelayListenerOptions.ParseNodes(relayText);
        }
        catch (FormatException e)
        {
            throw new UsageException($"{relaySource}: {e.Message}");
        }
        var exposed = new List<ExposedService>();
        try
        {
            var listed = section.GetValue("services");
            if (listed is not null && !listed.Values.Any(v => v is Akka.Configuration.Hocon.HoconArray))
                throw new FormatException("tcprelay-agent.services must be a list of { to = \"host:port\", name = …, port = …, … }");
            foreach (var entry in listed?.GetArray() ?? [])
            {
                if (!entry.IsObject())
                    throw new FormatException("every service in tcprelay-agent.services is a block { to = \"host:port\", name = …, port = …, … }");
                var service = entry.GetObject();
                if (service.Items.Keys.FirstOrDefault(k => k != "to" && !ServiceKeys.Contains(k)) is { } unknown)
                    throw new FormatException($"a service in tcprelay-agent.services has '{unknown}', which is not one of to, {string.Join(", ", ServiceKeys)}");
                string? Field(string key) => service.GetKey(key) is not { } value ? null
                    : value.IsString() ? value.GetString()
                    : throw new FormatException($"a service's {key} in tcprelay-agent.services must be a single value");
                exposed.Add(Service(Field("to") ?? throw new FormatException("every service in the config needs to = \"host:port\""), Field));
            }
            exposed.AddRange(services.Select(s => Service(s.To, s.Flags.GetValueOrDefault)));
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
        if (exposed.Count == 0)
            throw new UsageException("nothing to expose: give --to HOST:PORT (or services in --config)");
        var duplicate = exposed.Where(s => s.Name is not null).GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new UsageException($"--name {duplicate.Key} is given to more than one service");

        var min = DurationSetting("reconnect-delay-min");
        var max = DurationSetting("reconnect-delay-max");
        if (max < min)
            throw new UsageException($"{SettingWithSource("reconnect-delay-max").Source} ({Duration.Format(max)}) is below {SettingWithSource("reconnect-delay-min").Source} ({Duration.Format(min)})");
        var secret = ReadSecret(environment, Setting("secret-file"));
        var (userText, userSource) = SettingWithSource("user");
        string? user = null;
        if (userText.Length > 0)
        {
            if (UserId.Parse(userText) is { IsOk: false } bad)
                throw new UsageException($"{userSource}: {bad.Error}");
            if (secret is null)
                throw new UsageException($"{userSource} needs that user's secret: set TCPRELAY_SECRET or --secret-file");
            user = userText;
        }
        var (tlsText, tlsSource) = SettingWithSource("tls");
        var tls = tlsText.ToLowerInvariant() switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            _ => throw new UsageException($"{tlsSource}: '{tlsText}' is not on or off"),
        };
        string? Optional(string key) => Setting(key) is { Length: > 0 } value ? value : null;
        var relay = new RelayListenerOptions
        {
            RelayHost = nodes[0].Host,
            ControlPort = nodes[0].Port,
            OtherNodes = nodes.Skip(1).ToList(),
            Secret = secret,
            User = user,
            ConnectTimeout = DurationSetting("connect-timeout"),
            HeartbeatInterval = DurationSetting("heartbeat-interval"),
            ReconnectDelayMin = min,
            ReconnectDelayMax = max,
            Tls = tls,
            TlsCaFile = Optional("tls-ca"),
            TlsPin = Optional("tls-pin"),
            TlsServerName = Optional("tls-server-name"),
        };
        try
        {
            relay.Validate();
        }
        catch (ArgumentException e)
        {
            throw UsageException.From(e);
        }
        var (sessionLogText, sessionLogSource) = SettingWithSource("session-log");
        var sessionLog = sessionLogText.ToLowerInvariant() switch
        {
            "info" => Microsoft.Extensions.Logging.LogLevel.Information,
            "debug" => Microsoft.Extensions.Logging.LogLevel.Debug,
            "off" => Microsoft.Extensions.Logging.LogLevel.None,
            _ => throw new UsageException($"{sessionLogSource}: '{sessionLogText}' is not one of info, debug, off"),
        };
        AgentSettings With(string? tokenFile, bool isDefault, string? note) => new(relay, exposed, level, tokenFile, isDefault, note)
        {
            DrainTimeout = DurationSetting("drain-timeout"),
            TakenTimeout = DurationSetting("taken-timeout"),
            SessionLog = sessionLog,
        };
        var tokenSetting = Setting("resume-token-file");
        if (tokenSetting != "auto")
            return With(tokenSetting.Length > 0 ? tokenSetting : null, false, null);
        try
        {
            return With(ResumeTokenFile.DefaultPath(relayText, exposed, environment), true, null);
        }
        catch (RelayConfigException e)
        {
            return With(null, true, e.Message);
        }
    }

    /// <summary>The service at <paramref name="to"/> with the keys of <see cref="ServiceKeys"/> that <paramref name="key"/> gives.</summary>
    /// <exception cref="FormatException">A value is malformed; the message names its flag.</exception>
    private static ExposedService Service(string to, Func<string, string?> key)
    {
        var service = ExposedService.Parse(to, key("name"), key("port"), key("proxy-protocol"), key("shared"));
        if (key("health-interval") is not { } interval)
            return service;
        return Duration.Parse(interval) is { } d && d > TimeSpan.Zero
            ? service with { HealthInterval = d }
            : throw new FormatException($"--health-interval: '{interval}' is not {Duration.Forms}, above zero");
    }

    /// <summary>hocon/agent.hocon, built into this assembly.</summary>
    /// <exception cref="RelayConfigException">It cannot be read.</exception>
    internal static Config LoadDefaults() => RelayConfiguration.LoadEmbedded(typeof(AgentCommand).Assembly, DefaultsResource);

    /// <summary>The agent's settings: the keys of the tcprelay-agent block of <paramref name="defaults"/>.</summary>
    internal static HashSet<string> DefaultKeys(Config defaults) =>
        defaults.GetConfig("tcprelay-agent").AsEnumerable().Select(kv => kv.Key.Split('.')[0]).ToHashSet();

    internal static string? ReadSecret(Func<string, string?> environment, string secretFile)
    {
        if (environment("TCPRELAY_SECRET") is { Length: > 0 } secret)
            return secret;
        if (secretFile.Length == 0)
            return null;
        try
        {
            var first = File.ReadAllText(secretFile).Split('\n')[0].TrimEnd('\r');
            return first.Length > 0 ? first : throw new UsageException($"--secret-file: '{secretFile}' is empty");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--secret-file: cannot read '{secretFile}': {e.Message}");
        }
    }

    private static async Task<int> RunAgentAsync(AgentSettings settings, RelayListenerOptions relay)
    {
        using var stop = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var loggers = new SerilogLoggerFactory(Log.Logger);
        await using var agent = new RelayAgent(relay, settings.Services, loggers)
        {
            SessionLogLevel = settings.SessionLog,
            TakenTimeout = settings.TakenTimeout,
        };
        try
        {
            await agent.StartAsync(stop.Token);
        }
        catch (RelayRegistrationException e)
        {
            Log.Error("Cannot expose {Service}", e.Message);
            return 1;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 0;
        }
        await Task.WhenAny(agent.Completion, Task.Delay(Timeout.Infinite, stop.Token));
        if (stop.IsCancellationRequested)
        {
            var running = agent.RunningSessions;
            Log.Information("Draining: deregistering {Count} services (no new client comes); {Sessions} running sessions have {DrainTimeout} to finish (a second signal ends them now)",
                settings.Services.Count, running, Duration.Format(settings.DrainTimeout));
            var draining = System.Diagnostics.Stopwatch.StartNew();
            var reset = await agent.DrainAsync(settings.DrainTimeout, abort.Token);
            var outcome = reset == 0 ? "every session ended on its own"
                : abort.IsCancellationRequested ? $"{reset} sessions left were reset on a second signal"
                : $"{reset} sessions left were reset at the drain-timeout";
            Log.Information("Drained after {Elapsed}: {Outcome}", ElapsedTime.Format(draining.Elapsed), outcome);
            return 0;
        }
        Log.Error("Every service has stopped; exiting");
        return 1;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            if (stop.IsCancellationRequested)
                abort.Cancel();
            stop.Cancel();
        }
    }
}
