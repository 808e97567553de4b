using TcpRelay.Server.Tls;

namespace TcpRelay.Cli;

/// <summary><c>tcprelay cert</c>: write a self-signed certificate and key for the relay, and print the pin apps trust it by.</summary>
internal static class CertCommand
{
    public const string Usage =
        "usage: tcprelay cert --host NAME|ADDRESS [--out DIR] [--days N]\n" +
        "  Writes DIR/relay.crt and DIR/relay.key (the key readable by you only; DIR is . by default) for the\n" +
        "  host apps dial, valid for N days (3650 by default), and prints the pin of its key, last, on a line\n" +
        "  of its own: apps trust the relay with --tls-pin PIN (or with --tls-ca relay.crt), no CA needed.\n" +
        "  Existing files are never overwritten.";

    public static int Run(string[] args, TextWriter output)
    {
        var flags = new FlagReader(args, new HashSet<string> { "host", "out", "days" }, new HashSet<string>());
        var host = flags.Value("host") ?? throw new UsageException("--host NAME|ADDRESS is required: the name or address apps dial");
        var directory = flags.Value("out") ?? ".";
        var daysText = flags.Value("days") ?? "3650";
        if (!int.TryParse(daysText, out var days) || days is < 1 or > 36500)
            throw new UsageException($"--days: '{daysText}' is not a number of days from 1 to 36500");
        if (host.Length == 0 || host.Any(c => char.IsWhiteSpace(c) || c is ',' or '/' or '='))
            throw new UsageException($"--host: '{host}' is not a host name or address");
        var certFile = Path.GetFullPath(Path.Combine(directory, "relay.crt"));
        var keyFile = Path.GetFullPath(Path.Combine(directory, "relay.key"));
        foreach (var file in new[] { certFile, keyFile })
            if (File.Exists(file))
                throw new UsageException($"{file} exists; move it away first (its key may be in use)");
        var now = DateTimeOffset.UtcNow;
        // Back-dated a little: a machine whose clock is slightly behind still takes it as valid.
        using var certificate = SelfSignedCertificate.Create(host, now.AddMinutes(-10), now.AddDays(days));
        try
        {
            Directory.CreateDirectory(directory);
            SelfSignedCertificate.WritePem(certificate, certFile, keyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot write to {directory}: {e.Message}");
        }
        var pin = TcpRelay.Protocol.TlsPin.Of(certificate);
        output.WriteLine($"Wrote {certFile} and {keyFile} for {host}, valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}.");
        output.WriteLine($"Relay: tcprelay serve --tls-cert {certFile} --tls-key {keyFile} ...");
        output.WriteLine($"Apps:  tcprelay agent --relay {host}:8080 --tls-pin {pin} ...");
        output.WriteLine(pin);
        return 0;
    }
}
