using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TcpRelay.Server.Tls;

namespace TcpRelay.TestSupport;

/// <summary>Certificates made in the test (no files unless asked): valid, expired, for a name of the test's choosing.</summary>
public static class TestCertificates
{
    /// <summary>A self-signed certificate for <paramref name="host"/> valid for a day from now (an hour of slack for clocks).</summary>
    public static X509Certificate2 Valid(string host = "127.0.0.1") =>
        SelfSignedCertificate.Create(host, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));

    /// <summary>A self-signed certificate for <paramref name="host"/> that expired yesterday.</summary>
    public static X509Certificate2 Expired(string host = "127.0.0.1") =>
        SelfSignedCertificate.Create(host, DateTimeOffset.UtcNow.AddDays(-10), DateTimeOffset.UtcNow.AddDays(-1));

    /// <summary>A CA of the test's own (self-signed, may sign certificates), valid for a day.</summary>
    public static X509Certificate2 Authority()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=TcpRelay test CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>A certificate for <paramref name="host"/> (an IP address here), with its key, signed by <paramref name="authority"/>.</summary>
    public static X509Certificate2 IssuedBy(X509Certificate2 authority, string host)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(SelfSignedCertificate.SubjectAlternativeName(host));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var issued = request.Create(authority, DateTimeOffset.UtcNow.AddMinutes(-30), DateTimeOffset.UtcNow.AddHours(20), RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes <paramref name="certificate"/> and its key as PEM files in a new temporary directory.</summary>
    public static (string CertFile, string KeyFile) WritePem(X509Certificate2 certificate)
    {
        var directory = Directory.CreateTempSubdirectory("tcprelay-tls-").FullName;
        var files = (Path.Combine(directory, "relay.crt"), Path.Combine(directory, "relay.key"));
        SelfSignedCertificate.WritePem(certificate, files.Item1, files.Item2);
        return files;
    }
}
