using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// The last few thousand session ids offered. A relay that takes an app back announces again the
/// clients still waiting, and some of those the app may already have dialled for; remembering
/// recent ids keeps a session from being served twice. Bounded, so it never grows with traffic.
/// Only the listener's read loop uses it, one line at a time.
/// </summary>
internal sealed class RecentSessionIds(int capacity = 4096)
{
    private readonly HashSet<SessionId> _ids = [];
    private readonly Queue<SessionId> _order = new();

    /// <summary>Adds the id; false when it was seen already.</summary>
    public bool Add(SessionId id)
    {
        if (!_ids.Add(id))
            return false;
        _order.Enqueue(id);
        if (_order.Count > capacity)
            _ids.Remove(_order.Dequeue());
        return true;
    }
}
