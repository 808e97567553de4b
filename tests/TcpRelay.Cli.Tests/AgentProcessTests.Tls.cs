using TcpRelay.Protocol;
using TcpRelay.Server.Tls;

namespace TcpRelay.Cli.Tests;

/// <summary><c>tcprelay agent</c> against a relay whose control and data ports speak TLS.</summary>
public sealed partial class AgentProcessTests
{
    [Fact]
    public async Task An_agent_with_the_relay_s_pin_exposes_its_service_through_TLS()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await TestRelay.StartAsync(s => s with { Tls = RelayCertificate.From(certificate) });
        using var echo = Echo();
        await using var agent = await AgentProcess.StartAsync(relay, echo, ["--tls-pin", TlsPin.Of(certificate), "--resume-token-file", ""]);
        using var client = await TestRelay.ConnectAsync(agent.PublicPort);
        await EchoesAsync(client, 7, 1 << 20);
    }

    [Fact]
    public async Task An_agent_that_does_not_trust_the_relay_s_certificate_exits_1_with_the_reason()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { Tls = RelayCertificate.From(TestCertificates.Valid()) });
        using var echo = Echo();
        var (exitCode, log) = await AgentProcess.RunToExitAsync(relay, echo, ["--tls-pin", TlsPin.Of(TestCertificates.Valid()), "--resume-token-file", ""]);
        Assert.Equal(1, exitCode);
        Assert.Contains("pin mismatch", log);
    }
}
