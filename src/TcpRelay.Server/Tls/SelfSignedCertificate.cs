using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TcpRelay.Server.Tls;

/// <summary>
/// A self-signed certificate for the relay (what <c>tcprelay cert</c> writes): TLS without a CA,
/// apps trusting it by its pin or as their CA file.
/// </summary>
public static class SelfSignedCertificate
{
    /// <summary>The certificate extension that names <paramref name="host"/>: an IP address entry for an address, else a DNS name.</summary>
    internal static X509Extension SubjectAlternativeName(string host)
    {
        var names = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(host, out var address))
            names.AddIpAddress(address);
        else
            names.AddDnsName(host);
        return names.Build();
    }

    /// <summary>A new P-256 key and a certificate naming <paramref name="host"/> (a DNS name, or an IP address) from <paramref name="notBefore"/> to <paramref name="notAfter"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty, or the dates are the wrong way round.</exception>
    public static X509Certificate2 Create(string host, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        if (string.IsNullOrWhiteSpace(host))
            throw new ArgumentException("the host name is empty", nameof(host));
        if (notAfter <= notBefore)
            throw new ArgumentException("the certificate would end before it begins", nameof(notAfter));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={host}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(SubjectAlternativeName(host));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server authentication
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    /// <summary>Writes the certificate and its private key as PEM; the key file is readable by its owner only.</summary>
    public static void WritePem(X509Certificate2 certificate, string certFile, string keyFile)
    {
        var key = certificate.GetECDsaPrivateKey() ?? throw new ArgumentException("the certificate has no ECDSA private key", nameof(certificate));
        File.WriteAllText(certFile, certificate.ExportCertificatePem() + "\n");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var writer = new StreamWriter(keyFile, options);
        writer.Write(key.ExportPkcs8PrivateKeyPem() + "\n");
    }
}
