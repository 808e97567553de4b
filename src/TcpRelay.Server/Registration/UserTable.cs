using TcpRelay.Protocol;

namespace TcpRelay.Server.Registration;

/// <summary>The users of a users file as read at one moment (a new one is read on every valid edit).</summary>
public sealed class UserTable
{
    private readonly IReadOnlyDictionary<UserId, UserGrant> _users;

    /// <param name="users">The users, by id.</param>
    /// <param name="fingerprint">A hash of everything the table was read from (the file and the secret files it names), to tell an edit from a file read again unchanged.</param>
    public UserTable(IReadOnlyDictionary<UserId, UserGrant> users, string fingerprint)
    {
        _users = users;
        Fingerprint = fingerprint;
    }

    /// <summary>A hash of what the table was read from.</summary>
    public string Fingerprint { get; }

    /// <summary>How many users there are.</summary>
    public int Count => _users.Count;

    /// <summary>Every user.</summary>
    public IEnumerable<UserGrant> Users => _users.Values;

    /// <summary>The user with this id, or null.</summary>
    public UserGrant? Find(UserId id) => _users.GetValueOrDefault(id);

    /// <summary>
    /// Why an app of <paramref name="user"/> may no longer hold <paramref name="name"/> and
    /// <paramref name="port"/> under this table, or null if it may (an app registered with the
    /// shared secret, <paramref name="user"/> null, is not this table's to judge).
    /// </summary>
    public string? WhyNotHeld(UserId? user, AppName name, int port)
    {
        if (user is not { } id)
            return null;
        if (Find(id) is not { } grant)
            return $"user {id} is no longer in the users file";
        return grant.WhyNotName(name) ?? grant.WhyNotPort(port);
    }
}
