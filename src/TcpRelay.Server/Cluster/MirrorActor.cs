using Akka.Actor;
using Akka.Event;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Cluster;

/// <summary>
/// An app's role on a node its control connection is not on (<c>app-NAME/mirror</c>, the child of
/// the app's <see cref="PublicPortActor"/> here): each client of this node's port is handed to the
/// app's <see cref="AppActor"/> on its own node, as a CONNECT whose data= names this node, and a
/// REJECT comes back here. While the app is away (its node lost, its grace period running) clients
/// wait here for its return; an app that cannot be sent to dial this node gets none of them.
/// </summary>
internal sealed class MirrorActor : LifecycleLoggingActor
{
    /// <summary>From the registry (through the port): the cluster's table names this app's actor (null: the app is away) and whether it takes redirects.</summary>
    public sealed record OwnerIs(IActorRef? Owner, bool Redirect);

    private readonly AppName _name;
    private readonly HostPort _dataAddress;
    private readonly IActorRef _port;
    private readonly AppStatus? _status;
    // This node's clients not yet paired: a new owner is told about them.
    private readonly Dictionary<SessionId, Connect> _waiting = [];
    private IActorRef? _owner;
    private bool _redirect;
    private int _refused;

    public MirrorActor(AppName name, IActorRef? owner, bool redirect, HostPort dataAddress, PublicPortActor.Bound port)
    {
        _name = name;
        _owner = owner;
        _redirect = redirect;
        _dataAddress = dataAddress;
        _port = port.Port;
        _status = port.Status;

        Receive<AppActor.ClientWaiting>(waiting =>
        {
            var connect = waiting.Connect with { Data = _dataAddress };
            _waiting[connect.Id] = connect;
            Hand(connect);
        });
        Receive<AppActor.ClientSettled>(settled =>
        {
            if (_waiting.Remove(settled.Id))
                _owner?.Tell(settled);
        });
        // From the owner: a REJECT (or an owner that cannot announce it) closes the client here.
        Receive<PublicPortActor.CloseClient>(close => _port.Tell(close));
        Receive<OwnerIs>(owner =>
        {
            var changed = !Equals(owner.Owner, _owner) || _redirect != owner.Redirect;
            _owner = owner.Owner;
            _redirect = owner.Redirect;
            if (changed)
                _refused = 0;
            ShowOwner();
            // A new owner (or the app back after its node was lost, or registered anew) hears of every client still waiting here.
            if (changed)
                foreach (var connect in _waiting.Values.ToList())
                    Hand(connect);
        });
        Receive<AppActor.Dismiss>(dismiss => _port.Tell(new PublicPortActor.Depart($"is not mirrored any longer: {dismiss.Text}")));
    }

    protected override LogLevel LifecycleLevel => LogLevel.InfoLevel;

    /// <summary>
    /// Hands a waiting client to the app's node; clients wait here while the app is away. An app that
    /// registered without features=redirect cannot be sent to dial this node: protocol.md has it get
    /// only the clients of its own node, so this one is closed.
    /// </summary>
    private void Hand(Connect connect)
    {
        if (_owner is null)
            return;
        if (_redirect)
        {
            _owner.Tell(new AppActor.ClientWaiting(connect, Self));
            return;
        }
        _waiting.Remove(connect.Id);
        _port.Tell(new PublicPortActor.CloseClient(connect.Id, "the app takes no clients of other nodes (no features=redirect)", SessionEndCause.Rejected));
        if (_refused++ == 0)
            Log.Warning("App {App}: clients arriving at this node are closed: the app did not register with features=redirect, so it cannot be sent to dial this node", _name);
    }

    public static Props CreateProps(AppName name, IActorRef? owner, bool redirect, HostPort dataAddress, PublicPortActor.Bound port) =>
        Props.Create(() => new MirrorActor(name, owner, redirect, dataAddress, port));

    protected override void PreStart()
    {
        base.PreStart();
        _status?.ControlFrom(Self.Path.Name, null);
        ShowOwner();
    }

    protected override void PostStop()
    {
        _status?.InstanceGone(Self.Path.Name);
        base.PostStop();
    }

    /// <summary>On the status board, a mirrored app names the node its control connection is on.</summary>
    private void ShowOwner() => _status?.ControlOn(_owner is null ? "away" : _owner.Path.Address.ToString());
}
