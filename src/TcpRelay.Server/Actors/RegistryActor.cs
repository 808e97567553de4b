using System.Net;
using Akka.Actor;
using Akka.Event;
using TcpRelay.Protocol;
using TcpRelay.Server.State;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Actors;

/// <summary>
/// Owns the relay's tables: live app names, public ports held, and sessions waiting for their data
/// connection. It checks a REGISTER in protocol.md's order (name, port, limits), creates one
/// <see cref="AppActor"/> per app, and pairs each ACCEPT with the session it names.
/// </summary>
internal sealed class RegistryActor : LifecycleLoggingActor, IWithTimers
{
    /// <summary>From a control channel (the sender): an app asks to register.</summary>
    public sealed record RegisterApp(AppName? Name, int? Port, ResumeToken? Resume, IPEndPoint Remote, bool Redirect = false);

    /// <summary>From an app's actor: its port could not be bound.</summary>
    public sealed record PortUnavailable(int Port, bool Requested);

    /// <summary>From an app's actor: its control connection closed, so its name is free.</summary>
    public sealed record AppDeparted(AppName Name);

    /// <summary>From an app's actor: its public port is unbound, so another app may have it.</summary>
    public sealed record PortReleased(int Port);

    /// <summary>From the relay: it is stopping. Apps are told ERROR shutdown, registrations refused; <see cref="Drained"/> goes to the sender once every app's actor has stopped.</summary>
    public sealed class Drain
    {
        public static readonly Drain Instance = new();
        private Drain() { }
    }

    /// <summary>To whoever sent <see cref="Drain"/>: no app and no session is left.</summary>
    public sealed class Drained
    {
        public static readonly Drained Instance = new();
        private Drained() { }
    }

    /// <summary>From an app's actor: it answered REGISTERED (or took over), so other nodes may send it clients.</summary>
    public sealed record AppServing(AppName Name);

    private sealed record AppStopped(AppName Name, IActorRef App);

    private sealed record ClaimAbandoned(long Ref);

    private sealed class ReportDue
    {
        public static readonly ReportDue Instance = new();
        private ReportDue() { }
    }

    private readonly RelaySettings _settings;
    private readonly int _dataPort;
    private readonly Func<AppActor.Spec, Props> _appProps;
    private readonly Dictionary<AppName, IActorRef> _liveNames = [];
    private readonly Dictionary<int, IActorRef> _ports = [];
    private readonly Dictionary<IActorRef, AppActor.Spec> _apps = [];
    private int _generatedNames;
    private IActorRef? _drainRequester;
    private int _refusedWhileDraining;
    // In a cluster: the directory's proxy, registrations waiting for its answer, this node's actors
    // that own their app (the others mirror one), and the directory's last table.
    private readonly IActorRef? _directory;
    private readonly Dictionary<long, (RegisterApp Register, IActorRef Channel, DateTime Sent)> _claims = [];
    private long _nextClaim;
    // Public ports another process held when this node tried to bind them, reported as bound for a while.
    private readonly Dictionary<int, DateTime> _heldElsewhere = [];
    private static readonly TimeSpan HeldElsewhereFor = TimeSpan.FromMinutes(1);
    private readonly HashSet<IActorRef> _owned = [];
    private Dictionary<string, ClusterDirectoryActor.AppEntry> _table = [];

    // A single relay's state file (its writer), and what it held when the relay started.
    private readonly IActorRef? _stateFile;
    private readonly IReadOnlyList<SavedRegistration> _restored;

    public RegistryActor(RelaySettings settings, int dataPort, Func<AppActor.Spec, Props>? appProps, IActorRef? directory,
        IActorRef? stateFile, IReadOnlyList<SavedRegistration>? restored)
    {
        _settings = settings;
        _dataPort = dataPort;
        _directory = directory;
        _stateFile = stateFile;
        _restored = restored ?? [];
        _appProps = appProps ?? (spec => AppActor.CreateProps(spec, settings));
        // The default public range (8081-8180) contains the default data port (8082): protocol.md has
        // allocation skip the relay's own ports, and asking for one is port-in-use.
        foreach (var own in new[] { settings.ControlPort, dataPort })
            if (own != 0)
                _ports[own] = ActorRefs.Nobody;

        Receive<RegisterApp>(OnRegister);
        Receive<PortUnavailable>(OnPortUnavailable);
        Receive<AppDeparted>(departed =>
        {
            if (_liveNames.TryGetValue(departed.Name, out var app) && app.Equals(Sender))
                _liveNames.Remove(departed.Name);
            // A node that is stopping leaves its apps to the directory, which holds them for their return.
            if (_owned.Remove(Sender) && _drainRequester is null)
                _directory?.Tell(new ClusterDirectoryActor.Released(departed.Name.Value));
            LogTree();
            SaveState();
        });
        Receive<AppServing>(serving =>
        {
            if (_directory is null)
                return;
            _owned.Add(Sender);
            _directory.Tell(new ClusterDirectoryActor.Owned(serving.Name.Value, Sender));
        });
        Receive<ClusterDirectoryActor.Granted>(OnGranted);
        Receive<ClusterDirectoryActor.Denied>(denied =>
        {
            if (!_claims.Remove(denied.Ref, out var claim))
                return;
            Context.Unwatch(claim.Channel);
            Refuse(claim.Channel, ErrorCode.Parse(denied.Code).Value, denied.Text);
            UnclaimIfNobodyTakesItUp(claim.Register.Name);
        });
        Receive<ClaimAbandoned>(abandoned => _claims.Remove(abandoned.Ref));
        Receive<ClusterDirectoryActor.Table>(OnTable);
        Receive<ReportDue>(_ =>
        {
            _directory?.Tell(Report(full: false));
            // While the directory moves (its node was lost), claims sent to its old place are lost
            // until the proxy learns the new one: ask again until answered (an answer is by Ref, so
            // a claim answered twice is taken once).
            foreach (var (claim, (register, _, sent)) in _claims)
                if (DateTime.UtcNow - sent >= ClusterDirectoryActor.ReportInterval)
                    _directory?.Tell(ClaimFor(claim, register));
        });
        Receive<ClusterDirectoryActor.SendFullReport>(_ => Sender.Tell(Report(full: true)));
        Receive<PortReleased>(released =>
        {
            if (_ports.TryGetValue(released.Port, out var app) && app.Equals(Sender))
                _ports.Remove(released.Port);
        });
        Receive<AppStopped>(stopped =>
        {
            if (_liveNames.TryGetValue(stopped.Name, out var app) && app.Equals(stopped.App))
                _liveNames.Remove(stopped.Name);
            foreach (var port in _ports.Where(p => p.Value.Equals(stopped.App)).Select(p => p.Key).ToList())
                _ports.Remove(port);
            _apps.Remove(stopped.App);
            if (_owned.Remove(stopped.App) && _drainRequester is null)
                _directory?.Tell(new ClusterDirectoryActor.Released(stopped.Name.Value));
            LogTree();
            SaveState();
            ReportWhenDrained();
        });
        Receive<Drain>(_ =>
        {
            _drainRequester = Sender;
            // The cluster holds this node's apps for their return elsewhere, as if the node were lost.
            _directory?.Tell(ClusterDirectoryActor.NodeDraining.Instance);
            Log.Info("Draining: {Apps} apps told ERROR shutdown", _liveNames.Count);
            foreach (var app in _apps.Keys)
                app.Tell(AppActor.Drain.Instance);
            ReportWhenDrained();
        });
        Receive<AppActor.AbortSessions>(abort =>
        {
            foreach (var app in _apps.Keys)
                app.Tell(abort);
        });
        Receive<AppActor.CloseIdleSessions>(idle =>
        {
            foreach (var app in _apps.Keys)
                app.Tell(idle);
        });
    }

    protected override LogLevel LifecycleLevel => LogLevel.InfoLevel;

    public static Props CreateProps(RelaySettings settings, int dataPort, Func<AppActor.Spec, Props>? appProps = null, IActorRef? directory = null,
        IActorRef? stateFile = null, IReadOnlyList<SavedRegistration>? restored = null) =>
        Props.Create(() => new RegistryActor(settings, dataPort, appProps, directory, stateFile, restored));

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        base.PreStart();
        if (_directory is not null)
        {
            _directory.Tell(new ClusterDirectoryActor.NodeReport([], []));
            Timers.StartPeriodicTimer(ReportDue.Instance, ReportDue.Instance, ClusterDirectoryActor.ReportInterval);
        }
        Restore();
    }

    /// <summary>
    /// The registrations of the relay's last run, each held for its owner through the grace period as
    /// if its control connection had just dropped: the owner's token gets name and port back, anyone
    /// else is refused them, and clients arriving meanwhile wait. Before the control port listens.
    /// </summary>
    private void Restore()
    {
        if (_restored.Count == 0)
            return;
        var held = 0;
        foreach (var saved in _restored)
        {
            var why = _settings.GracePeriod <= TimeSpan.Zero ? "the grace period is off"
                : !_settings.PublicPorts.Contains(saved.Port) ? $"port {saved.Port} is outside the public range {_settings.PublicPorts}"
                : _ports.ContainsKey(saved.Port) ? $"port {saved.Port} is taken twice in the file, or is one of the relay's own"
                : _liveNames.ContainsKey(saved.Name) ? "the name is in the file twice"
                : _liveNames.Count >= _settings.MaxApps ? $"the relay serves at most {_settings.MaxApps} apps"
                : null;
            if (why is not null)
            {
                Log.Warning("State file: app {App} on port {Port} not restored: {Why}", saved.Name, saved.Port, why);
                continue;
            }
            StartApp(new AppActor.Spec(saved.Name, saved.Port, PortRequested: true, ActorRefs.Nobody, null, _dataPort, null)
            {
                RestoredResumeSha256 = saved.ResumeSha256,
            });
            held++;
        }
        Log.Info("Restored {Apps} registrations from the last run, each held {Grace} for its owner", held, Duration.Format(_settings.GracePeriod));
    }

    /// <summary>
    /// The table as a restarted relay needs it: the apps it would hold through a dropped connection
    /// (those with a resume token). Not while draining: the departures the drain causes are not
    /// the end of those registrations, the next run holds them.
    /// </summary>
    private void SaveState()
    {
        if (_stateFile is null || _drainRequester is not null)
            return;
        _stateFile.Tell(new RegistrationFileActor.Save(_liveNames.Values
            .Select(app => _apps.TryGetValue(app, out var spec) ? spec : null)
            .Where(spec => spec?.ResumeSha256 is not null)
            .Select(spec => new SavedRegistration(spec!.Name, spec.Port, spec.ResumeSha256!))
            .ToList()));
    }

    // An app that fails is stopped; its control connection closes and the app can register again.
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(cause =>
        {
            Log.Error(cause, "An app's actor failed and is stopped");
            return Directive.Stop;
        });

    private void ReportWhenDrained()
    {
        if (_drainRequester is null || _apps.Count != 0)
            return;
        if (_refusedWhileDraining > 0)
            Log.Info("Refused {Registrations} registrations while draining (ERROR shutdown: apps come back once the relay is up again)", _refusedWhileDraining);
        _refusedWhileDraining = 0;
        _drainRequester.Tell(Drained.Instance);
    }

    private void OnRegister(RegisterApp register)
    {
        if (_drainRequester is not null)
        {
            _refusedWhileDraining++;
            Refuse(Sender, ErrorCode.Shutdown, "the relay is stopping");
            return;
        }
        if (_directory is not null)
        {
            ClaimInCluster(register);
            return;
        }
        var name = register.Name ?? GenerateName();
        if (_liveNames.TryGetValue(name, out var holder))
        {
            // The token, not the name, tells a returning app from another one wanting its name.
            if (register.Resume is { } token && _apps.TryGetValue(holder, out var held) && held.ResumedBy(token))
            {
                holder.Tell(new AppActor.Resume(Sender, register.Remote, register.Port));
                return;
            }
            Refuse(Sender, ErrorCode.NameInUse, $"name '{name}' is in use");
            return;
        }
        int port;
        if (register.Port is { } requested)
        {
            if (!_settings.PublicPorts.Contains(requested))
            {
                Refuse(Sender, ErrorCode.PortNotAllowed, $"port {requested} is outside the public range {_settings.PublicPorts}");
                return;
            }
            if (_ports.ContainsKey(requested))
            {
                Refuse(Sender, ErrorCode.PortInUse, $"port {requested} is in use");
                return;
            }
            port = requested;
        }
        else
        {
            port = 0;
        }
        if (_liveNames.Count >= _settings.MaxApps)
        {
            Refuse(Sender, ErrorCode.Limit, $"the relay serves its maximum of {_settings.MaxApps} apps");
            return;
        }
        if (port == 0)
        {
            if (FreePortFrom(_settings.PublicPorts.First) is not { } free)
            {
                Refuse(Sender, ErrorCode.Limit, $"no free port left in the public range {_settings.PublicPorts}");
                return;
            }
            port = free;
        }

        StartApp(new AppActor.Spec(name, port, register.Port is not null, Sender, register.Remote, _dataPort, register.Resume));
    }

    private IActorRef StartApp(AppActor.Spec spec)
    {
        var app = Context.ActorOf(_appProps(spec), ActorNameFor(spec.Name));
        Context.WatchWith(app, new AppStopped(spec.Name, app));
        _liveNames[spec.Name] = app;
        _ports[spec.Port] = app;
        _apps[app] = spec;
        LogTree();
        SaveState();
        return app;
    }

    private void OnPortUnavailable(PortUnavailable unavailable)
    {
        if (!_apps.TryGetValue(Sender, out var spec))
            return;
        _ports.Remove(unavailable.Port);
        if (_directory is not null)
        {
            // Another process holds the port on this node. The app gives up its grant (and the actor
            // that failed is no longer this node's owner, so its stop releases nothing more); a port
            // it asked for is refused, as on a single relay; else the cluster is asked for another
            // one, told by this node's reports that this one is taken here.
            _owned.Remove(Sender);
            _liveNames.Remove(spec.Name);
            Context.Stop(Sender);
            _directory.Tell(new ClusterDirectoryActor.Released(spec.Name.Value));
            if (unavailable.Requested)
            {
                Refuse(spec.Channel, ErrorCode.PortInUse, $"port {unavailable.Port} is in use by another process on this node");
                return;
            }
            _heldElsewhere[unavailable.Port] = DateTime.UtcNow + HeldElsewhereFor;
            SendClaim(new RegisterApp(spec.Name, null, spec.Resume, spec.Remote!, spec.Redirect), spec.Channel);
            return;
        }
        if (unavailable.Requested)
        {
            StopRefused(spec, ErrorCode.PortInUse, $"port {unavailable.Port} is in use by another process");
            return;
        }
        // Lowest free first, skipping ports another process holds: look above the one that failed.
        if (FreePortFrom(unavailable.Port + 1) is { } next)
        {
            _ports[next] = Sender;
            _apps[Sender] = spec with { Port = next };
            Sender.Tell(new AppActor.BindPort(next));
            SaveState();
        }
        else
        {
            StopRefused(spec, ErrorCode.Limit, $"no free port left in the public range {_settings.PublicPorts}");
        }
    }

    /// <summary>
    /// In a cluster the directory decides names and ports. An app coming back to the node that owns
    /// it is resumed here, as on a single relay; anything else is a claim.
    /// </summary>
    private void ClaimInCluster(RegisterApp register)
    {
        var channel = Sender;
        if (register.Name is { } name && _liveNames.TryGetValue(name, out var holder) && _owned.Contains(holder)
            && register.Resume is { } token && _apps[holder].Resume == token)
        {
            holder.Tell(new AppActor.Resume(Sender, register.Remote, register.Port));
            return;
        }
        if (register.Port is { } requested && !_settings.PublicPorts.Contains(requested))
        {
            Refuse(Sender, ErrorCode.PortNotAllowed, $"port {requested} is outside the public range {_settings.PublicPorts}");
            return;
        }
        SendClaim(register, channel);
    }

    private void SendClaim(RegisterApp register, IActorRef channel)
    {
        var claim = ++_nextClaim;
        _claims[claim] = (register, channel, DateTime.UtcNow);
        Context.WatchWith(channel, new ClaimAbandoned(claim));
        _directory!.Tell(ClaimFor(claim, register));
    }

    /// <summary>
    /// A name granted here for a claim whose connection closed meanwhile is kept for a waiting claim
    /// with its token (<see cref="OnGranted"/>); when that one is refused, nobody here takes the name
    /// up, and the directory must hear so, or the name and port stay taken with nobody serving them.
    /// </summary>
    private void UnclaimIfNobodyTakesItUp(AppName? name)
    {
        if (name is not { } taken || !_table.TryGetValue(taken.Value, out var entry) || !Self.Equals(entry.OwnerNode)
            || _liveNames.ContainsKey(taken)
            || _claims.Values.Any(c => c.Register.Name == taken && c.Register.Resume?.ToString() == entry.Resume))
            return;
        _directory!.Tell(new ClusterDirectoryActor.Unclaimed(taken.Value));
    }

    private static ClusterDirectoryActor.Claim ClaimFor(long claim, RegisterApp register) =>
        new(claim, register.Name?.Value, register.Port, register.Resume?.ToString(), register.Redirect);

    private void OnGranted(ClusterDirectoryActor.Granted granted)
    {
        if (!_claims.Remove(granted.Ref, out var claim) || _drainRequester is not null)
        {
            // The app's connection closed while it waited, or this node is stopping: nobody takes the
            // name up here, unless the app's next registration does (it may be waiting already).
            if (claim.Channel is { } channel)
            {
                Context.Unwatch(channel);
                Refuse(channel, ErrorCode.Shutdown, "the relay is stopping");
            }
            // Only a waiting claim with the granted app's resume token will be granted the same name.
            var token = _table.TryGetValue(granted.Name, out var entry) ? entry.Resume : null;
            var again = (token is not null && _claims.Values.Any(c => c.Register.Name?.Value == granted.Name && c.Register.Resume?.ToString() == token))
                        || (_liveNames.TryGetValue(AppName.Parse(granted.Name).Value, out var holder) && _owned.Contains(holder));
            if (!again)
                _directory!.Tell(new ClusterDirectoryActor.Unclaimed(granted.Name));
            return;
        }
        Context.Unwatch(claim.Channel);
        var name = AppName.Parse(granted.Name).Value;
        var register = claim.Register;
        if (_liveNames.TryGetValue(name, out var local) && _apps[local].Port == granted.Port)
        {
            if (_owned.Contains(local))
            {
                // Granted to this node twice (the first connection gave up waiting): a return, as on a single relay.
                local.Tell(new AppActor.Resume(claim.Channel, register.Remote, register.Port));
                return;
            }
            // This node mirrors the app already and holds its port: that actor becomes the owner.
            _apps[local] = _apps[local] with { Channel = claim.Channel, Remote = register.Remote, Resume = register.Resume, Redirect = register.Redirect };
            _owned.Add(local);
            local.Tell(new AppActor.TakeOver(claim.Channel, register.Remote, register.Redirect));
            return;
        }
        if (local is not null)
        {
            _liveNames.Remove(name);
            local.Tell(AppActor.Gone.Instance);
        }
        // Owned from now, so that however it ends (even before it is bound) the directory hears of it.
        _owned.Add(StartApp(new AppActor.Spec(name, granted.Port, register.Port is not null, claim.Channel, register.Remote, _dataPort,
            register.Resume, register.Redirect, _settings.DataAddress(_dataPort))));
    }

    /// <summary>Every app of the cluster gets an actor here: the owner's node has it, every other node mirrors it.</summary>
    private void OnTable(ClusterDirectoryActor.Table table)
    {
        _table = table.Apps.ToDictionary(a => a.Name);
        if (_drainRequester is not null)
            return; // stopping: no new mirrors, and the ones there are drain
        foreach (var entry in table.Apps)
        {
            if (Self.Equals(entry.OwnerNode))
                continue;
            var name = AppName.Parse(entry.Name).Value;
            if (_liveNames.TryGetValue(name, out var local))
            {
                if (_apps[local].Port == entry.Port)
                {
                    _owned.Remove(local);
                    local.Tell(new AppActor.OwnerIs(entry.OwnerApp, entry.Redirect));
                    continue;
                }
                local.Tell(AppActor.Gone.Instance);
                _liveNames.Remove(name);
            }
            StartApp(new AppActor.Spec(name, entry.Port, true, ActorRefs.Nobody, null, _dataPort,
                entry.Resume is null ? null : ResumeToken.Parse(entry.Resume).Value, entry.Redirect, _settings.DataAddress(_dataPort),
                Mirror: true, Owner: entry.OwnerApp));
        }
        foreach (var (name, local) in _liveNames.Where(n => !_table.ContainsKey(n.Key.Value)).ToList())
        {
            _liveNames.Remove(name);
            local.Tell(AppActor.Gone.Instance);
        }
    }

    /// <summary>
    /// What this node owns (and, in full, what it mirrors, for a directory rebuilding its table), and
    /// the ports its apps' actors still hold.
    /// </summary>
    private ClusterDirectoryActor.NodeReport Report(bool full) =>
        // A stopping node has left its apps to the directory: it owns none any more.
        new(_liveNames.Where(n => (full || _owned.Contains(n.Value)) && !(_drainRequester is not null && _owned.Contains(n.Value))).Select(n =>
            {
                var spec = _apps[n.Value];
                var owned = _owned.Contains(n.Value);
                _table.TryGetValue(n.Key.Value, out var entry);
                return new ClusterDirectoryActor.AppEntry(n.Key.Value, spec.Port, spec.Resume?.ToString(), spec.Redirect,
                    owned ? Self : entry?.OwnerNode, owned ? n.Value : entry?.OwnerApp);
            }).ToArray(),
            [.. _ports.Where(p => !p.Value.IsNobody()).Select(p => p.Key), .. HeldElsewhere()], full);

    private IEnumerable<int> HeldElsewhere()
    {
        foreach (var (port, until) in _heldElsewhere.ToList())
            if (until < DateTime.UtcNow)
                _heldElsewhere.Remove(port);
        return _heldElsewhere.Keys;
    }

    private void StopRefused(AppActor.Spec spec, ErrorCode code, string text)
    {
        Refuse(spec.Channel, code, text);
        _liveNames.Remove(spec.Name);
        Context.Stop(Sender);
        SaveState();
    }

    private static void Refuse(IActorRef channel, ErrorCode code, string text) =>
        channel.Tell(new ControlChannelActor.Refused(code, text));

    private int? FreePortFrom(int first)
    {
        for (var port = first; port <= _settings.PublicPorts.Last; port++)
            if (!_ports.ContainsKey(port))
                return port;
        return null;
    }

    private AppName GenerateName()
    {
        while (true)
        {
            var name = AppName.Parse($"app-{++_generatedNames}").Value;
            if (!_liveNames.ContainsKey(name))
                return name;
        }
    }

    /// <summary>
    /// app-NAME, or app-NAME~N while an earlier app of that name still drains its paired sessions.
    /// '~' cannot occur in an app name, so these never collide with another app's actor.
    /// </summary>
    private static string ActorNameFor(AppName name)
    {
        var actorName = $"app-{name}";
        for (var generation = 2; !Context.Child(actorName).IsNobody(); generation++)
            actorName = $"app-{name}~{generation}";
        return actorName;
    }

    private void LogTree()
    {
        if (Log.IsDebugEnabled)
            Log.Debug("Actor tree after a registration change:\n{Tree}", ActorTree.Render(Context.Parent));
    }
}
