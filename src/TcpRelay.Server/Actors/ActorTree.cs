using System.Text;
using Akka.Actor;

namespace TcpRelay.Server.Actors;

/// <summary>Renders the live actor hierarchy below an actor, one path element per line, for the log.</summary>
public static class ActorTree
{
    /// <summary>The tree below <paramref name="root"/>, indented two spaces per level; children sorted by name.</summary>
    public static string Render(IActorRef root)
    {
        var text = new StringBuilder();
        Walk(root, 0, text);
        return text.ToString().TrimEnd('\n');
    }

    private static void Walk(IActorRef actor, int depth, StringBuilder text)
    {
        text.Append(' ', depth * 2).Append(depth == 0 ? actor.Path.ToStringWithoutAddress() : actor.Path.Name).Append('\n');
        // Children of a live actor are read without its lock: a snapshot that may be a moment old, which a log line can afford.
        if (actor is ActorRefWithCell withCell)
            foreach (var child in withCell.Children.OrderBy(c => c.Path.Name, StringComparer.Ordinal))
                Walk(child, depth + 1, text);
    }
}
