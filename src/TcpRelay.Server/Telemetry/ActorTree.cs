using System.Text;
using Akka.Actor;

namespace TcpRelay.Server.Telemetry;

/// <summary>One actor of a snapshot of the actor tree, with the actors below it.</summary>
public sealed record ActorNode(string Name, string Path, IReadOnlyList<ActorNode> Children);

/// <summary>The live actor hierarchy below an actor: rendered for the log, copied, or counted.</summary>
public static class ActorTree
{
    /// <summary>The tree below <paramref name="root"/>, indented two spaces per level; children sorted by name.</summary>
    public static string Render(IActorRef root)
    {
        var text = new StringBuilder();
        Walk(root, 0, text);
        return text.ToString().TrimEnd('\n');
    }

    /// <summary>The tree below <paramref name="root"/> as data (the admin endpoint's <c>/actors</c>); children sorted by name.</summary>
    public static ActorNode Snapshot(IActorRef root) =>
        new(root.Path.Name, root.Path.ToStringWithoutAddress(),
            root is ActorRefWithCell withCell
                ? withCell.Children.OrderBy(c => c.Path.Name, StringComparer.Ordinal).Select(Snapshot).ToList()
                : []);

    /// <summary>Every actor of the system from its root.</summary>
    public static ActorNode Snapshot(ActorSystem system) => Snapshot(((ExtendedActorSystem)system).Provider.RootGuardian);

    /// <summary>How many actors live at and below <paramref name="root"/> (a snapshot, as for <see cref="Render"/>).</summary>
    public static int Count(IActorRef root) =>
        1 + (root is ActorRefWithCell withCell ? withCell.Children.Sum(Count) : 0);

    /// <summary>Every actor of the system, Akka.IO's connection actors under /system included.</summary>
    public static int Count(ActorSystem system) => Count(((ExtendedActorSystem)system).Provider.RootGuardian);

    private static void Walk(IActorRef actor, int depth, StringBuilder text)
    {
        text.Append(' ', depth * 2).Append(depth == 0 ? actor.Path.ToStringWithoutAddress() : actor.Path.Name).Append('\n');
        // Children of a live actor are read without its lock: a snapshot that may be a moment old, which a log line can afford.
        if (actor is ActorRefWithCell withCell)
            foreach (var child in withCell.Children.OrderBy(c => c.Path.Name, StringComparer.Ordinal))
                Walk(child, depth + 1, text);
    }
}
