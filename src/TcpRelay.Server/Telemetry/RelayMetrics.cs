using System.Diagnostics.Metrics;

namespace TcpRelay.Server.Telemetry;

/// <summary>
/// The relay's instruments on the <c>TcpRelay</c> meter (dotnet-counters, OpenTelemetry). Byte
/// totals and live counts are observed from <see cref="RelayStatus"/> when a reader asks, so the
/// byte path pays no message and no lock for them.
/// </summary>
public sealed class RelayMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "TcpRelay";

    private readonly Counter<long> _sessionsStarted;
    private readonly Counter<long> _sessionsEnded;
    private readonly Counter<long> _handshakeFailures;
    private readonly Counter<long> _authFailures;
    private readonly Histogram<double> _setup;
    private readonly RelayStatus _status;

    // In a cluster every figure is this node's, and says so with a node tag.
    private readonly KeyValuePair<string, object?>[] _node;

    internal RelayMetrics(RelayStatus status, string? node)
    {
        _status = status;
        _node = node is null ? [] : [new("node", node)];
        Meter = new Meter(MeterName, typeof(RelayMetrics).Assembly.GetName().Version?.ToString(3));
        Meter.CreateObservableUpDownCounter("tcprelay.apps", () => new Measurement<int>(status.AppCount, _node), "{app}",
            "Apps registered with this relay (held through a grace period included)");
        Meter.CreateObservableUpDownCounter("tcprelay.sessions.active", () => new Measurement<int>(status.SessionCount, _node), "{session}",
            "Sessions open, waiting or paired");
        _sessionsStarted = Meter.CreateCounter<long>("tcprelay.sessions.started", "{session}", "Sessions started: clients accepted on a public port");
        _sessionsEnded = Meter.CreateCounter<long>("tcprelay.sessions.ended", "{session}", "Sessions ended, by cause");
        Meter.CreateObservableCounter("tcprelay.relayed", () =>
        {
            var (fromClients, fromApps) = status.TotalBytes();
            return new[]
            {
                new Measurement<long>(fromClients, Tags("direction", "client-to-app")),
                new Measurement<long>(fromApps, Tags("direction", "app-to-client")),
            };
        }, "By", "Bytes relayed, by direction");
        // Per app, read from the board: as many series as apps on it (max-apps, and the apps of
        // sessions still finishing), and a departed app's series go with its entry.
        Meter.CreateObservableUpDownCounter("tcprelay.app.sessions.active", () =>
                PerApp(status).Select(a => new Measurement<int>(a.SessionsActive, AppTags(a.Name, a.User))), "{session}",
            "Sessions open per app, waiting or paired");
        Meter.CreateObservableCounter("tcprelay.app.relayed", () => PerApp(status).SelectMany(a => new[]
        {
            new Measurement<long>(a.BytesFromClients, [.. AppTags(a.Name, a.User), new("direction", "client-to-app")]),
            new Measurement<long>(a.BytesFromApp, [.. AppTags(a.Name, a.User), new("direction", "app-to-client")]),
        }), "By", "Bytes relayed per app, by direction");
        _handshakeFailures = Meter.CreateCounter<long>("tcprelay.handshake.failures", "{connection}", "Control and data connections refused before or at their first line, by reason");
        _authFailures = Meter.CreateCounter<long>("tcprelay.auth.failures", "{connection}", "REGISTERs refused for their auth, by reason");
        // Setups take from well under a millisecond (app close by) to the pending timeout (seconds):
        // the default buckets, made for milliseconds, would put them all in the first one.
        _setup = Meter.CreateHistogram("tcprelay.session.setup.duration", "s", "From a client's accept to its pairing with the app's data connection",
            tags: null, advice: new InstrumentAdvice<double>
            {
                HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
            });
    }

    /// <summary>The meter, for a listener that wants this relay's figures only.</summary>
    public Meter Meter { get; }

    internal void SessionStarted() => _sessionsStarted.Add(1, _node);

    internal void SessionEnded(SessionEndCause cause)
    {
        _sessionsEnded.Add(1, Tags("cause", cause.Tag()));
        _status.CountEnded(cause);
    }

    internal void SessionPaired(TimeSpan setup) => _setup.Record(setup.TotalSeconds, _node);

    internal void HandshakeFailed(string reason) => _handshakeFailures.Add(1, Tags("reason", reason));

    internal void AuthFailed(string reason) => _authFailures.Add(1, Tags("reason", reason));

    // A name can be on the board twice for a moment (a departed app's last sessions beside its
    // successor's): one series per name, as a series per entry would repeat its labels.
    private static IEnumerable<(string Name, string? User, int SessionsActive, long BytesFromClients, long BytesFromApp)> PerApp(RelayStatus status) =>
        status.Snapshot().Apps.GroupBy(a => a.Name)
            .Select(g => (g.Key, g.Last().User, g.Sum(a => a.SessionsActive), g.Sum(a => a.BytesFromClients), g.Sum(a => a.BytesFromApp)));

    private KeyValuePair<string, object?>[] Tags(string key, string value) => [new(key, value), .. _node];

    // An app's series carry its user (of the users file) when it has one.
    private KeyValuePair<string, object?>[] AppTags(string app, string? user) =>
        user is null ? Tags("app", app) : [new("app", app), new("user", user), .. _node];

    /// <inheritdoc />
    public void Dispose() => Meter.Dispose();
}
