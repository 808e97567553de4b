using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using TcpRelay.Server.State;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// The relay's root (<c>/user/relay</c>): binds the data port, then creates the registry (which
/// tells apps that port), then binds the control port; spawns a channel actor for every
/// connection either port accepts. Its listeners stay bound for the relay's lifetime.
/// </summary>
internal sealed class RelayActor : LifecycleLoggingActor, IWithTimers
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

    /// <summary>
    /// Ask (CoordinatedShutdown does): stop taking apps, tell every app ERROR shutdown, let paired
    /// sessions finish until the drain timeout, then reset what is left. Replies <see cref="Drained"/>.
    /// </summary>
    public sealed class Drain
    {
        /// <summary>The only instance.</summary>
        public static readonly Drain Instance = new();

        private Drain() { }
    }

    /// <summary>Reset every session now instead of waiting for the drain deadline (a second SIGTERM).</summary>
    public sealed class AbortDrain
    {
        /// <summary>The only instance.</summary>
        public static readonly AbortDrain Instance = new();

        private AbortDrain() { }
    }

    /// <summary>The reply to <see cref="Drain"/>: no session is left.</summary>
    public sealed class Drained
    {
        /// <summary>The only instance.</summary>
        public static readonly Drained Instance = new();

        private Drained() { }
    }

    private sealed class DrainDeadline
    {
        public static readonly DrainDeadline Instance = new();
        private DrainDeadline() { }
    }

    private sealed record ChannelClosed(IActorRef Channel);

    private sealed class ChannelsDeadline
    {
        public static readonly ChannelsDeadline Instance = new();
        private ChannelsDeadline() { }
    }

    // A channel closes as soon as its ERROR line is written; one whose app does not read is not waited for longer.
    private static readonly TimeSpan ChannelsCloseWithin = TimeSpan.FromSeconds(2);

    /// <summary>From a control or data channel: its first line has arrived (also sent for it when it stops before).</summary>
    internal sealed record HandshakeDone(IActorRef Channel);

    private readonly RelaySettings _settings;
    private readonly List<IActorRef> _waitingForEndpoints = [];
    // Connections that have not sent their first line yet, by channel and by source address: the
    // limits on these keep idle or garbage connections from crowding out apps that behave.
    private readonly Dictionary<IActorRef, IPAddress> _handshaking = [];
    private readonly Dictionary<IPAddress, int> _handshakesPerAddress = [];
    private int _handshakesRefused;
    // TLS handshakes failed in a row (plain text on a TLS port, an app that distrusts the certificate): one line a burst.
    private int _tlsRefused;
    private readonly List<IActorRef> _waitingForDrain = [];
    // The control channels of registered apps when the drain began: told ERROR shutdown, they must
    // get that line out before the process ends, or their apps take the end for a lost connection
    // and come back with their slow backoff instead of the short retry of a restart.
    private readonly HashSet<IActorRef> _channelsClosing = [];
    private bool _registryDrained;
    // The state file's writer (a single relay with state-dir), flushed before the drain is over.
    private IActorRef? _stateFile;
    private bool _stateFlushed;
    private bool _draining;
    private bool _drained;
    private bool _aborted;
    private IActorRef _registry = ActorRefs.Nobody;
    // The registry a host's layer brings (a cluster node's), by data port; null: a single relay's own.
    private readonly Func<int, Props>? _registryProps;
    private IPEndPoint? _data;
    private IPEndPoint? _control;
    // The users file as last read, for each new control channel to check REGISTER's user= against.
    private Registration.UserTable? _users;
    private Exception? _failure;
    private long _connections;

    /// <summary>Use <see cref="CreateProps"/>.</summary>
    public RelayActor(RelaySettings settings, Func<int, Props>? registryProps)
    {
        _settings = settings;
        _registryProps = registryProps;
        _users = settings.Users;
        BindingData();
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <inheritdoc />
    protected override LogLevel LifecycleLevel => LogLevel.InfoLevel;

    /// <summary>
    /// Props for the relay's root actor. <paramref name="registryProps"/> makes the registry for the
    /// bound data port when a layer of the host brings its own (a cluster node's); by default the
    /// relay runs a <see cref="StandaloneRegistryActor"/> with its state file.
    /// </summary>
    public static Props CreateProps(RelaySettings settings, Func<int, Props>? registryProps = null) => Props.Create(() => new RelayActor(settings, registryProps));

    /// <inheritdoc />
    protected override void PreStart()
    {
        base.PreStart();
        if (_settings is { UsersFile: { } usersFile, Users: { } users })
        {
            Context.System.EventStream.Subscribe(Self, typeof(UsersFileActor.UsersChanged));
            Context.ActorOf(UsersFileActor.CreateProps(usersFile, _settings.PublicPorts, users), "users-file");
        }
        Bind(_settings.DataPort);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        base.PostStop();
    }

    /// <summary>Heard in every state: control channels started from now on check users against the new table.</summary>
    private void ReceiveUsers() => Receive<UsersFileActor.UsersChanged>(changed => _users = changed.Users);

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(cause =>
        {
            Log.Error(cause, "A child of the relay failed and is stopped");
            return Directive.Stop;
        });

    private void Bind(int port) =>
        Context.System.Tcp().Tell(new Tcp.Bind(Self, new IPEndPoint(_settings.Bind, port), _settings.Backlog,
            [new TcpKeepAlive(_settings.KeepAliveIdle)], pullMode: true));

    private void BindingData()
    {
        ReceiveUsers();
        Receive<Tcp.Bound>(bound =>
        {
            _data = (IPEndPoint)bound.LocalAddress;
            // A single relay keeps its apps on disk; a cluster's directory holds a node's while it restarts.
            if (_registryProps is null && RegistrationFile.For(_settings) is { } file)
            {
                Context.ActorOf(RegistrationFileActor.CreateProps(file), "state-file");
                Become(LoadingState);
                return;
            }
            StartRegistry(null, []);
        });
        ReceiveBindFailure("data", _settings.DataPort);
    }

    /// <summary>The state file is read (by its own actor, off the relay's threads) before any app can register.</summary>
    private void LoadingState()
    {
        ReceiveUsers();
        Receive<RegistrationFileActor.Loaded>(loaded =>
        {
            if (loaded.Registrations.Problem is { } problem)
                Log.Warning("State file: {Problem}", problem);
            _stateFile = Sender;
            StartRegistry(Sender, loaded.Registrations.Apps);
        });
        Receive<GetEndpoints>(_ => _waitingForEndpoints.Add(Sender));
        Receive<LogActorTree>(_ => LogTree());
        Receive<Drain>(_ => Sender.Tell(Drained.Instance)); // no app can have registered yet
    }

    private void StartRegistry(IActorRef? stateFile, IReadOnlyList<SavedRegistration> restored)
    {
        var props = _registryProps?.Invoke(_data!.Port)
                    ?? StandaloneRegistryActor.CreateProps(_settings, _data!.Port, stateFile: stateFile, restored: restored);
        _registry = Context.ActorOf(props, "registry");
        Context.Watch(_registry);
        Bind(_settings.ControlPort);
        Become(BindingControl);
    }

    private void BindingControl()
    {
        ReceiveUsers();
        Receive<Tcp.Bound>(bound =>
        {
            _control = (IPEndPoint)bound.LocalAddress;
            Log.Info("Relay listening: control {Control}, data {Data}, public ports {PublicPorts}, secret {Secret}, users {Users}, TLS {Tls}",
                _control, _data, _settings.PublicPorts, _settings.Secret is null ? "none" : "set",
                _users is null ? "none" : $"{_users.Count} from {_settings.UsersFile}", _settings.Tls?.ToString() ?? "off");
            foreach (var asker in _waitingForEndpoints)
                asker.Tell(new RelayEndpoints(_control, _data!));
            _waitingForEndpoints.Clear();
            RelayTelemetry.Get(Context.System).Status.MarkReady(new RelayIdentity(RelayStatus.Version, _control.Port, _data!.Port,
                _settings.PublicPorts.ToString(), _settings.Secret is not null, _settings.MaxApps, _settings.MaxSessionsPerApp, _settings.MaxPendingPerApp));
            Become(Listening);
        });
        ReceiveBindFailure("control", _settings.ControlPort);
        ReceiveRegistryLoss();
    }

    private void ReceiveBindFailure(string which, int port)
    {
        Receive<Tcp.CommandFailed>(failed =>
        {
            _failure = new RelayBindException($"cannot listen on the {which} port {_settings.Bind}:{port}: {(failed.Cause.HasValue ? failed.Cause.Value.Message : "no cause given")}");
            Log.Error("{Reason}", _failure.Message);
            foreach (var asker in _waitingForEndpoints)
                asker.Tell(new Status.Failure(_failure));
            _waitingForEndpoints.Clear();
            Become(Failed);
        });
        Receive<GetEndpoints>(_ => _waitingForEndpoints.Add(Sender));
        Receive<LogActorTree>(_ => LogTree());
        Receive<Drain>(_ => Sender.Tell(Drained.Instance)); // no app can have registered yet
    }

    private void Failed()
    {
        ReceiveUsers();
        Receive<GetEndpoints>(_ => Sender.Tell(new Status.Failure(_failure!)));
        Receive<LogActorTree>(_ => LogTree());
        Receive<Drain>(_ => Sender.Tell(Drained.Instance));
    }

    private void Listening()
    {
        ReceiveUsers();
        Receive<Tcp.Connected>(connected =>
        {
            var local = (IPEndPoint)connected.LocalAddress;
            var remote = (IPEndPoint)connected.RemoteAddress;
            if (HandshakeLimit(remote.Address) is { } limit)
            {
                Sender.Tell(Tcp.Close.Instance);
                RelayTelemetry.Get(Context.System).Metrics.HandshakeFailed("limit");
                if (_handshakesRefused++ == 0)
                    Log.Warning("Connections are closed on arrival from {Remote} on: {Limit}", remote, limit);
                return;
            }
            if (_handshakesRefused > 0)
            {
                Log.Info("Connections are taken again: {Refused} were closed on arrival", _handshakesRefused);
                _handshakesRefused = 0;
            }
            var n = ++_connections;
            // With TLS the channel talks to the stage as it would to the connection.
            var connection = _settings.Tls is { } tls ? Context.ActorOf(TlsStageActor.CreateProps(Sender, remote, tls, _settings.HandshakeTimeout), $"tls-{n}") : Sender;
            var channel = local.Port == _control!.Port
                ? Context.ActorOf(ControlChannelActor.CreateProps(connection, remote, _settings, _registry, _users), $"control-{n}")
                : Context.ActorOf(SessionActor.CreateProps(connection, remote, _settings), $"data-{n}");
            _handshaking[channel] = remote.Address;
            _handshakesPerAddress[remote.Address] = _handshakesPerAddress.GetValueOrDefault(remote.Address) + 1;
            Context.WatchWith(channel, new HandshakeDone(channel));
        });
        Receive<TlsStageActor.HandshakeFailed>(failed =>
        {
            if (_tlsRefused++ == 0)
                Log.Warning("TLS handshakes fail, first from {Remote}: {Reason}; the connections are closed", failed.Remote, failed.Why);
            else
                Log.Debug("TLS handshake from {Remote} failed: {Reason}", failed.Remote, failed.Why);
        });
        Receive<TlsStageActor.HandshakeSucceeded>(_ =>
        {
            if (_tlsRefused == 0)
                return;
            Log.Info("TLS handshakes succeed again: {Refused} failed before", _tlsRefused);
            _tlsRefused = 0;
        });
        Receive<HandshakeDone>(done =>
        {
            if (!_handshaking.Remove(done.Channel, out var address))
                return;
            Context.Unwatch(done.Channel);
            if (--_handshakesPerAddress[address] == 0)
                _handshakesPerAddress.Remove(address);
        });
        Receive<GetEndpoints>(_ => Sender.Tell(new RelayEndpoints(_control!, _data!)));
        Receive<LogActorTree>(_ => LogTree());
        Receive<Drain>(_ =>
        {
            if (_drained)
            {
                // Drained once already (a test, then the host's own shutdown): nothing is left to wait for.
                Sender.Tell(Drained.Instance);
                return;
            }
            _waitingForDrain.Add(Sender);
            if (_draining)
                return;
            // The control and data listeners stay bound: unbinding would reset the connections they accepted.
            _draining = true;
            RelayTelemetry.Get(Context.System).Status.MarkDraining();
            Log.Info("Relay stopping: apps are told ERROR shutdown; paired sessions have {DrainTimeout} to finish, {Idle}",
                Duration.Format(_settings.DrainTimeout),
                _settings.DrainIdleAfter > TimeSpan.Zero ? $"closed once idle for {Duration.Format(_settings.DrainIdleAfter)}" : "idle or not");
            foreach (var channel in Context.GetChildren().Where(c => c.Path.Name.StartsWith("control-", StringComparison.Ordinal) && !_handshaking.ContainsKey(c)))
            {
                _channelsClosing.Add(channel);
                Context.WatchWith(channel, new ChannelClosed(channel));
            }
            _registry.Tell(RegistryActor.Drain.Instance);
            // An idle session (ssh, a subscription, a pool) would hold the ports up to the deadline
            // and be reset there: the process cannot hand it to the next one (Akka.IO's listener
            // owns the sockets it accepted), so it is closed as soon as it is seen idle.
            if (_settings.DrainIdleAfter > TimeSpan.Zero)
                _registry.Tell(new PublicPortActor.CloseIdleSessions(_settings.DrainIdleAfter));
            Timers.StartSingleTimer(DrainDeadline.Instance, DrainDeadline.Instance, _settings.DrainTimeout);
        });
        Receive<DrainDeadline>(_ => AbortSessions($"the drain timeout ({Duration.Format(_settings.DrainTimeout)}) passed"));
        Receive<AbortDrain>(_ => AbortSessions("a second stop signal"));
        Receive<RegistryActor.Drained>(_ =>
        {
            Timers.Cancel(DrainDeadline.Instance);
            _registryDrained = true;
            Timers.StartSingleTimer(ChannelsDeadline.Instance, ChannelsDeadline.Instance, ChannelsCloseWithin);
            FinishDrainWhenChannelsClosed();
        });
        Receive<ChannelClosed>(closed =>
        {
            _channelsClosing.Remove(closed.Channel);
            FinishDrainWhenChannelsClosed();
        });
        Receive<RegistrationFileActor.Flushed>(_ =>
        {
            _stateFlushed = true;
            FinishDrainWhenChannelsClosed();
        });
        Receive<ChannelsDeadline>(_ =>
        {
            if (_channelsClosing.Count > 0)
                Log.Warning("Relay drained: {Channels} control connections did not close in time", _channelsClosing.Count);
            _channelsClosing.Clear();
            FinishDrainWhenChannelsClosed();
        });
        ReceiveRegistryLoss();
    }

    private void FinishDrainWhenChannelsClosed()
    {
        if (!_registryDrained || _channelsClosing.Count > 0 || _drained)
            return;
        // A registration made just before the stop may still be queued for the file: written first.
        if (_stateFile is not null && !_stateFlushed)
        {
            _stateFile.Tell(RegistrationFileActor.Flush.Instance);
            return;
        }
        Timers.Cancel(ChannelsDeadline.Instance);
        _drained = true;
        Log.Info("Relay drained: {Outcome}", _aborted ? "sessions left at the deadline were reset" : "every session ended on its own");
        foreach (var asker in _waitingForDrain)
            asker.Tell(Drained.Instance);
        _waitingForDrain.Clear();
    }

    private void AbortSessions(string why)
    {
        if (!_draining || _aborted)
            return;
        _aborted = true;
        Log.Warning("Relay stopping: resetting every session left, because {Reason}", why);
        _registry.Tell(new PublicPortActor.AbortSessions(why));
    }

    private string? HandshakeLimit(IPAddress address) =>
        _handshaking.Count >= _settings.MaxHandshakes ? $"{_handshaking.Count} connections in their handshake, the most allowed (max-handshakes)"
        : _handshakesPerAddress.GetValueOrDefault(address) >= _settings.MaxHandshakesPerAddress
            ? $"{_handshakesPerAddress[address]} connections from {address} in their handshake, the most allowed (max-handshakes-per-address)"
        : null;

    /// <summary>The registry's tables cannot be rebuilt from its apps: without it the relay stops rather than run headless.</summary>
    private void ReceiveRegistryLoss() =>
        Receive<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(_registry))
                return;
            Log.Error("The registry stopped; the relay shuts down");
            foreach (var asker in _waitingForDrain)
                asker.Tell(Drained.Instance);
            _waitingForDrain.Clear();
            CoordinatedShutdown.Get(Context.System).Run(CoordinatedShutdown.ActorSystemTerminateReason.Instance);
        });

    private void LogTree() => Log.Info("Actor tree:\n{Tree}", ActorTree.Render(Self));
}
