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

    /// <summary>Writes <paramref name="certificate"/> and its key as PEM files in a new temporary directory.</summary>
    public static (string CertFile, string KeyFile) WritePem(X509Certificate2 certificate)
    {
        var directory = Directory.CreateTempSubdirectory("tcprelay-tls-").FullName;
        var files = (Path.Combine(directory, "relay.crt"), Path.Combine(directory, "relay.key"));
        SelfSignedCertificate.WritePem(certificate, files.Item1, files.Item2);
        return files;
    }
}
