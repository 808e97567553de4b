using TcpRelay.Protocol;
using TcpRelay.Cli;
using TcpRelay.Client;

namespace TcpRelay.Server.Tests;

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
    public void Several_relay_nodes_are_tried_in_the_order_given()
    {
        var (relay, _) = Parse("--relay node1.example:9000,10.0.0.2,[::1]:9001 --to 127.0.0.1:22");
        Assert.Equal(("node1.example", 9000), (relay.RelayHost, relay.ControlPort));
        Assert.Equal([new HostPort("10.0.0.2", 8080), new HostPort("::1", 9001)], relay.OtherNodes);
    }

    [Fact]
    public void A_resume_token_file_is_created_private_once_and_read_back_after()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tcprelay-token-{Guid.NewGuid():N}");
        try
        {
            var (first, _) = Parse($"--relay r --to 127.0.0.1:22 --resume-token-file {path}");
            Assert.NotNull(first.ResumeToken);
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            var (again, _) = Parse($"--relay r --to 127.0.0.1:22 --resume-token-file {path}");
            Assert.Equal(first.ResumeToken, again.ResumeToken);

            File.WriteAllText(path, "not a token\n");
            var e = Assert.Throws<UsageException>(() => Parse($"--relay r --to 127.0.0.1:22 --resume-token-file {path}"));
            Assert.Contains("does not hold a token", e.Message);
        }
        finally
        {
            File.Delete(path);
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
    public void Services_may_come_from_a_config_file()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """
                tcprelay-agent {
                  relay = "127.0.0.1:7000"
                  services = [ { to = "127.0.0.1:22", name = ssh }, { to = "127.0.0.1:80", port = 8081 } ]
                }
                """);
            var (relay, services) = Parse($"--config {file} --to 127.0.0.1:3000 --name web");
            Assert.Equal(7000, relay.ControlPort);
            Assert.Equal(["ssh", null, "web"], services.Select(s => s.Name));
            Assert.Equal(8081, services[1].Port);
        }
        finally
        {
            File.Delete(file);
        }
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
    [InlineData("--relay r --to 127.0.0.1:80 --relay s", "--relay given twice")]
    [InlineData("--relay r --to", "--to needs a value")]
    [InlineData("--relay r --to 127.0.0.1:80 --config /nonexistent.hocon", "cannot read configuration file")]
    [InlineData("--relay r --to 127.0.0.1:80 --heartbeat-interval 25h", "from 0ms to 24h")]
    [InlineData("--relay r --to 127.0.0.1:80 --connect-timeout 999999999h", "from 0ms to 24h")]
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
    [InlineData("tcprelay-agent { services = [ { to = \"127.0.0.1:22\", nmae = ssh } ] }", "'nmae', which is not one of to, name, port")]
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
