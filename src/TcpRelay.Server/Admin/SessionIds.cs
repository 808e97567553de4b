using System.Text.RegularExpressions;

namespace TcpRelay.Server.Admin;

/// <summary>
/// A session's id lets whoever knows it claim the session on the data port (ACCEPT), so what the
/// admin endpoint shows carries only the first 8 of its 32 digits: enough to tell sessions apart.
/// </summary>
internal static partial class SessionIds
{
    public const int ShownDigits = 8;

    /// <summary>Every "session-" followed by a full id in <paramref name="text"/>, cut to its first digits.</summary>
    public static string Shorten(string text) => FullId().Replace(text, m => "session-" + m.Groups[1].Value + "…");

    [GeneratedRegex("session-([0-9a-f]{8})[0-9a-f]{24}")]
    private static partial Regex FullId();
}
