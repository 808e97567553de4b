using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;

namespace TcpRelay.Server.Actors;

/// <summary>
/// The relay's root (<c>/user/relay</c>): binds the data port, then creates the registry (which
/// tells apps that port), then binds the control port; spawns a channel actor for every
/// connection either port accepts. Its listeners stay bound for the relay's lifetime.
/// </summary>
public sealed class RelayActor : LifecycleLoggingActor
{
    /// <summary>Ask: replies <see cref="RelayEndpoints"/> once both ports are bound, or a <see cref="Status.Failure"/>.</summary>
    public sealed class GetEndpoints
    {
        /// <summary>The only instance.</summary>
        public static readonly GetEndpoints Instance = new();

        private GetEndpoints() { }
    }

    /// <summary>Write the whole actor tree to the log at Info (the CLI sends this on SIGHUP).</summary>
    public sealed class LogActorTree
    {
        /// <summary>The only instance.</summary>
        public static readonly LogActorTree Instance = new();

        private LogActorTree() { }
    }

    private readonly RelaySettings _settings;
    private readonly List<IActorRef> _waitingForEndpoints = [];
    private IActorRef _registry = ActorRefs.Nobody;
    private IPEndPoint? _data;
    private IPEndPoint? _control;
    private Exception? _failure;
    private long _connections;

    /// <summary>Use <see cref="CreateProps"/>.</summary>
    public RelayActor(RelaySettings settings)
    {
        _settings = settings;
        BindingData();
    }

    /// <inheritdoc />
    protected override LogLevel LifecycleLevel => LogLevel.InfoLevel;

    /// <summary>Props for the relay's root actor.</summary>
    public static Props CreateProps(RelaySettings settings) => Props.Create<RelayActor>(settings);

    /// <inheritdoc />
    protected override void PreStart()
    {
        base.PreStart();
        Bind(_settings.DataPort);
    }

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(cause =>
        {
            Log.Error(cause, "A child of the relay failed and is stopped");
            return Directive.Stop;
        });

    private void Bind(int port) =>
        Context.System.Tcp().Tell(new Tcp.Bind(Self, new IPEndPoint(_settings.Bind, port), _settings.Backlog, pullMode: true));

    private void BindingData()
    {
        Receive<Tcp.Bound>(bound =>
        {
            _data = (IPEndPoint)bound.LocalAddress;
            _registry = Context.ActorOf(RegistryActor.CreateProps(_settings, _data.Port), "registry");
            Context.Watch(_registry);
            Bind(_settings.ControlPort);
            Become(BindingControl);
        });
        ReceiveBindFailure("data", _settings.DataPort);
    }

    private void BindingControl()
    {
        Receive<Tcp.Bound>(bound =>
        {
            _control = (IPEndPoint)bound.LocalAddress;
            Log.Info("Relay listening: control {Control}, data {Data}, public ports {PublicPorts}, secret {Secret}",
                _control, _data, _settings.PublicPorts, _settings.Secret is null ? "none" : "set");
            foreach (var asker in _waitingForEndpoints)
                asker.Tell(new RelayEndpoints(_control, _data!));
            _waitingForEndpoints.Clear();
            Become(Listening);
        });
        ReceiveBindFailure("control", _settings.ControlPort);
        ReceiveRegistryLoss();
    }

    private void ReceiveBindFailure(string which, int port)
    {
        Receive<Tcp.CommandFailed>(failed =>
        {
            _failure = new RelayBindException($"cannot listen on the {which} port {_settings.Bind}:{port}: {failed.CauseString}");
            Log.Error("{Reason}", _failure.Message);
            foreach (var asker in _waitingForEndpoints)
                asker.Tell(new Status.Failure(_failure));
            _waitingForEndpoints.Clear();
            Become(Failed);
        });
        Receive<GetEndpoints>(_ => _waitingForEndpoints.Add(Sender));
        Receive<LogActorTree>(_ => LogTree());
    }

    private void Failed()
    {
        Receive<GetEndpoints>(_ => Sender.Tell(new Status.Failure(_failure!)));
        Receive<LogActorTree>(_ => LogTree());
    }

    private void Listening()
    {
        Receive<Tcp.Connected>(connected =>
        {
            var local = (IPEndPoint)connected.LocalAddress;
            var remote = (IPEndPoint)connected.RemoteAddress;
            var n = ++_connections;
            if (local.Port == _control!.Port)
                Context.ActorOf(ControlChannelActor.CreateProps(Sender, remote, _settings, _registry), $"control-{n}");
            else
                Context.ActorOf(DataChannelActor.CreateProps(Sender, remote, _settings, _registry), $"data-{n}");
        });
        Receive<GetEndpoints>(_ => Sender.Tell(new RelayEndpoints(_control!, _data!)));
        Receive<LogActorTree>(_ => LogTree());
        ReceiveRegistryLoss();
    }

    /// <summary>The registry's tables cannot be rebuilt from its apps: without it the relay stops rather than run headless.</summary>
    private void ReceiveRegistryLoss() =>
        Receive<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(_registry))
                return;
            Log.Error("The registry stopped; the relay shuts down");
            CoordinatedShutdown.Get(Context.System).Run(CoordinatedShutdown.ActorSystemTerminateReason.Instance);
        });

    private void LogTree() => Log.Info("Actor tree:\n{Tree}", ActorTree.Render(Self));
}

/// <summary>Where a running relay listens.</summary>
/// <param name="Control">The control (registration) port's address.</param>
/// <param name="Data">The data port's address.</param>
public sealed record RelayEndpoints(IPEndPoint Control, IPEndPoint Data);

/// <summary>The relay could not bind one of its ports.</summary>
public sealed class RelayBindException(string message) : Exception(message);
