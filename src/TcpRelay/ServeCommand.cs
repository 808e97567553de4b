using System.Net;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Hosting;
using Akka.Logger.Serilog;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Serilog.Events;
using TcpRelay.Server;
using TcpRelay.Server.Admin;
using TcpRelay.Server.Hosting;

namespace TcpRelay.Cli;

/// <summary><c>tcprelay serve</c>: run a relay until SIGINT or SIGTERM.</summary>
internal static class ServeCommand
{
    public const string Usage =
        "usage: tcprelay serve [--bind ADDR] [--control-port N] [--data-port N] [--public-ports A-B]\n" +
        "                      [--config FILE] [--secret-file PATH] [--log-level LEVEL] [--log-format text|json]\n" +
        "                      [--handshake-timeout D] [--pending-timeout D] [--heartbeat-interval D]\n" +
        "                      [--grace-period D] [--drain-timeout D] [--close-timeout D] [--keepalive-idle D]\n" +
        "                      [--state-dir DIR] [--backlog N] [--users-file PATH]\n" +
        "                      [--max-apps N] [--max-sessions-per-app N] [--max-pending-per-app N]\n" +
        "                      [--max-handshakes-per-address N] [--max-handshakes N] [--allow-anonymous]\n" +
        "                      [--admin HOST:PORT] [--tls-cert FILE --tls-key FILE]\n" +
        "                      [--cluster-bind HOST:PORT --cluster-seeds HOST:PORT[,HOST:PORT…]] [--advertise-host HOST]\n" +
        "  The shared secret comes from TCPRELAY_SECRET or --secret-file; durations are written 500ms, 10s, 2m.\n" +
        "  --tls-cert and --tls-key (PEM) make the control and data ports TLS only; tcprelay cert writes a pair.";

    // Keys set by a bare flag (--allow-anonymous) rather than --key value.
    private static readonly HashSet<string> SwitchKeys = ["allow-anonymous"];

    public static async Task<int> RunAsync(string[] args)
    {
        var (config, settings, level, json, admin) = LoadConfig(args);
        Log.Logger = ConsoleLog.Create(level, json);
        try
        {
            return await RunRelayAsync(settings, config, level, admin);
        }
        finally
        {
            await Log.CloseAndFlushAsync();
        }
    }

    /// <summary>
    /// The effective configuration (hocon/relay.hocon, then --config FILE, then TCPRELAY_* variables,
    /// then flags), checked whole, so that <c>config print</c> refuses what <c>serve</c> would.
    /// </summary>
    public static (Config Config, RelaySettings Settings, LogEventLevel Level, bool Json, IPEndPoint? Admin) LoadConfig(string[] args)
    {
        SettingVariables.CheckEnvironment();
        try
        {
            var defaults = RelayConfiguration.LoadDefaults();
            var flagKeys = RelayConfigLoader.FlagKeys(defaults);
            var flags = new FlagReader(args, flagKeys.Where(k => !SwitchKeys.Contains(k)).Append("config").ToHashSet(), SwitchKeys);
            var relayFlags = flags.Values.Where(kv => flagKeys.Contains(kv.Key)).ToDictionary();
            foreach (var key in SwitchKeys.Where(flags.Switch))
                relayFlags[key] = "on";
            var config = RelayConfigLoader.Load(flags.Value("config"), relayFlags, Environment.GetEnvironmentVariable);
            var settings = RelayConfigLoader.Settings(config);
            // Port 0 (any free port) suits tests of the library, not a relay whose apps must know where it is.
            foreach (var (key, port) in new[] { ("control-port", settings.ControlPort), ("data-port", settings.DataPort) })
                if (port == 0)
                    throw new UsageException($"tcprelay.{key}: 0 is not a port (1-65535)");
            return (config, settings,
                ConsoleLog.ParseLevel(config.GetString("tcprelay.log-level"), "log-level"),
                ConsoleLog.ParseFormat(config.GetString("tcprelay.log-format")),
                AdminAddress(config.GetString("tcprelay.admin"), settings));
        }
        catch (RelayConfigException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>The admin endpoint's address, or null when it is off; it must not take one of the relay's own ports.</summary>
    private static IPEndPoint? AdminAddress(string text, RelaySettings settings)
    {
        if (text.Length == 0)
            return null;
        if (!IPEndPoint.TryParse(text, out var endPoint) || endPoint.Port == 0 || !text.Contains(':'))
            throw new UsageException($"admin: '{text}' is not IP:PORT (e.g. 127.0.0.1:9090)");
        if (endPoint.Port == settings.ControlPort || endPoint.Port == settings.DataPort || settings.PublicPorts.Contains(endPoint.Port))
            throw new UsageException($"admin: port {endPoint.Port} is one of the relay's own ports");
        if (!IPAddress.IsLoopback(endPoint.Address) && settings.Secret is null)
            throw new UsageException($"admin: {endPoint} is not a loopback address, so the endpoint needs the shared secret as its bearer token; set TCPRELAY_SECRET or --secret-file");
        return endPoint;
    }

    private static async Task<int> RunRelayAsync(RelaySettings settings, Config config, LogEventLevel level, IPEndPoint? adminAddress)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddAkka(TcpRelayHostingExtensions.ActorSystemName, akka =>
        {
            akka.ConfigureLoggers(setup =>
            {
                setup.LogLevel = level switch
                {
                    LogEventLevel.Verbose or LogEventLevel.Debug => Akka.Event.LogLevel.DebugLevel,
                    LogEventLevel.Information => Akka.Event.LogLevel.InfoLevel,
                    LogEventLevel.Warning => Akka.Event.LogLevel.WarningLevel,
                    _ => Akka.Event.LogLevel.ErrorLevel,
                };
                setup.ClearLoggers();
                setup.AddLogger<SerilogLogger>();
            });
            akka.AddTcpRelay(settings, config);
        });
        // The host must not give up on the actor system before the drain is over.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.DrainTimeout + TcpRelayHostingExtensions.DrainMargin + TimeSpan.FromSeconds(5));
        using var host = builder.Build();
        Log.Information("Starting relay: {Settings}", settings);
        await host.StartAsync();
        var relay = host.Services.GetTcpRelay();
        try
        {
            await relay.WaitForEndpointsAsync(TimeSpan.FromSeconds(30));
        }
        catch (RelayBindException e)
        {
            await Console.Error.WriteLineAsync($"tcprelay: {e.Message}");
            await StopAfterFailedStartAsync(host);
            return 1;
        }
        AdminServer? admin = null;
        if (adminAddress is not null)
        {
            try
            {
                admin = await AdminServer.StartAsync(adminAddress, host.Services.GetRequiredService<ActorSystem>(), settings.Secret,
                    new Serilog.Extensions.Logging.SerilogLoggerProvider(Log.Logger), settings.Tls);
                Log.Information("Admin endpoint on {Scheme}://{Admin}/ (/metrics, /healthz, /status, /actors)", settings.Tls is null ? "http" : "https", admin.EndPoint);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
            {
                await Console.Error.WriteLineAsync($"tcprelay: cannot listen on the admin address {adminAddress}: {e.Message}");
                await StopAfterFailedStartAsync(host);
                return 1;
            }
        }
        await using var _ = admin;
        // The first SIGTERM or SIGINT drains (CoordinatedShutdown, through the host); a second one
        // resets what is left at once instead of waiting for the drain deadline.
        var stopSignals = 0;
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        void OnStopSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.Increment(ref stopSignals) == 1)
            {
                lifetime.StopApplication();
                return;
            }
            Log.Warning("Second stop signal ({Signal}): resetting every session now", context.Signal);
            relay.ResetSessionsNow();
        }
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnStopSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnStopSignal);
        // SIGHUP writes the whole actor tree to the log: the hierarchy on demand, without a restart.
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            relay.LogActorTree();
        });
        await host.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>
    /// Stops a relay that could not start with a reason that says so: the host's own stop would run
    /// CoordinatedShutdown for a CLR exit, whose line reads "Exiting with [ExitCode:0]" under the
    /// process's exit code 1.
    /// </summary>
    private static async Task StopAfterFailedStartAsync(IHost host)
    {
        await CoordinatedShutdown.Get(host.Services.GetRequiredService<ActorSystem>()).Run(StartFailed.Instance);
        await host.StopAsync();
    }

    private sealed class StartFailed : CoordinatedShutdown.Reason
    {
        public static readonly StartFailed Instance = new();

        private StartFailed() { }

        public override int ExitCode => 1;
    }
}
