using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// What an app trusts the relay's certificate for (<see cref="RelayListenerOptions.Tls"/> and the
/// options beside it), and the TLS handshake of its control and data connections. Exactly one of:
/// a pinned key (any certificate with that key, names and issuers aside), a CA or self-signed
/// certificate from a file, or the system's trust store; all but the pin also check the name.
/// </summary>
internal sealed class RelayTrust
{
    private readonly string? _pin;
    private readonly X509Certificate2Collection? _ca;
    private readonly string? _caFile;
    private readonly string? _serverName;
    // One options object per name, shared by the control and every data connection: the runtime
    // considers resuming a TLS session only for the same options.
    private readonly ConcurrentDictionary<string, SslClientAuthenticationOptions> _options = new();
    // Why the callback refused a stream's certificate, for the exception once its handshake fails.
    private readonly ConditionalWeakTable<SslStream, string> _refusals = new();

    private RelayTrust(string? pin, X509Certificate2Collection? ca, string? caFile, string? serverName)
    {
        _pin = pin;
        _ca = ca;
        _caFile = caFile;
        _serverName = serverName;
    }

    /// <summary>The trust the options ask for, or null when they leave TLS off.</summary>
    /// <exception cref="ArgumentException">See <see cref="Create"/>.</exception>
    public static RelayTrust? From(RelayListenerOptions options) =>
        options.UsesTls ? Create(options.TlsCaFile, options.TlsPin, options.TlsServerName) : null;

    /// <summary>Trust in <paramref name="pin"/>, else the CA in <paramref name="caFile"/>, else the system's trust store.</summary>
    /// <exception cref="ArgumentException">The pin is malformed, or the CA file cannot be read or holds no certificate.</exception>
    public static RelayTrust Create(string? caFile, string? pin, string? serverName)
    {
        if (pin is not null)
        {
            var parsed = TlsPin.Parse(pin);
            pin = parsed.IsOk ? parsed.Value : throw new ArgumentException($"TlsPin: {parsed.Error}", nameof(RelayListenerOptions.TlsPin));
        }
        X509Certificate2Collection? ca = null;
        if (caFile is { } file)
        {
            ca = [];
            try
            {
                ca.ImportFromPemFile(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new ArgumentException($"TlsCaFile: cannot read a PEM certificate from '{file}': {e.Message}", nameof(RelayListenerOptions.TlsCaFile));
            }
            if (ca.Count == 0)
                throw new ArgumentException($"TlsCaFile: '{file}' holds no PEM certificate", nameof(RelayListenerOptions.TlsCaFile));
        }
        return new RelayTrust(pin, ca, caFile, serverName);
    }

    /// <summary>
    /// Runs the handshake over <paramref name="socket"/>, which the stream returned owns. The name
    /// checked is the server name option, else <paramref name="host"/> (the one dialled).
    /// </summary>
    /// <exception cref="RelayTlsException">The relay's certificate was refused, or the relay does not speak TLS.</exception>
    public async Task<SslStream> AuthenticateAsync(Socket socket, string host, CancellationToken ct)
    {
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        var options = ClientOptions(NameFor(host));
        try
        {
            await tls.AuthenticateAsClientAsync(options, ct);
            return tls;
        }
        catch (AuthenticationException e)
        {
            await tls.DisposeAsync();
            throw _refusals.TryGetValue(tls, out var refusal)
                ? new RelayTlsException($"the relay's certificate is refused: {refusal}", e)
                : new RelayTlsException($"the TLS handshake with {host} failed (does it serve TLS, tls-cert?): {Innermost(e).Message}", e);
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    /// <summary>The options of every handshake that checks for <paramref name="name"/> (also for HTTPS clients of the admin endpoint).</summary>
    public SslClientAuthenticationOptions ClientOptions(string name) => _options.GetOrAdd(name, OptionsFor);

    /// <summary>Why the certificate last refused was refused (for a client with one connection, as <c>tcprelay status</c>).</summary>
    public string? LastRefusal { get; private set; }

    private SslClientAuthenticationOptions OptionsFor(string name) => new()
    {
        TargetHost = name,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        // The chain the runtime builds before the callback runs: to the CA file when there is one
        // (not the system's stores too), and with a pin to nothing at all, which the pin overrules.
        CertificateChainPolicy = ChainPolicy(),
        RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
        {
            var refusal = Check(certificate as X509Certificate2, chain, errors, name);
            if (refusal is null)
                return true;
            LastRefusal = refusal;
            if (sender is SslStream stream)
                _refusals.AddOrUpdate(stream, refusal);
            return false;
        },
    };

    private X509ChainPolicy? ChainPolicy()
    {
        if (_ca is null && _pin is null)
            return null;
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        if (_ca is not null)
            policy.CustomTrustStore.AddRange(_ca);
        return policy;
    }

    /// <summary>Why the certificate presented is not trusted for <paramref name="name"/>, or null when it is.</summary>
    private string? Check(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors, string name)
    {
        if (certificate is null)
            return "the relay sent no certificate";
        var now = DateTime.Now;
        if (now > certificate.NotAfter)
            return $"expired: {certificate.Subject} was valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC";
        if (now < certificate.NotBefore)
            return $"not yet valid: {certificate.Subject} is valid from {certificate.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC";
        if (_pin is not null)
            return TlsPin.Of(certificate) is var actual && actual == _pin ? null : $"pin mismatch: the relay's key is {actual}, not {_pin}";
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            return $"name mismatch: {certificate.Subject} does not name {name} (set the name it has with the server name option)";
        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            return $"unknown CA: {certificate.Subject}, issued by {certificate.Issuer}, " +
                   $"{(_ca is null ? "is not trusted by this system" : $"does not chain to {_caFile}")} ({(chain is null ? "no chain" : Statuses(chain))})";
        return errors == SslPolicyErrors.None ? null : errors.ToString();
    }

    /// <summary>The name a certificate must carry when <paramref name="host"/> is dialled.</summary>
    public string NameFor(string host) => _serverName ?? host;

    private static string Statuses(X509Chain chain) =>
        string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is { } inner)
            e = inner;
        return e;
    }
}
