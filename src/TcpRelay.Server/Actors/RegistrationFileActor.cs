using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using TcpRelay.Server.State;

namespace TcpRelay.Server.Actors;

/// <summary>
/// The relay's state file: reads it once at start (to its parent, <see cref="Loaded"/>) and then
/// writes the registry's table to it, on Akka's blocking-IO dispatcher so that a slow disk holds
/// up no other actor. A burst of changes costs one write: only the newest table queued when a
/// write starts is written. A failed write is logged once until one succeeds again.
/// </summary>
internal sealed class RegistrationFileActor : ReceiveActor
{
    /// <summary>To the parent, once: what the file held.</summary>
    public sealed record Loaded(LoadedRegistrations Registrations);

    /// <summary>From the registry: the table as it is now.</summary>
    public sealed record Save(IReadOnlyList<SavedRegistration> Apps);

    private sealed class WriteDue
    {
        public static readonly WriteDue Instance = new();
        private WriteDue() { }
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Save? _newest;
    private readonly RegistrationFile _file;
    private bool _failing;

    public RegistrationFileActor(RegistrationFile file)
    {
        _file = file;
        Receive<Save>(save =>
        {
            if (_newest is null)
                Self.Tell(WriteDue.Instance);
            _newest = save;
        });
        Receive<WriteDue>(_ =>
        {
            var save = _newest!;
            _newest = null;
            try
            {
                file.Save(save.Apps);
                if (_failing)
                    _log.Info("State file {Path} written again ({Apps} registrations)", file.Path, save.Apps.Count);
                _failing = false;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (!_failing)
                    _log.Warning("Cannot write the state file {Path}, registrations will not survive a restart until it can be: {Cause}", file.Path, e.Message);
                _failing = true;
            }
        });
    }

    protected override void PreStart() => Context.Parent.Tell(new Loaded(_file.Load()));

    public static Props CreateProps(RegistrationFile file) =>
        Props.Create(() => new RegistrationFileActor(file)).WithDispatcher(Dispatchers.DefaultBlockingDispatcherId);
}
