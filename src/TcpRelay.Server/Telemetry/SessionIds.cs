using TcpRelay.Protocol;

namespace TcpRelay.Server.Telemetry;

/// <summary>
/// A session's id lets whoever knows it claim the session on the data port (ACCEPT), so what the
/// relay shows of itself (status board snapshots, the admin endpoint) carries only the first 8 of
/// its 32 digits: enough to tell sessions apart. (Actors are never named by it.)
/// </summary>
internal static class SessionIds
{
    private const int ShownDigits = 8;

    /// <summary>The digits of <paramref name="id"/> that may be shown.</summary>
    public static string Prefix(SessionId id) => id.Value[..ShownDigits];
}
