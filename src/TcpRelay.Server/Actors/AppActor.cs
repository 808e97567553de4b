using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using TcpRelay.Protocol;

namespace TcpRelay.Server.Actors;

/// <summary>
/// One registered app: it binds the app's public port, spawns a <see cref="SessionActor"/> per
/// client and announces it with CONNECT. When the app's control connection ends it stops taking
/// clients, closes the sessions still waiting, and keeps the port bound until its last paired
/// session has ended, because unbinding a listener resets every connection it accepted.
/// </summary>
internal sealed class AppActor : LifecycleLoggingActor
{
    /// <summary>What the registry decided an app gets: its name, the port to bind, and its control channel.</summary>
    public sealed record Spec(AppName Name, int Port, bool PortRequested, IActorRef Channel, IPEndPoint Remote, int DataPort);

    /// <summary>The app sent REJECT for a session.</summary>
    public sealed record RejectSession(SessionId Id);

    /// <summary>From the registry after a failed bind: try this port instead.</summary>
    public sealed record BindPort(int Port);

    private readonly Spec _spec;
    private readonly RelaySettings _settings;
    private int _port;
    private IActorRef _listener = ActorRefs.Nobody;
    private int _sessions;
    private bool _departed;

    public AppActor(Spec spec, RelaySettings settings)
    {
        _spec = spec;
        _settings = settings;
        _port = spec.Port;
        Binding();
    }

    protected override LogLevel LifecycleLevel => LogLevel.InfoLevel;

    public static Props CreateProps(Spec spec, RelaySettings settings) => Props.Create<AppActor>(spec, settings);

    protected override void PreStart()
    {
        base.PreStart();
        Context.Watch(_spec.Channel);
        Bind();
    }

    // A failing session is stopped, never restarted: its connections cannot be resumed.
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(cause =>
        {
            Log.Error(cause, "App {App}: a session failed and is stopped", _spec.Name);
            return Directive.Stop;
        });

    private void Bind() =>
        Context.System.Tcp().Tell(new Tcp.Bind(Self, new IPEndPoint(_settings.Bind, _port), _settings.Backlog, pullMode: true));

    /// <summary>Binding the public port; REGISTERED waits for it so clients can connect as soon as the app reads it.</summary>
    private void Binding()
    {
        Receive<Tcp.Bound>(bound =>
        {
            _listener = Sender;
            _port = ((IPEndPoint)bound.LocalAddress).Port;
            if (_departed)
            {
                Unbind();
                return;
            }
            Log.Info("App {App} listening on {Endpoint}", _spec.Name, bound.LocalAddress);
            _spec.Channel.Tell(new ControlChannelActor.Registered(Self, new Registered(_spec.Name, _port, _spec.DataPort)));
            Become(Serving);
        });
        Receive<Tcp.CommandFailed>(failed =>
        {
            if (_departed)
            {
                Context.Stop(Self);
                return;
            }
            Log.Info("App {App}: public port {Port} cannot be bound ({Cause})", _spec.Name, _port, failed.CauseString);
            Context.Parent.Tell(new RegistryActor.PortUnavailable(_port, _spec.PortRequested));
        });
        Receive<BindPort>(bind =>
        {
            _port = bind.Port;
            Bind();
        });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_spec.Channel))
                _departed = true;
        });
    }

    /// <summary>The public port is bound and clients are announced to the app.</summary>
    private void Serving()
    {
        Receive<Tcp.Connected>(connected =>
        {
            if (_departed)
            {
                Sender.Tell(Tcp.Close.Instance);
                return;
            }
            var id = SessionId.New();
            var client = (IPEndPoint)connected.RemoteAddress;
            var session = Context.ActorOf(SessionActor.CreateProps(id, _spec.Name, Sender, client, _settings), $"session-{id}");
            Context.Watch(session);
            _sessions++;
            // The registry must know the id before the app can possibly read CONNECT and dial in.
            Context.Parent.Tell(new RegistryActor.SessionOpened(id, session));
            _spec.Channel.Tell(new ControlChannelActor.Send(new Connect(id, client)));
        });
        Receive<RejectSession>(reject =>
        {
            var session = Context.Child($"session-{reject.Id}");
            if (session.IsNobody())
                Log.Debug("App {App} rejected session {SessionId}, which is no longer waiting", _spec.Name, reject.Id);
            else
                session.Tell(SessionActor.Rejected.Instance);
        });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_spec.Channel))
            {
                _departed = true;
                Log.Info("App {App} left: {Sessions} sessions open", _spec.Name, _sessions);
                Context.Parent.Tell(new RegistryActor.AppDeparted(_spec.Name));
                foreach (var child in Context.GetChildren())
                    child.Tell(SessionActor.AppGone.Instance);
            }
            else
            {
                _sessions--;
            }
            if (_departed && _sessions == 0)
                Unbind();
        });
    }

    private void Unbind()
    {
        _listener.Tell(Tcp.Unbind.Instance);
        Become(Unbinding);
    }

    /// <summary>The last session is gone; the port is released once the listener confirms.</summary>
    private void Unbinding()
    {
        Receive<Tcp.Unbound>(_ => Context.Stop(Self));
        Receive<Tcp.Connected>(_ => Sender.Tell(Tcp.Close.Instance));
        ReceiveAny(_ => { });
    }
}
