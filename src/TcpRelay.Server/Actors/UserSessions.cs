using System.Collections.Concurrent;
using Akka.Actor;
using TcpRelay.Protocol;
using TcpRelay.Server.Registration;

namespace TcpRelay.Server.Actors;

/// <summary>
/// Sessions open per user on this relay (this node, in a cluster), across all the user's apps, held
/// against the user's <c>max-sessions</c>. Every public port of a user's app counts its clients here
/// as they arrive and end, with no message in between: a counter checked at each accept must not
/// cost an Ask on the path of every client. The limits follow the users file (<see cref="Apply"/>).
/// </summary>
internal sealed class UserSessions : IExtension
{
    private sealed class Count
    {
        public int Open;
        public volatile int Max = int.MaxValue;
    }

    private readonly ConcurrentDictionary<UserId, Count> _users = new();

    /// <summary>Takes the users' limits from a new table (a user without max-sessions, or no longer listed, has none).</summary>
    public void Apply(UserTable? users)
    {
        foreach (var (id, count) in _users)
            count.Max = users?.Find(id)?.MaxSessions ?? int.MaxValue;
        foreach (var grant in users?.Users ?? [])
            CountOf(grant.Id).Max = grant.MaxSessions ?? int.MaxValue;
    }

    /// <summary>Counts a session of <paramref name="user"/> if its limit allows; false (nothing counted) if it is reached.</summary>
    public bool TryOpen(UserId user, out int max)
    {
        var count = CountOf(user);
        max = count.Max;
        while (true)
        {
            var open = Volatile.Read(ref count.Open);
            if (open >= count.Max)
                return false;
            if (Interlocked.CompareExchange(ref count.Open, open + 1, open) == open)
                return true;
        }
    }

    /// <summary>A session <see cref="TryOpen"/> counted has ended.</summary>
    public void Close(UserId user, int sessions = 1) => Interlocked.Add(ref CountOf(user).Open, -sessions);

    /// <summary>Sessions of <paramref name="user"/> open now.</summary>
    public int OpenOf(UserId user) => _users.TryGetValue(user, out var count) ? Volatile.Read(ref count.Open) : 0;

    private Count CountOf(UserId user) => _users.GetOrAdd(user, _ => new Count());

    /// <summary>The counts of <paramref name="system"/>.</summary>
    public static UserSessions Get(ActorSystem system) => system.WithExtension<UserSessions, Provider>();

    private sealed class Provider : ExtensionIdProvider<UserSessions>
    {
        public override UserSessions CreateExtension(ExtendedActorSystem system) => new();
    }
}
