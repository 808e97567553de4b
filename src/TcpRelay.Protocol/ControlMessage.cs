using System.Globalization;
using System.Net;

namespace TcpRelay.Protocol;

/// <summary>
/// One line of the control channel (port 8080). Every verb of protocol.md is a type below;
/// <see cref="ControlLine"/> turns bytes into these and <see cref="Format"/> turns them back.
/// </summary>
public abstract record ControlMessage
{
    /// <summary>The line as sent on the wire, without its LF.</summary>
    public abstract string Format();
}

/// <summary>relay → app, first line on every control connection: the protocol version and the auth challenge.</summary>
public sealed record Hello(Nonce Nonce, string Version = ProtocolDefaults.Version) : ControlMessage
{
    /// <inheritdoc />
    public override string Format() => $"HELLO {Version} nonce={Nonce}";
}

/// <summary>app → relay: ask to be exposed. Every argument is optional.</summary>
/// <param name="Name">The name to register under; the relay makes one up when absent.</param>
/// <param name="Port">The public port wanted; the relay allocates one when absent.</param>
/// <param name="Auth">HMAC-SHA256 of the HELLO nonce under the shared secret, as 64 lowercase hex.</param>
/// <param name="Resume">Extension: the app's token for keeping its name and port through a reconnect (see <see cref="ResumeToken"/>).</param>
/// <param name="Redirect">Extension (<c>features=redirect</c>): the app honours <c>data=</c> in CONNECT, so a relay node may send it clients that arrived at another node.</param>
/// <param name="User">Extension: the user of the relay's users file the app registers as; <paramref name="Auth"/> is then keyed with that user's secret.</param>
/// <param name="Shared">Extension (<c>shared=yes</c>): the app will hold its name together with other instances that ask the same, each new client going to one of them.</param>
public sealed record Register(AppName? Name = null, int? Port = null, string? Auth = null, ResumeToken? Resume = null, bool Redirect = false,
    UserId? User = null, bool Shared = false) : ControlMessage
{
    /// <summary>The feature word of <see cref="Redirect"/> in <c>features=</c>.</summary>
    public const string RedirectFeature = "redirect";

    /// <inheritdoc />
    public override string Format()
    {
        var line = "REGISTER";
        if (Name is { } name)
            line += $" name={name}";
        if (Port is { } port)
            line += string.Create(CultureInfo.InvariantCulture, $" port={port}");
        if (User is { } user)
            line += $" user={user}";
        if (Auth is { } auth)
            line += $" auth={auth}";
        if (Resume is { } resume)
            line += $" resume={resume}";
        if (Redirect)
            line += $" features={RedirectFeature}";
        if (Shared)
            line += " shared=yes";
        return line;
    }
}

/// <summary>relay → app: the app is registered and its public port is already accepting clients.</summary>
public sealed record Registered(AppName Name, int Port, int DataPort) : ControlMessage
{
    /// <inheritdoc />
    public override string Format() =>
        string.Create(CultureInfo.InvariantCulture, $"REGISTERED name={Name} port={Port} data={DataPort}");
}

/// <summary>relay → app: a client arrived; dial the data port and send ACCEPT with this id.</summary>
/// <param name="Id">The session's id, for the ACCEPT line.</param>
/// <param name="Client">The client's address.</param>
/// <param name="Data">Extension: the data port to dial for this session, when it is not the one REGISTERED named (another relay node). A relay may send it only to apps that registered with <c>features=redirect</c>; a single relay never sends it, a clustered one for clients that arrived at another node.</param>
public sealed record Connect(SessionId Id, IPEndPoint Client, HostPort? Data = null) : ControlMessage
{
    /// <inheritdoc />
    public override string Format() =>
        Data is { } data ? $"CONNECT id={Id} client={FormatEndPoint(Client)} data={data}" : $"CONNECT id={Id} client={FormatEndPoint(Client)}";

    /// <summary>ip:port, with IPv4-mapped IPv6 addresses written as plain IPv4.</summary>
    public static string FormatEndPoint(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6
            ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port).ToString()
            : endPoint.ToString();
}

/// <summary>app → relay: the app will not serve this waiting session; its client is closed.</summary>
public sealed record Reject(SessionId Id) : ControlMessage
{
    /// <inheritdoc />
    public override string Format() => $"REJECT id={Id}";
}

/// <summary>
/// app → relay (extension): the app is leaving on purpose, so the relay releases its name and port
/// at once instead of holding them through the grace period for a resume. A relay without the
/// extension answers <c>ERROR bad-request</c> and closes, which ends the registration just the same.
/// </summary>
public sealed record Leave : ControlMessage
{
    /// <summary>The only instance.</summary>
    public static readonly Leave Instance = new();

    private Leave() { }

    /// <inheritdoc />
    public override string Format() => "LEAVE";
}

/// <summary>Either way: are you there? Answered by <see cref="Pong"/>.</summary>
public sealed record Ping : ControlMessage
{
    /// <summary>The only instance.</summary>
    public static readonly Ping Instance = new();

    private Ping() { }

    /// <inheritdoc />
    public override string Format() => "PING";
}

/// <summary>Either way: the answer to <see cref="Ping"/>.</summary>
public sealed record Pong : ControlMessage
{
    /// <summary>The only instance.</summary>
    public static readonly Pong Instance = new();

    private Pong() { }

    /// <inheritdoc />
    public override string Format() => "PONG";
}

/// <summary>relay → app: something is wrong; the relay closes the connection after this line.</summary>
public sealed record Error(ErrorCode Code, string Text) : ControlMessage
{
    /// <inheritdoc />
    public override string Format()
    {
        // Free text must stay on one line whatever a caller put in it.
        var text = new string(Text.Select(c => char.IsControl(c) ? ' ' : c).ToArray()).Trim();
        return text.Length == 0 ? $"ERROR {Code}" : $"ERROR {Code} {text}";
    }
}
