using System.Net;
using TcpRelay.Client;

namespace TcpRelay.AspNetCore;

/// <summary>
/// The endpoint Kestrel "listens" on when it is served through a relay: the registration to make.
/// Once Kestrel has started, <see cref="PublicPort"/> says where clients connect.
/// </summary>
public sealed class RelayEndPoint : EndPoint
{
    private RelayListener? _listener;

    internal RelayEndPoint(RelayListenerOptions options) => Options = options;

    internal RelayListenerOptions Options { get; }

    /// <summary>The relay's host, as configured.</summary>
    public string RelayHost => Options.RelayHost;

    /// <summary>The name the relay registered the app under.</summary>
    /// <exception cref="InvalidOperationException">Kestrel has not started yet.</exception>
    public string Name => Listener.Name;

    /// <summary>The relay's public port for the app: clients connect to <see cref="RelayHost"/> on it.</summary>
    /// <exception cref="InvalidOperationException">Kestrel has not started yet.</exception>
    public int PublicPort => Listener.PublicPort;

    private RelayListener Listener => _listener ?? throw new InvalidOperationException("the app is not registered with the relay yet (start the host first)");

    internal void Registered(RelayListener listener) => _listener = listener;

    /// <inheritdoc />
    public override string ToString() =>
        _listener is { } l ? $"tcprelay://{RelayHost}:{l.PublicPort} (app {l.Name})" : $"tcprelay://{Options.RelayHost}:{Options.ControlPort}";
}
