using System.Text.RegularExpressions;
using TcpRelay.Protocol;

namespace TcpRelay.Server.Telemetry;

/// <summary>
/// A session's id lets whoever knows it claim the session on the data port (ACCEPT), so what the
/// relay shows of itself (status board snapshots, the admin endpoint) carries only the first 8 of
/// its 32 digits: enough to tell sessions apart.
/// </summary>
internal static class SessionIds
{
    private const int ShownDigits = 8;

    private static readonly Regex FullId = new(
        $"session-([0-9a-f]{{{ShownDigits}}})[0-9a-f]{{{32 - ShownDigits}}}", RegexOptions.Compiled | RegexOptions.CultureInvariant);

    /// <summary>The digits of <paramref name="id"/> that may be shown.</summary>
    public static string Prefix(SessionId id) => id.Value[..ShownDigits];

    /// <summary>Every "session-" followed by a full id in <paramref name="text"/> (an actor path), cut to its shown digits.</summary>
    public static string Shorten(string text) => FullId.Replace(text, m => "session-" + m.Groups[1].Value + "…");
}
