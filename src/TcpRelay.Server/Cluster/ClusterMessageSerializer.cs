using System.Net;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Cluster;

/// <summary>
/// Writes the messages nodes send each other (<see cref="BoundTypes"/>) as compact binary
/// records: each field in order, names and codes as strings, actor references as their paths.
/// Values are read back through their own parsers, so a malformed message from another node fails
/// as a serialization error (Akka drops it and logs) instead of reaching an actor.
/// </summary>
internal sealed class ClusterMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Akka's serializer id for this one (ids up to 100 are Akka's own).</summary>
    public const int Id = 7317;

    public override int Identifier => Id;

    /// <summary>
    /// What crosses nodes: the cluster layer's own messages, and the three an app's actors exchange
    /// with a node that mirrors the app (a client waiting there, settled there, to be closed there).
    /// </summary>
    public static readonly Type[] BoundTypes =
        [typeof(IClusterMessage), typeof(AppActor.ClientWaiting), typeof(AppActor.ClientSettled), typeof(PublicPortActor.CloseClient)];

    // One short manifest per type; a new message needs its own, never a reused one.
    private const string ClaimManifest = "claim";
    private const string GrantedManifest = "granted";
    private const string DeniedManifest = "denied";
    private const string OwnedManifest = "owned";
    private const string ReleasedManifest = "released";
    private const string UnclaimedManifest = "unclaimed";
    private const string NodeReportManifest = "report";
    private const string SendFullReportManifest = "report?";
    private const string NodeDrainingManifest = "draining";
    private const string TableManifest = "table";
    private const string ClientWaitingManifest = "client";
    private const string ClientSettledManifest = "settled";
    private const string CloseClientManifest = "close";

    public override string Manifest(object o) => o switch
    {
        ClusterDirectoryActor.Claim => ClaimManifest,
        ClusterDirectoryActor.Granted => GrantedManifest,
        ClusterDirectoryActor.Denied => DeniedManifest,
        ClusterDirectoryActor.Owned => OwnedManifest,
        ClusterDirectoryActor.Released => ReleasedManifest,
        ClusterDirectoryActor.Unclaimed => UnclaimedManifest,
        ClusterDirectoryActor.NodeReport => NodeReportManifest,
        ClusterDirectoryActor.SendFullReport => SendFullReportManifest,
        ClusterDirectoryActor.NodeDraining => NodeDrainingManifest,
        ClusterDirectoryActor.Table => TableManifest,
        AppActor.ClientWaiting => ClientWaitingManifest,
        AppActor.ClientSettled => ClientSettledManifest,
        PublicPortActor.CloseClient => CloseClientManifest,
        _ => throw new ArgumentException($"{o.GetType()} is not a cluster message", nameof(o)),
    };

    public override byte[] ToBinary(object obj)
    {
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer))
        {
            switch (obj)
            {
                case ClusterDirectoryActor.Claim m:
                    w.Write(m.Ref); WriteName(w, m.Name); WriteInt(w, m.Port); WriteString(w, m.ResumeSha256); w.Write(m.Redirect); WriteString(w, m.User?.Value);
                    break;
                case ClusterDirectoryActor.Granted m:
                    w.Write(m.Ref); w.Write(m.Name.Value); w.Write(m.Port);
                    break;
                case ClusterDirectoryActor.Denied m:
                    w.Write(m.Ref); w.Write(m.Code.Value); w.Write(m.Text);
                    break;
                case ClusterDirectoryActor.Owned m:
                    w.Write(m.Name.Value); WriteRef(w, m.App);
                    break;
                case ClusterDirectoryActor.Released m:
                    w.Write(m.Name.Value);
                    break;
                case ClusterDirectoryActor.Unclaimed m:
                    w.Write(m.Name.Value);
                    break;
                case ClusterDirectoryActor.NodeReport m:
                    WriteEntries(w, m.Apps);
                    w.Write(m.BoundPorts.Length);
                    foreach (var port in m.BoundPorts)
                        w.Write(port);
                    w.Write(m.Full);
                    break;
                case ClusterDirectoryActor.Table m:
                    WriteEntries(w, m.Apps);
                    break;
                case ClusterDirectoryActor.SendFullReport or ClusterDirectoryActor.NodeDraining:
                    break;
                case AppActor.ClientWaiting m:
                    w.Write(m.Connect.Id.Value); w.Write(m.Connect.Client.Address.ToString()); w.Write(m.Connect.Client.Port);
                    WriteString(w, m.Connect.Data?.Host); WriteInt(w, m.Connect.Data?.Port); WriteRef(w, m.Holder);
                    break;
                case AppActor.ClientSettled m:
                    w.Write(m.Id.Value);
                    break;
                case PublicPortActor.CloseClient m:
                    w.Write(m.Id.Value); w.Write(m.Why); w.Write((int)m.Cause);
                    break;
                default:
                    throw new ArgumentException($"{obj.GetType()} is not a cluster message", nameof(obj));
            }
        }
        return buffer.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        using var r = new BinaryReader(new MemoryStream(bytes));
        return manifest switch
        {
            ClaimManifest => new ClusterDirectoryActor.Claim(r.ReadInt64(), ReadOptionalName(r), ReadInt(r), ReadString(r), r.ReadBoolean(), ReadUser(r)),
            GrantedManifest => new ClusterDirectoryActor.Granted(r.ReadInt64(), ReadName(r), r.ReadInt32()),
            DeniedManifest => new ClusterDirectoryActor.Denied(r.ReadInt64(), Parsed(ErrorCode.Parse(r.ReadString())), r.ReadString()),
            OwnedManifest => new ClusterDirectoryActor.Owned(ReadName(r), ReadRef(r)!),
            ReleasedManifest => new ClusterDirectoryActor.Released(ReadName(r)),
            UnclaimedManifest => new ClusterDirectoryActor.Unclaimed(ReadName(r)),
            NodeReportManifest => new ClusterDirectoryActor.NodeReport(ReadEntries(r),
                Enumerable.Range(0, ReadCount(r)).Select(_ => r.ReadInt32()).ToArray(), r.ReadBoolean()),
            SendFullReportManifest => ClusterDirectoryActor.SendFullReport.Instance,
            NodeDrainingManifest => ClusterDirectoryActor.NodeDraining.Instance,
            TableManifest => new ClusterDirectoryActor.Table(ReadEntries(r)),
            ClientWaitingManifest => ReadClientWaiting(r),
            ClientSettledManifest => new AppActor.ClientSettled(ReadSessionId(r)),
            CloseClientManifest => new PublicPortActor.CloseClient(ReadSessionId(r), r.ReadString(), ReadCause(r)),
            _ => throw new SerializationException($"unknown cluster message manifest '{manifest}'"),
        };
    }

    private static SessionEndCause ReadCause(BinaryReader r) =>
        r.ReadInt32() is var cause && Enum.IsDefined((SessionEndCause)cause)
            ? (SessionEndCause)cause
            : throw new SerializationException($"a session end cause {cause} in a cluster message");

    private AppActor.ClientWaiting ReadClientWaiting(BinaryReader r)
    {
        var id = ReadSessionId(r);
        var address = IPAddress.TryParse(r.ReadString(), out var ip) ? ip : throw new SerializationException("a client address is not an IP address");
        var client = new IPEndPoint(address, r.ReadInt32());
        var dataHost = ReadString(r);
        var dataPort = ReadInt(r);
        HostPort? data = dataHost is not null && dataPort is { } port ? new HostPort(dataHost, port) : null;
        return new AppActor.ClientWaiting(new Connect(id, client, data), ReadRef(r)!);
    }

    private void WriteEntries(BinaryWriter w, ClusterDirectoryActor.AppEntry[] entries)
    {
        w.Write(entries.Length);
        foreach (var e in entries)
        {
            w.Write(e.Name.Value); w.Write(e.Port); WriteString(w, e.ResumeSha256); w.Write(e.Redirect);
            WriteRef(w, e.OwnerNode); WriteRef(w, e.OwnerApp); WriteString(w, e.User?.Value);
        }
    }

    private ClusterDirectoryActor.AppEntry[] ReadEntries(BinaryReader r) =>
        Enumerable.Range(0, ReadCount(r))
            .Select(_ => new ClusterDirectoryActor.AppEntry(ReadName(r), r.ReadInt32(), ReadString(r), r.ReadBoolean(), ReadRef(r), ReadRef(r), ReadUser(r)))
            .ToArray();

    private static void WriteRef(BinaryWriter w, IActorRef? actor) =>
        WriteString(w, actor is null ? null : Akka.Serialization.Serialization.SerializedActorPath(actor));

    private IActorRef? ReadRef(BinaryReader r) =>
        ReadString(r) is { } path ? system.Provider.ResolveActorRef(path) : null;

    private static void WriteName(BinaryWriter w, AppName? name) => WriteString(w, name?.Value);

    private static AppName ReadName(BinaryReader r) => Parsed(AppName.Parse(r.ReadString()));

    private static AppName? ReadOptionalName(BinaryReader r) => ReadString(r) is { } name ? Parsed(AppName.Parse(name)) : null;

    private static UserId? ReadUser(BinaryReader r) => ReadString(r) is { } user ? Parsed(UserId.Parse(user)) : null;

    private static SessionId ReadSessionId(BinaryReader r) => Parsed(SessionId.Parse(r.ReadString()));

    private static void WriteString(BinaryWriter w, string? value)
    {
        w.Write(value is not null);
        if (value is not null)
            w.Write(value);
    }

    private static string? ReadString(BinaryReader r) => r.ReadBoolean() ? r.ReadString() : null;

    private static void WriteInt(BinaryWriter w, int? value)
    {
        w.Write(value is not null);
        if (value is { } v)
            w.Write(v);
    }

    private static int? ReadInt(BinaryReader r) => r.ReadBoolean() ? r.ReadInt32() : null;

    private static int ReadCount(BinaryReader r)
    {
        var count = r.ReadInt32();
        return count is >= 0 and <= 1_000_000 ? count : throw new SerializationException($"a count of {count} in a cluster message");
    }

    private static T Parsed<T>(ParseResult<T> result) =>
        result.IsOk ? result.Value! : throw new SerializationException($"a cluster message holds a bad value: {result.Error}");
}
