using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TcpRelay.Protocol;

namespace TcpRelay.Server.Tls;

/// <summary>
/// The certificate and key the control and data ports (and the admin endpoint) present, read once
/// at start-up from PEM files (<c>tls-cert</c>, <c>tls-key</c>) and checked before any port is bound.
/// </summary>
public sealed class RelayCertificate
{
    private readonly SslStreamCertificateContext _context;

    private RelayCertificate(X509Certificate2 certificate, X509Certificate2Collection chain, string certFile)
    {
        Certificate = certificate;
        CertFile = certFile;
        Pin = TlsPin.Of(certificate);
        // Built once, with the intermediates the file holds: every handshake sends the same chain
        // without looking anything up (offline), however many connections arrive.
        _context = SslStreamCertificateContext.Create(certificate, chain, offline: true);
    }

    /// <summary>The relay's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The PEM file the certificate (and any intermediates after it) came from.</summary>
    public string CertFile { get; }

    /// <summary>The certificate key's pin (<see cref="TlsPin"/>), for apps that trust this key alone.</summary>
    public string Pin { get; }

    /// <summary>Reads and checks the pair: both files readable, the key the certificate's, the certificate valid at <paramref name="now"/>.</summary>
    /// <exception cref="RelayConfigException">The one problem found, naming the file.</exception>
    public static RelayCertificate Load(string certFile, string keyFile, DateTimeOffset now)
    {
        foreach (var (key, file) in new[] { ("tls-cert", certFile), ("tls-key", keyFile) })
        {
            try
            {
                using var _ = File.OpenRead(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new RelayConfigException($"tcprelay.{key}: cannot read '{file}': {e.Message}");
            }
        }
        var chain = new X509Certificate2Collection();
        try
        {
            chain.ImportFromPemFile(certFile);
        }
        catch (CryptographicException e)
        {
            throw new RelayConfigException($"tcprelay.tls-cert: '{certFile}' holds no PEM certificate: {e.Message}");
        }
        if (chain.Count == 0)
            throw new RelayConfigException($"tcprelay.tls-cert: '{certFile}' holds no PEM certificate");
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        // A key of another certificate is an ArgumentException; no key at all a CryptographicException.
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new RelayConfigException($"tcprelay.tls-key: '{keyFile}' is not the private key of '{certFile}' (or no PEM key): {e.Message}");
        }
        if (now >= certificate.NotAfter)
            throw new RelayConfigException($"tcprelay.tls-cert: '{certFile}' expired on {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC");
        if (now < certificate.NotBefore)
            throw new RelayConfigException($"tcprelay.tls-cert: '{certFile}' is not valid before {certificate.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC");
        chain.RemoveAt(0);
        return new RelayCertificate(certificate, chain, certFile);
    }

    /// <summary>A pair made in memory (tests, hosts that hold their own certificate).</summary>
    public static RelayCertificate From(X509Certificate2 certificate) =>
        certificate.HasPrivateKey
            ? new RelayCertificate(certificate, [], "(in memory)")
            : throw new ArgumentException("the certificate has no private key", nameof(certificate));

    /// <summary>What a TLS port's handshake offers: this certificate, TLS 1.2 and 1.3, no client certificate.</summary>
    public SslServerAuthenticationOptions ServerOptions() => new()
    {
        ServerCertificateContext = _context,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ClientCertificateRequired = false,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
    };

    /// <inheritdoc />
    public override string ToString() => $"{CertFile} ({Certificate.Subject}, until {Certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}, {Pin})";
}
