using System.Net;
using TcpRelay.Cli;
using TcpRelay.Protocol;
using TcpRelay.Server.Hosting;
using TcpRelay.Server;

namespace TcpRelay.Cli.Tests;

/// <summary>Defaults, file, environment and flags layered into one validated settings object.</summary>
public sealed class ConfigurationTests
{
    private static readonly IReadOnlyDictionary<string, string> NoFlags = new Dictionary<string, string>();

    private static RelaySettings Load(IReadOnlyDictionary<string, string>? flags = null, Dictionary<string, string>? env = null, string? file = null) =>
        RelayConfigLoader.Settings(RelayConfigLoader.Load(file, flags ?? NoFlags, name => env?.GetValueOrDefault(name)));

    private static string TempFile(string text)
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void The_shipped_defaults_are_protocol_md_s_but_for_a_data_port_outside_the_public_range()
    {
        var settings = Load();
        Assert.Equal(IPAddress.Loopback, settings.Bind);
        Assert.Equal(8080, settings.ControlPort);
        Assert.Equal(8181, settings.DataPort);
        Assert.Equal(new PublicPortRange(8081, 8180), settings.PublicPorts);
        Assert.False(settings.PublicPorts.Contains(settings.DataPort) || settings.PublicPorts.Contains(settings.ControlPort),
            "every port of the default range is an app's");
        // Linux's own cap (net.core.somaxconn): a burst of clients while the relay is slow to accept is queued, not dropped.
        Assert.Equal(4096, settings.Backlog);
        Assert.Null(settings.Secret);
        Assert.Equal(TimeSpan.FromSeconds(10), settings.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), settings.PendingTimeout);
        Assert.Equal(TimeSpan.FromSeconds(15), settings.HeartbeatInterval);
    }

    [Fact]
    public void File_then_environment_then_flags_each_override_the_one_before()
    {
        var file = TempFile("tcprelay { control-port = 9000, data-port = 9001, pending-timeout = 3s }");
        try
        {
            var env = new Dictionary<string, string> { ["TCPRELAY_DATA_PORT"] = "9002", ["TCPRELAY_PENDING_TIMEOUT"] = "500ms" };
            var flags = new Dictionary<string, string> { ["pending-timeout"] = "2m" };
            var settings = Load(flags, env, file);
            Assert.Equal(9000, settings.ControlPort);
            Assert.Equal(9002, settings.DataPort);
            Assert.Equal(TimeSpan.FromMinutes(2), settings.PendingTimeout);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void The_secret_comes_from_the_environment_or_the_first_line_of_a_file()
    {
        var file = TempFile("from-file\nsecond line ignored\n");
        try
        {
            Assert.Equal("from-file", Load(new Dictionary<string, string> { ["secret-file"] = file }).Secret);
            Assert.Equal("from-env", Load(env: new Dictionary<string, string> { ["TCPRELAY_SECRET"] = "from-env" }).Secret);
            Assert.DoesNotContain("from-env", Load(env: new Dictionary<string, string> { ["TCPRELAY_SECRET"] = "from-env" }).ToString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("control-port", "70000", "tcprelay.control-port")]
    [InlineData("control-port", "http", "tcprelay.control-port")]
    [InlineData("bind", "localhost:80", "tcprelay.bind")]
    [InlineData("public-ports", "9000-8000", "ends before it starts")]
    [InlineData("pending-timeout", "0s", "tcprelay.pending-timeout")]
    [InlineData("heartbeat-interval", "-5s", "tcprelay.heartbeat-interval")]
    [InlineData("handshake-timeout", "ten seconds", "tcprelay.handshake-timeout")]
    [InlineData("secret-file", "/nonexistent/secret", "cannot read")]
    [InlineData("max-apps", "0", "tcprelay.max-apps")]
    [InlineData("max-sessions-per-app", "-1", "tcprelay.max-sessions-per-app")]
    [InlineData("max-pending-per-app", "100000", "is above tcprelay.max-sessions-per-app")]
    [InlineData("max-handshakes-per-address", "5000", "is above tcprelay.max-handshakes")]
    [InlineData("grace-period", "-1s", "tcprelay.grace-period")]
    [InlineData("drain-timeout", "0s", "tcprelay.drain-timeout")]
    [InlineData("keepalive-idle", "0s", "tcprelay.keepalive-idle")]
    [InlineData("keepalive-idle", "10h", "the kernel's limit")]
    [InlineData("allow-anonymous", "maybe", "tcprelay.allow-anonymous")]
    [InlineData("data-port", "8080", "are both 8080")]
    [InlineData("cluster-bind", "127.0.0.1", "tcprelay.cluster-bind")]
    [InlineData("cluster-bind", "127.0.0.1:99999", "tcprelay.cluster-bind")]
    [InlineData("cluster-seeds", "127.0.0.1:4053", "cluster-bind is not")]
    [InlineData("advertise-host", "not a host!", "tcprelay.advertise-host")]
    public void Impossible_values_are_refused_with_the_key_named(string key, string value, string expected)
    {
        var e = Assert.Throws<UsageException>(() => Load(new Dictionary<string, string> { [key] = value }));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("tcprelay = 5", "tcprelay must be a block of settings")]
    [InlineData("tcprelay { contrl-port = 9000 }", "tcprelay.contrl-port is not a setting")]
    public void A_config_file_with_a_setting_the_relay_does_not_know_is_refused(string hocon, string expected)
    {
        var file = TempFile(hocon);
        try
        {
            var e = Assert.Throws<RelayConfigException>(() => Load(file: file));
            Assert.Contains(expected, e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Port_0_and_settings_serve_would_refuse_are_refused_however_they_are_given()
    {
        var file = TempFile("tcprelay { control-port = 0 }");
        try
        {
            var fromFile = await Assert.ThrowsAsync<UsageException>(() => ConfigCommand.RunAsync(["--config", file], new StringWriter()));
            Assert.Contains("tcprelay.control-port: 0 is not a port", fromFile.Message);
        }
        finally
        {
            File.Delete(file);
        }
        foreach (var (flag, value, expected) in new[] { ("--log-level", "verbose", "log-level"), ("--log-format", "xml", "log-format"), ("--admin", "nonsense", "admin") })
        {
            var e = await Assert.ThrowsAsync<UsageException>(() => ConfigCommand.RunAsync([flag, value], new StringWriter()));
            Assert.Contains(expected, e.Message);
        }
    }

    [Fact]
    public void Cluster_flags_make_the_relay_a_node_and_their_absence_a_single_relay()
    {
        var single = Load();
        Assert.False(single.Clustered);
        Assert.Empty(single.ClusterSeeds);

        var node = Load(new Dictionary<string, string>
        {
            ["bind"] = "127.0.0.2", ["cluster-bind"] = "127.0.0.2:4053", ["cluster-seeds"] = "127.0.0.1:4053, [::1]:4053",
        });
        Assert.True(node.Clustered);
        Assert.Equal(new HostPort("127.0.0.2", 4053), node.ClusterBind);
        Assert.Equal([new HostPort("127.0.0.1", 4053), new HostPort("::1", 4053)], node.ClusterSeeds);
        // Apps told to dial this node's data port are told the bind address unless another is set.
        Assert.Equal(new HostPort("127.0.0.2", 8082), node.DataAddress(8082));
        var advertised = Load(new Dictionary<string, string>
        {
            ["cluster-bind"] = "127.0.0.1:4053", ["cluster-seeds"] = "127.0.0.1:4053", ["advertise-host"] = "relay-2.example.net",
        });
        Assert.Equal(new HostPort("relay-2.example.net", 8082), advertised.DataAddress(8082));
    }

    [Fact]
    public void A_public_address_without_a_secret_is_refused_unless_anonymous_is_asked_for()
    {
        var e = Assert.Throws<UsageException>(() => Load(new Dictionary<string, string> { ["bind"] = "0.0.0.0" }));
        Assert.Contains("without a shared secret", e.Message);
        Assert.Contains("--allow-anonymous", e.Message);
        Assert.True(Load(new Dictionary<string, string> { ["bind"] = "0.0.0.0", ["allow-anonymous"] = "on" }).AllowAnonymous);
        var withSecret = Load(new Dictionary<string, string> { ["bind"] = "::" }, new Dictionary<string, string> { ["TCPRELAY_SECRET"] = "s" });
        Assert.Equal("s", withSecret.Secret);
        Assert.False(Load(new Dictionary<string, string> { ["bind"] = "::1" }).AllowAnonymous); // loopback needs neither
    }

    [Fact]
    public void A_users_file_is_read_at_start_up_admits_a_public_address_and_a_broken_one_names_its_line()
    {
        var good = TempFile("users {\n  alice { secret = \"alice-secret-0123456789\", ports = \"8081-8090\" }\n}");
        var bad = TempFile("users {\n  alice {\n    secret = \"alice-secret-0123456789\"\n    ports = \"7000-7010\"\n  }\n}");
        try
        {
            var settings = Load(new Dictionary<string, string> { ["bind"] = "0.0.0.0", ["users-file"] = good });
            Assert.Equal(good, settings.UsersFile);
            Assert.Equal(new PublicPortRange(8081, 8090), settings.Users!.Find(UserId.Parse("alice").Value)!.Ports);
            Assert.Equal(good, Load(env: new Dictionary<string, string> { ["TCPRELAY_USERS_FILE"] = good }).UsersFile);
            Assert.Null(Load().Users);
            var e = Assert.Throws<UsageException>(() => Load(new Dictionary<string, string> { ["users-file"] = bad }));
            Assert.Equal($"users file '{bad}' line 4: user alice: ports 7000-7010 are not within the relay's public-ports 8081-8180", e.Message);
            Assert.Contains("cannot read users file", Assert.Throws<UsageException>(() => Load(new Dictionary<string, string> { ["users-file"] = bad + ".missing" })).Message);
        }
        finally
        {
            File.Delete(good);
            File.Delete(bad);
        }
    }

    [Fact]
    public void The_limits_and_drain_have_defaults_and_can_be_set()
    {
        var defaults = Load();
        Assert.Equal(TimeSpan.FromSeconds(30), defaults.DrainTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), defaults.GracePeriod);
        Assert.False(defaults.AllowAnonymous);
        // A burst of hundreds of new clients (a browser, wrk) must not hit the pending limit.
        Assert.Equal(1024, defaults.MaxPendingPerApp);
        var set = Load(new Dictionary<string, string>
        {
            ["drain-timeout"] = "2m", ["max-sessions-per-app"] = "50", ["max-pending-per-app"] = "5",
            ["max-handshakes-per-address"] = "7", ["max-handshakes"] = "70", ["grace-period"] = "0s",
        });
        Assert.Equal((TimeSpan.FromMinutes(2), 50, 5, 7, 70, TimeSpan.Zero),
            (set.DrainTimeout, set.MaxSessionsPerApp, set.MaxPendingPerApp, set.MaxHandshakesPerAddress, set.MaxHandshakes, set.GracePeriod));
    }

    [Fact]
    public void A_config_file_with_a_key_left_empty_is_refused()
    {
        var file = TempFile("tcprelay { control-port = }");
        try
        {
            var e = Assert.Throws<UsageException>(() => Load(file: file));
            Assert.Contains("tcprelay.control-port has no value", e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData(new[] { "--no-such-flag", "1" }, "unknown flag '--no-such-flag'")]
    [InlineData(new[] { "--control-port" }, "--control-port needs a value")]
    [InlineData(new[] { "--bind", "127.0.0.1", "--bind=127.0.0.2" }, "--bind given twice")]
    [InlineData(new[] { "stray" }, "unexpected argument 'stray'")]
    [InlineData(new[] { "--secret", "x" }, "unknown flag '--secret'")]
    [InlineData(new[] { "--control-port", "0" }, "0 is not a port")]
    [InlineData(new[] { "--log-level", "loud" }, "log-level: 'loud' is not one of")]
    [InlineData(new[] { "--log-format", "xml" }, "log-format: 'xml' is not text or json")]
    [InlineData(new[] { "--admin", "localhost" }, "admin: 'localhost' is not IP:PORT")]
    [InlineData(new[] { "--admin", "10.1.2.3:9090" }, "needs the shared secret")]
    [InlineData(new[] { "--admin", "127.0.0.1:8080" }, "one of the relay's own ports")]
    [InlineData(new[] { "--allow-anonymous=yes" }, "--allow-anonymous takes no value")]
    [InlineData(new[] { "--bind", "0.0.0.0" }, "--allow-anonymous")]
    [InlineData(new[] { "--drain-timeout", "-5s" }, "tcprelay.drain-timeout")]
    [InlineData(new[] { "--cluster-bind", "127.0.0.1:4053" }, "tcprelay.cluster-seeds is empty")]
    [InlineData(new[] { "--cluster-bind", "127.0.0.1:4053", "--cluster-seeds", "127.0.0.1:4053,nohost" }, "tcprelay.cluster-seeds")]
    [InlineData(new[] { "--bind", "0.0.0.0", "--allow-anonymous", "--cluster-bind", "10.0.0.1:4053", "--cluster-seeds", "10.0.0.1:4053" }, "tcprelay.advertise-host")]
    public async Task Bad_serve_flags_are_usage_errors(string[] args, string expected)
    {
        var e = await Assert.ThrowsAsync<UsageException>(() => ServeCommand.RunAsync(args));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void The_hocon_defaults_are_valid_akka_configuration()
    {
        var config = RelayConfiguration.LoadDefaults();
        Assert.Equal(64 * 1024, config.GetByteSize("akka.io.tcp.maximum-frame-size"));
    }

    [Fact]
    public void Defaults_missing_from_an_assembly_are_a_configuration_error_naming_them()
    {
        var e = Assert.Throws<RelayConfigException>(() => RelayConfiguration.LoadEmbedded(typeof(ConfigurationTests).Assembly, "hocon/relay.hocon"));
        Assert.Contains("TcpRelay.Cli.Tests was built without its defaults (hocon/relay.hocon)", e.Message);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("10s", 10_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("24h", 86_400_000)]
    public void Durations_parse_and_format_back(string text, int milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), Duration.Parse(text));
        Assert.Equal(text, Duration.Format(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("s")]
    [InlineData("1.5s")]
    [InlineData("-1s")]
    [InlineData("10 s")]
    [InlineData("10d")]
    [InlineData("25h")]
    [InlineData("1441m")]
    [InlineData("999999999h")]
    public void Malformed_durations_are_null(string text) => Assert.Null(Duration.Parse(text));

    [Fact]
    public async Task Config_print_shows_the_merged_configuration_and_never_the_secret()
    {
        var secretFile = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(secretFile, "do-not-print-me\n");
            var output = new StringWriter();
            Assert.Equal(0, await ConfigCommand.RunAsync(["--pending-timeout", "5s", "--secret-file", secretFile, "--log-format", "json"], output));
            var text = output.ToString();
            Assert.Contains("  pending-timeout = \"5s\"\n", text);
            Assert.Contains("  log-format = \"json\"\n", text);
            Assert.Contains("  handshake-timeout = \"10s\"\n", text); // a default
            Assert.Contains("# secret: set", text);
            Assert.DoesNotContain("do-not-print-me", text);
        }
        finally
        {
            File.Delete(secretFile);
        }
    }

    [Theory]
    [InlineData("akka://tcprelay/system/IO-TCP/tcp-listener-3", Serilog.Events.LogEventLevel.Error, "Bind failed for TCP channel on endpoint [{0}]", true)]
    [InlineData("akka://tcprelay/system/IO-TCP", Serilog.Events.LogEventLevel.Information, "Binding TCP channel on endpoint [{0}]", true)]
    [InlineData("akka://tcprelay/system/IO-TCP/selectors/$a/0", Serilog.Events.LogEventLevel.Warning, "Bind commander died, stopping listener", true)]
    [InlineData("akka://tcprelay/system/IO-TCP/selectors/$a/0", Serilog.Events.LogEventLevel.Warning, "Some other warning", false)]
    [InlineData("akka://tcprelay/system/IO-TCP/tcp-listener-3", Serilog.Events.LogEventLevel.Error, "Something else broke", false)]
    [InlineData("akka://tcprelay/user/relay/registry", Serilog.Events.LogEventLevel.Error, "Bind failed for TCP channel on endpoint [{0}]", false)]
    [InlineData("akka://tcprelay/user/relay", Serilog.Events.LogEventLevel.Information, "Relay listening", false)]
    public void Only_akka_io_s_own_bind_chatter_is_left_out_of_the_log(string source, Serilog.Events.LogEventLevel level, string template, bool leftOut)
    {
        var e = new Serilog.Events.LogEvent(DateTimeOffset.UtcNow, level, null, new Serilog.Parsing.MessageTemplateParser().Parse(template),
            [new Serilog.Events.LogEventProperty("LogSource", new Serilog.Events.ScalarValue(source))]);
        Assert.Equal(leftOut, ConsoleLog.IsAkkaIoChatter(e));
    }

    [Fact]
    public void A_mistyped_variable_is_refused_naming_the_setting_it_most_likely_meant()
    {
        var keys = SettingVariables.KnownKeys();
        var e = Assert.Throws<UsageException>(() => SettingVariables.Check(["PATH", "TCPRELAY_PUBLIC_PORT"], keys));
        Assert.StartsWith("environment variable TCPRELAY_PUBLIC_PORT is not a setting; the nearest is TCPRELAY_PUBLIC_PORTS (public-ports).", e.Message);
        e = Assert.Throws<UsageException>(() => SettingVariables.Check(["TCPRELAY_DRAIN_TIMOUT"], keys));
        Assert.Contains("the nearest is TCPRELAY_DRAIN_TIMEOUT (drain-timeout)", e.Message);
    }

    [Fact]
    public void Every_relay_and_agent_setting_and_the_secret_are_known_variables()
    {
        // One shell or unit file may set the relay's and the agent's variables both.
        SettingVariables.Check(["TCPRELAY_SECRET", "TCPRELAY_SECRET_FILE", "TCPRELAY_PUBLIC_PORTS", "TCPRELAY_STATE_DIR", "TCPRELAY_RELAY",
            "TCPRELAY_RESUME_TOKEN_FILE", "TCPRELAY_RECONNECT_DELAY_MAX", "TCPRELAY_CLUSTER_SEEDS", "OTHER_THING", "tcprelay_lowercase"],
            SettingVariables.KnownKeys());
    }

    [Theory]
    [InlineData("config", "print")]
    [InlineData("serve")]
    [InlineData("agent", "--relay", "127.0.0.1:1", "--to", "127.0.0.1:2")]
    public async Task A_command_run_with_a_mistyped_variable_exits_2_and_says_so(params string[] command)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(ServeProcess.CliPath());
        foreach (var arg in command)
            start.ArgumentList.Add(arg);
        start.Environment["TCPRELAY_PUBLIC_PORT"] = "9300-9310";
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TestRelay.Wait * 3);
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("TCPRELAY_PUBLIC_PORT is not a setting; the nearest is TCPRELAY_PUBLIC_PORTS", await stderr);
    }

    [Fact]
    public async Task Serve_on_a_control_port_that_is_taken_exits_1_and_its_log_says_exit_code_1()
    {
        using var holder = Loopback.Listening();
        var (taken, control) = (Loopback.PortOf(holder), Loopback.FreePort());
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { ServeProcess.CliPath(), "serve", "--control-port", $"{control}", "--data-port", $"{taken}", "--state-dir", "" })
            start.ArgumentList.Add(arg);
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TestRelay.Wait * 3);
        var log = await stderr;
        Assert.Equal(1, process.ExitCode);
        Assert.Contains($"cannot listen on the data port 127.0.0.1:{taken}", log);
        Assert.Contains("Exiting with [ExitCode:1]", log);
        Assert.DoesNotContain("ExitCode:0", log);
    }
}
