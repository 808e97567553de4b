using TcpRelay.Protocol;
using TcpRelay.Cli;
using TcpRelay.Client;

namespace TcpRelay.Cli.Tests;

/// <summary>`tcprelay agent` flags and config: what is accepted, and the one-line error for what is not.</summary>
public sealed class AgentCommandTests
{
    private static (RelayListenerOptions Relay, IReadOnlyList<ExposedService> Services) Parse(string args, params (string Key, string Value)[] environment)
    {
        var parsed = AgentCommand.Parse(args.Split(' ', StringSplitOptions.RemoveEmptyEntries),
            name => environment.FirstOrDefault(e => e.Key == name).Value);
        return (parsed.Relay, parsed.Services);
    }

    [Fact]
    public void Each_name_and_port_belong_to_the_to_before_them()
    {
        var (relay, services) = Parse("--relay relay.example:9000 --to 127.0.0.1:22 --name ssh --port 8090 --to localhost:5432 --reconnect-delay-max 5s");
        Assert.Equal(("relay.example", 9000), (relay.RelayHost, relay.ControlPort));
        Assert.Equal(new ExposedService("127.0.0.1", 22, "ssh", 8090), services[0]);
        Assert.Equal(new ExposedService("localhost", 5432), services[1]);
        Assert.Equal(TimeSpan.FromSeconds(5), relay.ReconnectDelayMax);
        Assert.Equal(TimeSpan.FromMilliseconds(500), relay.ReconnectDelayMin); // from hocon/agent.hocon
        Assert.Null(relay.Secret);
    }

    [Fact]
    public void A_user_registers_with_its_own_secret_from_a_flag_the_environment_or_a_config_file()
    {
        var (relay, _) = Parse("--relay r --to 127.0.0.1:22 --user alice", ("TCPRELAY_SECRET", "alice-secret-0123456789"));
        Assert.Equal(("alice", "alice-secret-0123456789"), (relay.User, relay.Secret));
        Assert.Equal("ci", Parse("--relay r --to 127.0.0.1:22", ("TCPRELAY_USER", "ci"), ("TCPRELAY_SECRET", "s")).Relay.User);
        Assert.Null(Parse("--relay r --to 127.0.0.1:22").Relay.User);
    }

    [Fact]
    public void Several_relay_nodes_are_tried_in_the_order_given()
    {
        var (relay, _) = Parse("--relay node1.example:9000,10.0.0.2,[::1]:9001 --to 127.0.0.1:22");
        Assert.Equal(("node1.example", 9000), (relay.RelayHost, relay.ControlPort));
        Assert.Equal([new HostPort("10.0.0.2", 8080), new HostPort("::1", 9001)], relay.OtherNodes);
    }

    [Fact]
    public void A_resume_token_file_is_created_private_once_read_back_after_and_held_by_one_agent()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tcprelay-token-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(path, AgentCommand.Parse(["--relay", "r", "--to", "127.0.0.1:22", "--resume-token-file", path], _ => null).TokenFile);
            ResumeToken token;
            using (var first = ResumeTokenFile.Open(path))
            {
                token = first.Token;
                if (!OperatingSystem.IsWindows())
                    Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
                // A second agent started the same way would take the first's names over with it.
                Assert.Contains("one agent per token file", Assert.Throws<UsageException>(() => ResumeTokenFile.Open(path)).Message);
            }
            using (var again = ResumeTokenFile.Open(path))
                Assert.Equal(token, again.Token);

            File.WriteAllText(path, "not a token\n");
            Assert.Contains("does not hold a token", Assert.Throws<UsageException>(() => ResumeTokenFile.Open(path)).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void By_default_each_agent_keeps_its_token_in_the_state_directory_and_without_one_in_memory()
    {
        var state = Directory.CreateTempSubdirectory("tcprelay-agent-state-").FullName;
        try
        {
            string[] Args(string name) => ["--relay", "r", "--to", "127.0.0.1:22", "--name", name];
            var ssh = AgentCommand.Parse(Args("ssh"), key => key == "STATE_DIRECTORY" ? state : null);
            Assert.True(ssh.TokenFileIsDefault);
            Assert.StartsWith(Path.Combine(state, "agent-"), ssh.TokenFile);
            Assert.Equal(ssh.TokenFile, AgentCommand.Parse(Args("ssh"), key => key == "STATE_DIRECTORY" ? state : null).TokenFile);
            Assert.NotEqual(ssh.TokenFile, AgentCommand.Parse(Args("web"), key => key == "STATE_DIRECTORY" ? state : null).TokenFile);
            using (var held = ResumeTokenFile.Open(ssh.TokenFile!))
                Assert.True(File.Exists(held.Path));

            var nowhere = AgentCommand.Parse(Args("ssh"), _ => null);
            Assert.Null(nowhere.TokenFile);
            Assert.Contains("HOME", nowhere.TokenNote);
            Assert.Null(AgentCommand.Parse([.. Args("ssh"), "--resume-token-file", ""], _ => null).TokenFile);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public void The_relay_and_secret_may_come_from_the_environment()
    {
        var (relay, _) = Parse("--to 127.0.0.1:80", ("TCPRELAY_RELAY", "10.0.0.1"), ("TCPRELAY_SECRET", "s3cret"));
        Assert.Equal(("10.0.0.1", 8080), (relay.RelayHost, relay.ControlPort));
        Assert.Equal("s3cret", relay.Secret);
    }

    [Fact]
    public void Every_setting_comes_from_flags_then_the_environment_then_the_config_file_then_the_defaults()
    {
        string? Env(string key) => key switch
        {
            "TCPRELAY_DRAIN_TIMEOUT" => "5s",
            "TCPRELAY_RESUME_TOKEN_FILE" => "/tmp/from-env.token",
            "TCPRELAY_HEARTBEAT_INTERVAL" => "7s",
            _ => null,
        };
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "tcprelay-agent { drain-timeout = 1m, connect-timeout = 3s }");
            var fromEnvironment = AgentCommand.Parse(["--relay", "r", "--to", "127.0.0.1:22", "--config", file], Env);
            Assert.Equal(TimeSpan.FromSeconds(5), fromEnvironment.DrainTimeout);
            Assert.Equal("/tmp/from-env.token", fromEnvironment.TokenFile);
            Assert.False(fromEnvironment.TokenFileIsDefault);
            Assert.Equal(TimeSpan.FromSeconds(7), fromEnvironment.Relay.HeartbeatInterval);
            Assert.Equal(TimeSpan.FromSeconds(3), fromEnvironment.Relay.ConnectTimeout);

            var fromFlags = AgentCommand.Parse(["--relay", "r", "--to", "127.0.0.1:22", "--config", file, "--drain-timeout", "2s", "--resume-token-file", ""], Env);
            Assert.Equal(TimeSpan.FromSeconds(2), fromFlags.DrainTimeout);
            Assert.Null(fromFlags.TokenFile);

            var fromFile = AgentCommand.Parse(["--relay", "r", "--to", "127.0.0.1:22", "--config", file], _ => null);
            Assert.Equal(TimeSpan.FromMinutes(1), fromFile.DrainTimeout);
            Assert.Equal(TimeSpan.FromSeconds(30), AgentCommand.Parse(["--relay", "r", "--to", "127.0.0.1:22"], _ => null).DrainTimeout);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_bad_setting_is_named_where_it_was_given()
    {
        string[] args = ["--relay", "r", "--to", "127.0.0.1:22"];
        Assert.StartsWith("TCPRELAY_DRAIN_TIMEOUT: 'soon'",
            Assert.Throws<UsageException>(() => AgentCommand.Parse(args, k => k == "TCPRELAY_DRAIN_TIMEOUT" ? "soon" : null)).Message);
        Assert.StartsWith("--drain-timeout: '0s'",
            Assert.Throws<UsageException>(() => AgentCommand.Parse([.. args, "--drain-timeout", "0s"], _ => null)).Message);
        Assert.StartsWith("TCPRELAY_RELAY:",
            Assert.Throws<UsageException>(() => AgentCommand.Parse(["--to", "127.0.0.1:22"], k => k == "TCPRELAY_RELAY" ? "r:0" : null)).Message);
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "tcprelay-agent { drain-timeout = -1s }");
            Assert.StartsWith($"tcprelay-agent.drain-timeout in {file}: '-1s'",
                Assert.Throws<UsageException>(() => AgentCommand.Parse([.. args, "--config", file], _ => null)).Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Services_may_come_from_a_config_file()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """
                tcprelay-agent {
                  relay = "127.0.0.1:7000"
                  services = [
                    { to = "127.0.0.1:22", name = ssh, shared = yes, proxy-protocol = v1, health-interval = 2s }
                    { to = "127.0.0.1:80", port = 8081, shared = false }
                  ]
                }
                """);
            var (relay, services) = Parse($"--config {file} --to 127.0.0.1:3000 --name web");
            Assert.Equal(7000, relay.ControlPort);
            Assert.Equal(["ssh", null, "web"], services.Select(s => s.Name));
            Assert.Equal(8081, services[1].Port);
            Assert.Equal((true, ProxyProtocolVersion.V1, TimeSpan.FromSeconds(2)), (services[0].Shared, services[0].ProxyProtocol, services[0].HealthInterval));
            Assert.Equal((false, null, null), (services[1].Shared, services[1].ProxyProtocol, services[1].HealthInterval));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Proxy_protocol_shared_and_health_interval_belong_to_the_to_before_them()
    {
        var (_, services) = Parse("--relay r --to 127.0.0.1:22 --name ssh --shared --proxy-protocol v2 --health-interval 5s " +
                                  "--to 127.0.0.1:80 --proxy-protocol V1 --to 127.0.0.1:81 --name web --shared=no");
        Assert.Equal(new ExposedService("127.0.0.1", 22, "ssh") { Shared = true, ProxyProtocol = ProxyProtocolVersion.V2, HealthInterval = TimeSpan.FromSeconds(5) }, services[0]);
        Assert.Equal(new ExposedService("127.0.0.1", 80) { ProxyProtocol = ProxyProtocolVersion.V1 }, services[1]);
        Assert.Equal(new ExposedService("127.0.0.1", 81, "web"), services[2]);
    }

    [Fact]
    public void A_shared_service_registers_shared_under_its_name()
    {
        var (relay, services) = Parse("--relay r --to 127.0.0.1:22 --name ssh --shared --to 127.0.0.1:80");
        Assert.Equal([true, false], services.Select(s => s.Shared));
        // What the listener registers with: REGISTER … shared=yes for the first only.
        Assert.Equal([(true, "ssh"), (false, null)], services.Select(s => RelayAgent.ListenerOptions(relay, s)).Select(o => (o.Shared, o.Name)));
    }

    [Theory]
    [InlineData("--to 127.0.0.1:80", "--relay HOST[:PORT] is required")]
    [InlineData("--relay r", "nothing to expose")]
    [InlineData("--relay r --name x --to 127.0.0.1:80", "--name must follow the --to")]
    [InlineData("--relay r --to 127.0.0.1:80 --name a --name b", "--name given twice")]
    [InlineData("--relay r --to 127.0.0.1", "--to: '127.0.0.1' is not host:port")]
    [InlineData("--relay r --to 127.0.0.1:0", "is not host:port")]
    [InlineData("--relay r --to 127.0.0.1:80 --name Bad_Name", "--name: 'Bad_Name'")]
    [InlineData("--relay r --to 127.0.0.1:80 --port 70000", "--port: '70000' is not a port")]
    [InlineData("--relay r --to 127.0.0.1:80 --name a --to 127.0.0.1:81 --name a", "--name a is given to more than one service")]
    [InlineData("--relay r:99999 --to 127.0.0.1:80", "--relay:")]
    [InlineData("--relay r:1,,s:2 --to 127.0.0.1:80", "--relay: an empty relay address")]
    [InlineData("--relay r --to 127.0.0.1:80 --heartbeat-interval 0s", "--heartbeat-interval: '0s'")]
    [InlineData("--relay r --to 127.0.0.1:80 --reconnect-delay-min 10s --reconnect-delay-max 1s", "below --reconnect-delay-min")]
    [InlineData("--relay r --to 127.0.0.1:80 --secret-file /nonexistent/secret", "--secret-file: cannot read")]
    [InlineData("--relay r --to 127.0.0.1:80 --bogus 1", "unknown flag '--bogus'")]
    [InlineData("--relay r --to 127.0.0.1:80 --user al.ice", "--user: user may contain only")]
    [InlineData("--relay r --to 127.0.0.1:80 --user alice", "--user needs that user's secret")]
    [InlineData("--relay r --to 127.0.0.1:80 --relay s", "--relay given twice")]
    [InlineData("--relay r --to", "--to needs a value")]
    [InlineData("--relay r --to 127.0.0.1:80 --config /nonexistent.hocon", "cannot read configuration file")]
    [InlineData("--relay r --to 127.0.0.1:80 --heartbeat-interval 25h", "from 0ms to 24h")]
    [InlineData("--relay r --to 127.0.0.1:80 --connect-timeout 999999999h", "from 0ms to 24h")]
    [InlineData("--relay r --to 127.0.0.1:80 --proxy-protocol v3", "--proxy-protocol: 'v3' is not one of v1, v2")]
    [InlineData("--relay r --to 127.0.0.1:80 --shared", "--shared needs a --name for --to 127.0.0.1:80")]
    [InlineData("--relay r --to 127.0.0.1:80 --name a --shared=maybe", "--shared: 'maybe' is not one of yes, no, true, false")]
    [InlineData("--relay r --to 127.0.0.1:80 --health-interval 0s", "--health-interval: '0s' is not a duration")]
    [InlineData("--relay r --to 127.0.0.1:80 --health-interval soon", "--health-interval: 'soon'")]
    [InlineData("--relay r --health-interval 1s --to 127.0.0.1:80", "--health-interval must follow the --to")]
    [InlineData("--relay r --to 127.0.0.1:80 --proxy-protocol v1 --proxy-protocol v2", "--proxy-protocol given twice for --to 127.0.0.1:80")]
    public void Bad_input_is_one_precise_error(string args, string expected)
    {
        var e = Assert.Throws<UsageException>(() => Parse(args));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("tcprelay-agent = 5", "tcprelay-agent must be a block of settings")]
    [InlineData("tcprelay-agent { servics = [] }", "tcprelay-agent.servics is not a setting")]
    [InlineData("tcprelay-agent { services = 5 }", "services must be a list")]
    [InlineData("tcprelay-agent { services = [ \"127.0.0.1:22\" ] }", "every service in tcprelay-agent.services is a block")]
    [InlineData("tcprelay-agent { services = [ { to = \"127.0.0.1:22\", nmae = ssh } ] }", "'nmae', which is not one of to, name, port, shared, proxy-protocol, health-interval")]
    [InlineData("tcprelay-agent { services = [ { to = \"127.0.0.1:22\", shared = true } ] }", "--shared needs a --name")]
    [InlineData("tcprelay-agent { services = [ { to = \"127.0.0.1:22\", proxy-protocol = v9 } ] }", "--proxy-protocol: 'v9' is not one of v1, v2")]
    [InlineData("tcprelay-agent { services = [ { to = \"127.0.0.1:22\", port = [1] } ] }", "port in tcprelay-agent.services must be a single value")]
    public void A_config_file_the_agent_cannot_use_is_one_precise_error(string hocon, string expected)
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, hocon);
            var e = Assert.Throws<UsageException>(() => Parse($"--relay r --config {file}"));
            Assert.Contains(expected, e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
