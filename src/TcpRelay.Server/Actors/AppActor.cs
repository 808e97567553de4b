using System.Net;
using Akka.Actor;
using Akka.Event;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// The control side of one registered app (<c>app-NAME/control</c>, the child of its
/// <see cref="PublicPortActor"/>): it answers REGISTERED, announces each waiting client with
/// CONNECT and passes the app's REJECT and LEAVE on. When the app's control connection ends, an
/// app that gave a resume token is held through the grace period (<see cref="Detached"/>): its name
/// and port stay its own, clients wait for it, and its return announces them again. Otherwise, or
/// once the grace period is over, the port is told the app is gone.
/// <para>
/// A waiting client is known with the actor that holds its connection: the app's own port, or
/// another relay's (a cluster node's) that hands this app its clients; a REJECT goes back there.
/// </para>
/// </summary>
internal sealed class AppActor : LifecycleLoggingActor, IWithTimers
{
    /// <summary>
    /// The app's control side as the registry decided it: its name, its control channel
    /// (<see cref="ActorRefs.Nobody"/> for a registration restored from the state file, whose owner
    /// is not back yet), and the hash of its resume token (null: it gave none and is not held for a return).
    /// </summary>
    public sealed record Spec(AppName Name, IActorRef Channel, IPEndPoint? Remote, int DataPort, string? ResumeSha256);

    /// <summary>A client waits for the app; <paramref name="Holder"/> holds its connection and closes it when told (<see cref="PublicPortActor.CloseClient"/>).</summary>
    public sealed record ClientWaiting(Connect Connect, IActorRef Holder);

    /// <summary>From a holder: this client was paired or closed, so it is not announced again.</summary>
    public sealed record ClientSettled(SessionId Id);

    /// <summary>The app sent REJECT for a session.</summary>
    public sealed record RejectSession(SessionId Id);

    /// <summary>From the registry: the app registered again with its resume token (whose hash tells which instance of a shared name it is), on this control channel.</summary>
    public sealed record Resume(IActorRef Channel, IPEndPoint Remote, string? ResumeSha256 = null);

    /// <summary>The app said LEAVE: it is not coming back, so nothing is held for it.</summary>
    public sealed class Leave
    {
        public static readonly Leave Instance = new();
        private Leave() { }
    }

    /// <summary>
    /// To the control channel that sent <see cref="Leave"/>: the name is free, and so is the port unless
    /// paired sessions still hold it. The channel closes only then, so an app that registers again the
    /// moment it sees the close finds both free.
    /// </summary>
    public sealed class Left
    {
        public static readonly Left Instance = new();
        private Left() { }
    }

    /// <summary>
    /// From the registry: the app may not stay (the relay is stopping, or its user's grant no longer
    /// covers it). It is told ERROR with this code and text and is not held for a return; paired
    /// sessions may finish.
    /// </summary>
    public sealed record Dismiss(ErrorCode Code, string Text)
    {
        /// <summary>The relay is stopping.</summary>
        public static readonly Dismiss Shutdown = new(ErrorCode.Shutdown, "the relay is stopping");
    }

    private sealed class GraceExpired
    {
        public static readonly GraceExpired Instance = new();
        private GraceExpired() { }
    }

    private readonly Spec _spec;
    private readonly RelaySettings _settings;
    private readonly IActorRef _port;
    private readonly int _boundPort;
    private readonly AppStatus? _status;
    // Clients not yet paired, with the actor holding each: a returning app is told about them again.
    private readonly Dictionary<SessionId, ClientWaiting> _waiting = [];
    // Holders other than the app's own port, watched: a lost one's clients went with it.
    private readonly HashSet<IActorRef> _holders = [];
    private IActorRef _channel;

    public AppActor(Spec spec, PublicPortActor.Bound port, RelaySettings settings)
    {
        _spec = spec;
        _settings = settings;
        _port = port.Port;
        _boundPort = port.BoundPort;
        _status = port.Status;
        _channel = spec.Channel;
        if (_channel.IsNobody())
            Detached();
        else
            Serving();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override LogLevel LifecycleLevel => LogLevel.InfoLevel;

    public static Props CreateProps(Spec spec, PublicPortActor.Bound port, RelaySettings settings) => Props.Create(() => new AppActor(spec, port, settings));

    protected override void PreStart()
    {
        base.PreStart();
        _status?.ControlFrom(Self.Path.Name, _spec.Remote);
        _status?.ControlOn(null);
        if (_channel.IsNobody())
        {
            Log.Info("App {App} restored from the state file: name and port {Port} held for {Grace}", _spec.Name, _boundPort, Duration.Format(_settings.GracePeriod));
            Timers.StartSingleTimer(GraceExpired.Instance, GraceExpired.Instance, _settings.GracePeriod);
            return;
        }
        Context.Watch(_channel);
        AnswerRegistered();
    }

    protected override void PostStop()
    {
        // Stopped while it still serves a connection: the app registered on another relay of the
        // cluster, or is no longer registered there. Its connection closes; the app registers again.
        _channel.Tell(ControlChannelActor.Superseded.Instance);
        // From here, after the last ControlFrom of this role: the board lists only roles that run.
        _status?.InstanceGone(Self.Path.Name);
        base.PostStop();
    }

    /// <summary>The app's control connection is live: clients are announced as they arrive.</summary>
    private void Serving()
    {
        ReceiveClients(announce: true);
        Receive<RejectSession>(reject =>
        {
            if (_waiting.Remove(reject.Id, out var waiting))
                waiting.Holder.Tell(new PublicPortActor.CloseClient(reject.Id, "rejected by the app", SessionEndCause.Rejected));
            else
                Log.Debug("App {App} rejected session {SessionId}, which is no longer waiting", _spec.Name, reject.Id);
        });
        Receive<Leave>(_ =>
        {
            if (!Sender.Equals(_channel))
                return;
            var leaving = _channel;
            LetGo();
            Depart("left", leaving);
        });
        Receive<Dismiss>(dismiss =>
        {
            var channel = _channel;
            LetGo();
            channel.Tell(new ControlChannelActor.Refused(dismiss.Code, dismiss.Text));
            Depart($"was told ERROR {dismiss.Code}: {dismiss.Text}");
        });
        // The app came back before the relay noticed its old connection die (a half-open connection).
        Receive<Resume>(resume =>
        {
            Adopt(resume);
            AnswerRegistered();
            AnnounceWaiting();
        });
        Receive<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(_channel))
            {
                HolderLost(t.ActorRef);
                return;
            }
            _channel = ActorRefs.Nobody;
            if (_spec.ResumeSha256 is not null && _settings.GracePeriod > TimeSpan.Zero)
            {
                Log.Info("App {App} lost its control connection: name and port {Port} held for {Grace}",
                    _spec.Name, _boundPort, Duration.Format(_settings.GracePeriod));
                _status?.ControlFrom(Self.Path.Name, null);
                _port.Tell(PublicPortActor.Away.Instance);
                Timers.StartSingleTimer(GraceExpired.Instance, GraceExpired.Instance, _settings.GracePeriod);
                Become(Detached);
                return;
            }
            Depart("left");
        });
    }

    /// <summary>
    /// The control connection dropped and the grace period runs: clients are still accepted and wait
    /// for the app (each up to its pending timeout); the app's return announces them.
    /// </summary>
    private void Detached()
    {
        ReceiveClients(announce: false);
        Receive<Resume>(resume =>
        {
            Adopt(resume);
            Timers.Cancel(GraceExpired.Instance);
            Log.Info("App {App} is back from {Remote}: {Waiting} waiting clients announced again", _spec.Name, resume.Remote, _waiting.Count);
            AnswerRegistered();
            AnnounceWaiting();
            Become(Serving);
        });
        Receive<GraceExpired>(_ => Depart($"did not come back within {Duration.Format(_settings.GracePeriod)}"));
        Receive<Dismiss>(dismiss => Depart($"is not held any longer: {dismiss.Text}"));
        Receive<Terminated>(t => HolderLost(t.ActorRef));
    }

    /// <summary>The app is gone; the port closes what waits and follows its last session.</summary>
    private void Departed()
    {
        Receive<Leave>(_ => Sender.Tell(Left.Instance)); // gone already: the name is free
        Receive<ClientWaiting>(waiting =>
            waiting.Holder.Tell(new PublicPortActor.CloseClient(waiting.Connect.Id, "app left before pairing", SessionEndCause.AppLeft)));
        ReceiveAny(_ => { });
    }

    private void ReceiveClients(bool announce)
    {
        Receive<ClientWaiting>(waiting =>
        {
            _waiting[waiting.Connect.Id] = waiting;
            if (!waiting.Holder.Equals(_port) && _holders.Add(waiting.Holder))
                Context.Watch(waiting.Holder);
            if (announce)
                _channel.Tell(new ControlChannelActor.Send(waiting.Connect));
        });
        Receive<ClientSettled>(settled => _waiting.Remove(settled.Id));
    }

    /// <summary>The control channel is not this actor's to close any more.</summary>
    private void LetGo()
    {
        Context.Unwatch(_channel);
        _channel = ActorRefs.Nobody;
    }

    private void Depart(string why, IActorRef? leaving = null)
    {
        Timers.CancelAll();
        _port.Tell(new PublicPortActor.Depart(why, leaving));
        Become(Departed);
    }

    /// <summary>Takes the control channel of a returning app, closing the one it replaces.</summary>
    private void Adopt(Resume resume)
    {
        Context.Unwatch(_channel);
        _channel.Tell(ControlChannelActor.Superseded.Instance);
        _channel = resume.Channel;
        _status?.ControlFrom(Self.Path.Name, resume.Remote);
        Context.Watch(_channel);
    }

    private void AnswerRegistered()
    {
        _channel.Tell(new ControlChannelActor.Registered(Self, new Registered(_spec.Name, _boundPort, _spec.DataPort)));
        _port.Tell(new RegistryActor.AppServing(_spec.Name));
    }

    private void AnnounceWaiting()
    {
        foreach (var waiting in _waiting.Values)
            _channel.Tell(new ControlChannelActor.Send(waiting.Connect));
    }

    /// <summary>Another relay's holder is gone (its node was lost): its waiting clients went with it.</summary>
    private void HolderLost(IActorRef holder)
    {
        if (!_holders.Remove(holder))
            return;
        foreach (var id in _waiting.Where(w => w.Value.Holder.Equals(holder)).Select(w => w.Key).ToList())
            _waiting.Remove(id);
    }
}
