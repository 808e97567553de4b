using Akka.Actor;
using Akka.Event;
using TcpRelay.Server.Registration;

namespace TcpRelay.Server.Actors;

/// <summary>
/// Watches the users file (<c>relay/users-file</c>): it reads the file (and the secret files it names)
/// every <see cref="CheckInterval"/>, and publishes each valid edit on the event stream as
/// <see cref="UsersChanged"/>, for the registry (and a cluster's directory) to apply. An edit that
/// breaks a rule is refused with one log line and the table in force stays. Reading is polled
/// rather than watched: file-system events are missed on bind mounts, network file systems and
/// editors that replace the file, and a small file read once a second costs nothing.
/// </summary>
internal sealed class UsersFileActor : LifecycleLoggingActor, IWithTimers
{
    /// <summary>On the event stream: the users file was edited, and this is its table from now on.</summary>
    public sealed record UsersChanged(UserTable Users);

    /// <summary>How often the file is read; a valid edit applies within about twice this.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private sealed record Loaded(UserTable? Users, string? Error);

    private sealed class CheckDue
    {
        public static readonly CheckDue Instance = new();
        private CheckDue() { }
    }

    private readonly string _path;
    private readonly PublicPortRange _publicPorts;
    // What the last read found (a table's fingerprint, or the error): a file read again unchanged is not news.
    private string _lastSeen;
    private bool _reading;

    public UsersFileActor(string path, PublicPortRange publicPorts, UserTable initial)
    {
        _path = path;
        _publicPorts = publicPorts;
        _lastSeen = initial.Fingerprint;
        Receive<CheckDue>(_ =>
        {
            if (_reading)
                return;
            _reading = true;
            Task.Run(() =>
            {
                try
                {
                    return new Loaded(UsersFile.Load(_path, _publicPorts), null);
                }
                catch (RelayConfigException e)
                {
                    return new Loaded(null, e.Message);
                }
            }).PipeTo(Self);
        });
        Receive<Loaded>(OnLoaded);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props CreateProps(string path, PublicPortRange publicPorts, UserTable initial) =>
        Props.Create(() => new UsersFileActor(path, publicPorts, initial));

    protected override void PreStart()
    {
        base.PreStart();
        Timers.StartPeriodicTimer(CheckDue.Instance, CheckDue.Instance, CheckInterval);
    }

    private void OnLoaded(Loaded loaded)
    {
        _reading = false;
        var seen = loaded.Users?.Fingerprint ?? $"error: {loaded.Error}";
        if (seen == _lastSeen)
            return;
        _lastSeen = seen;
        if (loaded.Users is not { } users)
        {
            Log.Warning("Users file edit refused, the users in force stay: {Error}", loaded.Error);
            return;
        }
        Log.Info("Users file {Path} changed: {Users} users", _path, users.Count);
        Context.System.EventStream.Publish(new UsersChanged(users));
    }
}
