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

    /// <summary>From the relay, as it stops: write what is queued now; <see cref="Flushed"/> follows.</summary>
    public sealed class Flush
    {
        public static readonly Flush Instance = new();
        private Flush() { }
    }

    /// <summary>The reply to <see cref="Flush"/>: the file holds the newest table it was sent.</summary>
    public sealed class Flushed
    {
        public static readonly Flushed Instance = new();
        private Flushed() { }
    }

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
        Receive<WriteDue>(_ => WriteNewest());
        Receive<Flush>(_ =>
        {
            WriteNewest();
            Sender.Tell(Flushed.Instance);
        });
    }

    private void WriteNewest()
    {
        if (_newest is not { } save)
            return;
        _newest = null;
        try
        {
            _file.Save(save.Apps);
            if (_failing)
                _log.Info("State file {Path} written again ({Apps} registrations)", _file.Path, save.Apps.Count);
            _failing = false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (!_failing)
                _log.Warning("Cannot write the state file {Path}, registrations will not survive a restart until it can be: {Cause}", _file.Path, e.Message);
            _failing = true;
        }
    }

    protected override void PreStart() => Context.Parent.Tell(new Loaded(_file.Load()));

    public static Props CreateProps(RegistrationFile file) =>
        Props.Create(() => new RegistrationFileActor(file)).WithDispatcher(Dispatchers.DefaultBlockingDispatcherId);
}
