using TcpRelay.Protocol;
using TcpRelay.Server;
using TcpRelay.Server.Tls;

namespace TcpRelay.Cli.Tests;

/// <summary><c>tcprelay cert</c>, and the TLS settings of <c>serve</c> and <c>agent</c> as their flags and variables give them.</summary>
public sealed class TlsCommandTests
{
    private static readonly IReadOnlyDictionary<string, string> NoFlags = new Dictionary<string, string>();

    [Fact]
    public void Cert_writes_a_pair_the_relay_loads_and_prints_its_pin_last_and_never_overwrites()
    {
        var directory = Path.Combine(Directory.CreateTempSubdirectory("tcprelay-cert-").FullName, "new");
        var output = new StringWriter();
        Assert.Equal(0, CertCommand.Run(["--host", "relay.example", "--out", directory], output));

        var (certFile, keyFile) = (Path.Combine(directory, "relay.crt"), Path.Combine(directory, "relay.key"));
        var loaded = RelayConfigLoader.Settings(RelayConfigLoader.Load(null, new Dictionary<string, string> { ["tls-cert"] = certFile, ["tls-key"] = keyFile }, _ => null)).Tls!;
        Assert.Equal(loaded.Pin, output.ToString().TrimEnd().Split('\n')[^1]);
        Assert.Equal("CN=relay.example", loaded.Certificate.Subject);
        Assert.True(loaded.Certificate.NotAfter > DateTime.Now.AddYears(9));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        Assert.Contains("exists", Assert.Throws<UsageException>(() => CertCommand.Run(["--host", "relay.example", "--out", directory], TextWriter.Null)).Message);
        Assert.Contains("--host", Assert.Throws<UsageException>(() => CertCommand.Run(["--out", directory], TextWriter.Null)).Message);
    }

    [Fact]
    public void Serve_takes_the_pair_from_flags_or_variables_and_refuses_one_half_an_expired_certificate_or_a_foreign_key()
    {
        var (certFile, keyFile) = TestCertificates.WritePem(TestCertificates.Valid());
        var (expiredCert, expiredKey) = TestCertificates.WritePem(TestCertificates.Expired());
        RelaySettings Load(Dictionary<string, string>? flags = null, Dictionary<string, string>? env = null) =>
            RelayConfigLoader.Settings(RelayConfigLoader.Load(null, flags ?? new(), name => env?.GetValueOrDefault(name)));

        Assert.Null(Load().Tls);
        Assert.Equal(certFile, Load(env: new() { ["TCPRELAY_TLS_CERT"] = certFile, ["TCPRELAY_TLS_KEY"] = keyFile }).Tls!.CertFile);
        Assert.Contains("tls-key is not", Assert.Throws<UsageException>(() => Load(new() { ["tls-cert"] = certFile })).Message);
        Assert.Contains("expired on", Assert.Throws<UsageException>(() => Load(new() { ["tls-cert"] = expiredCert, ["tls-key"] = expiredKey })).Message);
        Assert.Contains("is not the private key", Assert.Throws<UsageException>(() => Load(new() { ["tls-cert"] = certFile, ["tls-key"] = expiredKey })).Message);
        Assert.Contains("cannot read", Assert.Throws<UsageException>(() => Load(new() { ["tls-cert"] = certFile + ".gone", ["tls-key"] = keyFile })).Message);
    }

    [Fact]
    public void Agent_tls_comes_from_a_switch_a_pin_a_CA_file_or_the_environment()
    {
        var (certFile, _) = TestCertificates.WritePem(TestCertificates.Valid());
        var pin = TlsPin.Of(TestCertificates.Valid());
        static Client.RelayListenerOptions Parse(string args, params (string Key, string Value)[] env) =>
            AgentCommand.Parse(args.Split(' '), name => env.FirstOrDefault(e => e.Key == name).Value).Relay;

        Assert.False(Parse("--relay r --to 127.0.0.1:22").UsesTls);
        Assert.True(Parse("--relay r --tls --to 127.0.0.1:22").Tls);
        Assert.Equal(pin, Parse($"--relay r --to 127.0.0.1:22 --tls-pin {pin}").TlsPin);
        Assert.Equal(certFile, Parse("--relay r --to 127.0.0.1:22", ("TCPRELAY_TLS_CA", certFile)).TlsCaFile);
        Assert.Equal("relay.example", Parse($"--relay 10.0.0.1 --to 127.0.0.1:22 --tls --tls-server-name relay.example").TlsServerName);
        Assert.Contains("is not a pin", Assert.Throws<UsageException>(() => Parse("--relay r --to 127.0.0.1:22 --tls-pin sha256:abc")).Message);
        Assert.Contains("cannot read", Assert.Throws<UsageException>(() => Parse($"--relay r --to 127.0.0.1:22 --tls-ca {certFile}.gone")).Message);
        Assert.Contains("takes no value", Assert.Throws<UsageException>(() => Parse("--relay r --to 127.0.0.1:22 --tls=on")).Message);
    }
}
