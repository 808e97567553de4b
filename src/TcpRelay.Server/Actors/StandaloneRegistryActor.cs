using Akka.Actor;
using Akka.Event;
using TcpRelay.Protocol;
using TcpRelay.Server.Registration;
using TcpRelay.Server.State;

namespace TcpRelay.Server.Actors;

/// <summary>
/// A single relay's registry: it decides each REGISTER through its <see cref="AppTable{TApp}"/>,
/// moves an app whose port another process holds to the next free one, and keeps the table in the
/// state file (when there is one) so that a restarted relay holds every app for its return.
/// </summary>
internal sealed class StandaloneRegistryActor : RegistryActor
{
    // The state file's writer, and what it held when the relay started.
    private readonly IActorRef? _stateFile;
    private readonly IReadOnlyList<SavedRegistration> _restored;

    public StandaloneRegistryActor(RelaySettings settings, int dataPort, Func<Registration, Props>? appProps,
        IActorRef? stateFile, IReadOnlyList<SavedRegistration>? restored)
        : base(settings, dataPort, appProps)
    {
        _stateFile = stateFile;
        _restored = restored ?? [];
        ReceiveApps();
    }

    public static Props CreateProps(RelaySettings settings, int dataPort, Func<Registration, Props>? appProps = null,
        IActorRef? stateFile = null, IReadOnlyList<SavedRegistration>? restored = null) =>
        Props.Create(() => new StandaloneRegistryActor(settings, dataPort, appProps, stateFile, restored));

    protected override void PreStart()
    {
        base.PreStart();
        Restore();
    }

    protected override void Register(RegisterApp register, UserGrant? user, IActorRef channel)
    {
        switch (Table.Decide(register.Name, register.Port, register.ResumeSha256, user: user, shared: register.Shared))
        {
            case AppTable<IActorRef>.Return back:
                back.Held.App.Tell(new AppActor.Resume(channel, register.Remote, register.ResumeSha256));
                break;
            case AppTable<IActorRef>.Join join:
                JoinApp(join.Held, new Registration(join.Held.Name, join.Held.Port, register.Port is not null, channel, register.Remote,
                    register.ResumeSha256, User: register.User, Shared: true));
                break;
            case AppTable<IActorRef>.Refusal refusal:
                Refuse(channel, refusal.Code, refusal.Text);
                break;
            case AppTable<IActorRef>.Grant grant:
                StartApp(new Registration(grant.Name, grant.Port, register.Port is not null, channel, register.Remote, register.ResumeSha256,
                    User: register.User, Shared: register.Shared));
                break;
        }
    }

    protected override void PortUnavailableFor(IActorRef app, Registration spec, PortUnavailable unavailable)
    {
        if (unavailable.Requested)
        {
            StopRefused(app, spec, ErrorCode.PortInUse, $"port {unavailable.Port} is in use by another process");
            return;
        }
        // Lowest free first, skipping ports another process holds: look above the one that failed (within the user's ports).
        var ports = spec.User is { } user ? Users?.Find(user)?.Ports : null;
        if (Table.FreePortFrom(unavailable.Port + 1, last: ports?.Last) is not { } next)
        {
            StopRefused(app, spec, ErrorCode.Limit, $"no free port left in {(ports is null ? "the public range" : $"user {spec.User}'s ports")} {ports ?? Settings.PublicPorts}");
            return;
        }
        Table.Move(spec.Name, next);
        Apps[app] = spec with { Port = next };
        app.Tell(new PublicPortActor.BindPort(next));
        TableChanged();
    }

    protected override void TableChanged() => SaveState();

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
            if (saved.Shared && Table.TryGet(saved.Name, out var first) && first.Shared && first.Port == saved.Port && first.User == saved.User)
            {
                // Each instance of a shared name holds its own place for its return.
                JoinApp(first, new Registration(saved.Name, saved.Port, PortRequested: true, ActorRefs.Nobody, null, saved.ResumeSha256, User: saved.User, Shared: true));
                held++;
                continue;
            }
            var why = Settings.GracePeriod <= TimeSpan.Zero ? "the grace period is off"
                : saved.User is { } user && Users is null ? $"it was registered by user {user} and the relay has no users file now"
                : Users?.WhyNotHeld(saved.User, saved.Name, saved.Port) ?? Table.WhyNotRestored(saved.Name, saved.Port);
            if (why is not null)
            {
                Log.Warning("State file: app {App} on port {Port} not restored: {Why}", saved.Name, saved.Port, why);
                continue;
            }
            StartApp(new Registration(saved.Name, saved.Port, PortRequested: true, ActorRefs.Nobody, null, saved.ResumeSha256, User: saved.User, Shared: saved.Shared));
            held++;
        }
        Log.Info("Restored {Apps} registrations from the last run, each held {Grace} for its owner", held, Duration.Format(Settings.GracePeriod));
    }

    /// <summary>
    /// The table as a restarted relay needs it: the apps it would hold through a dropped connection
    /// (those with a resume token; each instance of a shared name). Not while draining: the departures the drain causes are not
    /// the end of those registrations, the next run holds them.
    /// </summary>
    private void SaveState()
    {
        if (_stateFile is null || IsDraining)
            return;
        _stateFile.Tell(new RegistrationFileActor.Save(Table.Entries
            .SelectMany(entry => entry.Shared
                ? entry.Instances.Select(instance => new SavedRegistration(entry.Name, entry.Port, instance, entry.User, Shared: true))
                : entry.ResumeSha256 is { } own ? [new SavedRegistration(entry.Name, entry.Port, own, entry.User)] : [])
            .ToList()));
    }

    private void StopRefused(IActorRef app, Registration spec, ErrorCode code, string text)
    {
        Refuse(spec.Channel, code, text);
        Table.ReleaseName(spec.Name, app);
        Context.Stop(app);
        SaveState();
    }
}
