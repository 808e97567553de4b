using System.Net;

namespace TcpRelay.Server;

/// <summary>Where a running relay listens.</summary>
/// <param name="Control">The control (registration) port's address.</param>
/// <param name="Data">The data port's address.</param>
public sealed record RelayEndpoints(IPEndPoint Control, IPEndPoint Data);

/// <summary>The relay could not bind one of its ports.</summary>
public sealed class RelayBindException(string message) : Exception(message);
