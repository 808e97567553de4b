using TcpRelay.Protocol;

namespace TcpRelay.Server.Registration;

/// <summary>
/// One user of the relay's users file: the secret its apps' REGISTER auth is keyed with, and what
/// they may hold. A null grant (names, ports, a limit) restricts nothing beyond the relay's own rules.
/// </summary>
/// <param name="Id">The user's id, as in <c>REGISTER … user=</c>.</param>
/// <param name="Secret">The user's secret (at least <see cref="UsersFile.MinSecretBytes"/> bytes).</param>
/// <param name="Names">Names granted: exact names, or a prefix followed by <c>*</c>.</param>
/// <param name="Ports">The public ports granted, within the relay's public range.</param>
/// <param name="MaxApps">Most apps of this user registered at once.</param>
/// <param name="MaxSessions">Most sessions of all this user's apps open at once on this relay (on each node of a cluster).</param>
public sealed record UserGrant(UserId Id, string Secret, IReadOnlyList<string>? Names, PublicPortRange? Ports, int? MaxApps, int? MaxSessions)
{
    /// <summary>Why the user may not hold <paramref name="name"/>, or null if it may.</summary>
    public string? WhyNotName(AppName name) =>
        Names is null || Names.Any(pattern => Matches(pattern, name))
            ? null
            : $"name '{name}' is not granted to user {Id} (names: {string.Join(", ", Names)})";

    /// <summary>Why the user may not hold <paramref name="port"/>, or null if it may.</summary>
    public string? WhyNotPort(int port) =>
        Ports is null || Ports.Contains(port) ? null : $"port {port} is not granted to user {Id} (ports: {Ports})";

    /// <summary>
    /// A name for an app of this user that asked for none: <paramref name="generated"/> (the relay's
    /// own app-N) if the user may have any name, else the next free one of a prefix granted, else the
    /// first exact name granted that is free; null if none is.
    /// </summary>
    public AppName? NameFor(Func<string, AppName> generated, Func<AppName, bool> taken)
    {
        if (Names is null || Names.Contains("*"))
            return generated("app-");
        if (Names.FirstOrDefault(p => p.EndsWith('*')) is { } prefix)
            return generated(prefix[..^1]);
        foreach (var exact in Names)
            if (AppName.Parse(exact) is { IsOk: true } parsed && !taken(parsed.Value))
                return parsed.Value;
        return null;
    }

    private static bool Matches(string pattern, AppName name) =>
        pattern.EndsWith('*') ? name.Value.StartsWith(pattern[..^1], StringComparison.Ordinal) : pattern == name.Value;
}
