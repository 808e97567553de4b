using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Akka.IO;
using Akka.Serialization;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Cluster;
using TcpRelay.Server.Hosting;
using TcpRelay.TestSupport;
using Xunit;

using TcpRelay.Server.Tls;

namespace TcpRelay.Server.Tests;

/// <summary>
/// Three relay nodes in one process, on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all loopback on Linux),
/// joined in one Akka.Cluster. The tests of this class run one after another (xunit runs a class's
/// tests in sequence), which the payload tripwire's counter relies on.
/// </summary>
public sealed class ClusterTests
{
    private static readonly TimeSpan ClusterWait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_app_registered_on_one_node_is_reached_byte_exact_through_every_node()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        await using var app = await EchoingAsync(cluster.Nodes[0].Listener("everywhere"));

        foreach (var node in cluster.Nodes)
            await cluster.EchoesThroughAsync(node, app.PublicPort, 64 * 1024);
        // Many sessions at once through the nodes that redirect the app to themselves.
        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => cluster.EchoesThroughAsync(cluster.Nodes[1 + i % 2], app.PublicPort, 10_000 + i)));
    }

    [Fact]
    public async Task Over_TLS_the_data_redirect_to_another_node_is_verified_against_that_node_s_own_certificate()
    {
        // One CA; each node's certificate names its own address, which is what data= tells apps to dial.
        var authority = TestCertificates.Authority();
        var (caFile, _) = TestCertificates.WritePem(authority);
        await using var cluster = await TestCluster.StartAsync(2, adjust: s => s with { Tls = RelayCertificate.From(TestCertificates.IssuedBy(authority, s.Bind.ToString())) });
        await using var app = await EchoingAsync(new RelayListener(cluster.Nodes[0].ListenerOptions("tls-everywhere") with { TlsCaFile = caFile }));

        foreach (var node in cluster.Nodes)
            await cluster.EchoesThroughAsync(node, app.PublicPort, 64 * 1024);
    }

    [Fact]
    public async Task Two_apps_racing_for_one_name_on_different_nodes_one_wins()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        for (var round = 0; round < 5; round++)
        {
            var name = $"contested-{round}";
            var racers = cluster.Nodes.Select(n => n.Listener(name)).ToList();
            var outcomes = await Task.WhenAll(racers.Select(async r =>
            {
                try
                {
                    await r.StartAsync();
                    return (ErrorCode?)null;
                }
                catch (RelayRegistrationException e)
                {
                    return e.Code;
                }
            }));
            Assert.Single(outcomes, o => o is null);
            Assert.All(outcomes.Where(o => o is not null), o => Assert.Equal(ErrorCode.NameInUse, o));
            foreach (var racer in racers)
                await racer.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_cluster_says_it_does_not_share_a_name_and_serves_the_first_instance_on()
    {
        await using var cluster = await TestCluster.StartAsync(2);
        await using var first = await EchoingAsync(new RelayListener(cluster.Nodes[0].ListenerOptions("pool") with { Shared = true }));
        await using var second = new RelayListener(cluster.Nodes[0].ListenerOptions("pool") with { Shared = true, Reconnect = false });
        var refused = await Assert.ThrowsAsync<RelayRegistrationException>(() => second.StartAsync());
        Assert.Equal(ErrorCode.NameInUse, refused.Code);
        Assert.EndsWith("a relay cluster does not share a name between instances yet", refused.Message);
        foreach (var node in cluster.Nodes)
            await cluster.EchoesThroughAsync(node, first.PublicPort, 4096);
    }

    [Fact]
    public async Task An_app_without_features_redirect_only_gets_clients_of_its_own_node()
    {
        await using var cluster = await TestCluster.StartAsync(2);
        using var control = await TestRelay.ConnectAsync(cluster.Nodes[0].Endpoints.Control.Port, address: cluster.Nodes[0].Address);
        var lines = new LineFramer();
        Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(control, lines));
        await control.SendAsync(ControlLine.ToBytes(new Register(AppName.Parse("plain").Value)));
        var registered = Assert.IsType<Registered>(await SocketAssert.ReadLineAsync(control, lines));

        // At the other node the port is bound (it is the app's in the whole cluster), but a client there is closed.
        using var elsewhere = await cluster.ConnectWhenBoundAsync(cluster.Nodes[1], registered.Port);
        await SocketAssert.ClosedAsync(elsewhere);
        using var here = await TestRelay.ConnectAsync(registered.Port, address: cluster.Nodes[0].Address);
        var connect = Assert.IsType<Connect>(await SocketAssert.ReadLineAsync(control, lines));
        Assert.Null(connect.Data);
    }

    [Fact]
    public async Task When_the_apps_node_dies_it_comes_back_on_another_and_other_sessions_never_notice()
    {
        await using var cluster = await TestCluster.StartAsync(3, grace: TimeSpan.FromSeconds(30));
        // The app under test is on node 1, which will die; another app lives on node 3.
        await using var mover = await EchoingAsync(cluster.FailoverListener("mover", cluster.Nodes[0], cluster.Nodes[1]));
        await using var steady = await EchoingAsync(cluster.Nodes[2].Listener("steady"));
        var port = mover.PublicPort;

        // Sessions open across the death: node 3's clients of the steady app, and node 2's client of
        // the mover app, paired at node 2 (its bytes never went through node 1).
        using var steadyAtNode3 = await cluster.ConnectWhenBoundAsync(cluster.Nodes[2], steady.PublicPort);
        await EchoOnAsync(steadyAtNode3, "before");
        using var steadyAtNode2 = await cluster.ConnectWhenBoundAsync(cluster.Nodes[1], steady.PublicPort);
        await EchoOnAsync(steadyAtNode2, "before");
        using var moverAtNode2 = await cluster.ConnectWhenBoundAsync(cluster.Nodes[1], port);
        await EchoOnAsync(moverAtNode2, "before");

        await cluster.Nodes[0].StopHardAsync();

        // Back through node 2 and 3 on the same port, within the grace period.
        var deadline = DateTime.UtcNow + ClusterWait;
        foreach (var node in cluster.Nodes.Skip(1))
            await cluster.EchoesThroughAsync(node, port, 1000, deadline);
        Assert.Equal(port, mover.PublicPort);
        Assert.Equal(new HostPort(cluster.Nodes[1].Address.ToString(), cluster.Nodes[1].Endpoints.Control.Port).ToString(), mover.Relay);

        await EchoOnAsync(steadyAtNode3, "after");
        await EchoOnAsync(steadyAtNode2, "after");
        await EchoOnAsync(moverAtNode2, "after");
    }

    [Fact]
    public async Task A_stopping_node_drains_at_once_and_its_app_comes_back_on_another_node_with_its_port()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        await using var app = await EchoingAsync(cluster.FailoverListener("drained", cluster.Nodes[1], cluster.Nodes[2]));
        var port = app.PublicPort;
        using var pairedAtNode3 = await cluster.ConnectWhenBoundAsync(cluster.Nodes[2], port);
        await EchoOnAsync(pairedAtNode3, "before");

        // Node 2 has no session of its own: its drain ends as soon as its apps are told.
        await cluster.Nodes[1].Relay.Ask<RelayActor.Drained>(RelayActor.Drain.Instance, TimeSpan.FromSeconds(10));

        // The app was told ERROR shutdown, registers on node 3 with its resume token, and keeps its port.
        await cluster.EchoesThroughAsync(cluster.Nodes[0], port, 1000);
        await cluster.EchoesThroughAsync(cluster.Nodes[2], port, 1000);
        Assert.Equal(port, app.PublicPort);
        await EchoOnAsync(pairedAtNode3, "after");
    }

    [Fact]
    public async Task A_registration_abandoned_while_the_cluster_decides_does_not_keep_the_name()
    {
        await using var cluster = await TestCluster.StartAsync(2);
        for (var i = 0; i < 5; i++)
        {
            // REGISTER at node 2 (the directory is on node 1), then reset before the answer can come.
            var control = await TestRelay.ConnectAsync(cluster.Nodes[1].Endpoints.Control.Port, address: cluster.Nodes[1].Address);
            var lines = new LineFramer();
            Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(control, lines));
            control.LingerState = new LingerOption(true, 0);
            await control.SendAsync(ControlLine.ToBytes(new Register(AppName.Parse($"abandoned-{i}").Value)));
            control.Dispose();
        }
        for (var i = 0; i < 5; i++)
            await TestRelay.RegistersSoonAsync(() => cluster.Nodes[0].Listener($"abandoned-{i}"), ErrorCode.NameInUse);
    }

    [Fact]
    public async Task A_port_another_process_holds_on_the_registering_node_is_skipped_for_the_next()
    {
        await using var cluster = await TestCluster.StartAsync(2);
        // Another process holds the range's first port on node 2's address only.
        using var squatter = new Socket(SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(cluster.Nodes[1].Address, cluster.PublicPorts.First));
        squatter.Listen();

        await using var app = await EchoingAsync(cluster.Nodes[1].Listener("skips"));
        Assert.NotEqual(cluster.PublicPorts.First, app.PublicPort);
        foreach (var node in cluster.Nodes)
            await cluster.EchoesThroughAsync(node, app.PublicPort, 1000);
    }

    [Fact]
    public async Task Each_nodes_status_and_metrics_name_the_node_and_where_the_app_is_registered()
    {
        await using var cluster = await TestCluster.StartAsync(2);
        await using var app = await EchoingAsync(cluster.Nodes[0].Listener("shown"));
        using var client = await cluster.ConnectWhenBoundAsync(cluster.Nodes[1], app.PublicPort);
        await EchoOnAsync(client, "held open");

        var (home, away) = (cluster.Nodes[0].Status(), cluster.Nodes[1].Status());
        Assert.Equal(cluster.Nodes[0].SelfAddress, home.Node);
        Assert.Equal(cluster.Nodes[1].SelfAddress, away.Node);
        // The app is registered on node 1; node 2 lists it for the session of the client that came there.
        Assert.Equal(1, home.AppsRegistered);
        Assert.Null(Assert.Single(home.Apps).ControlNode);
        Assert.Empty(home.Apps[0].Sessions);
        Assert.Equal(0, away.AppsRegistered);
        var mirrored = Assert.Single(away.Apps);
        Assert.Equal(cluster.Nodes[0].SelfAddress, mirrored.ControlNode);
        var session = Assert.Single(mirrored.Sessions);
        Assert.Equal(9, session.BytesFromClient);

        // The meter of node 2 tags its figures with the node.
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        var seen = new List<(string Instrument, int Value, string? Node)>();
        var meter = TcpRelay.Server.Telemetry.RelayTelemetry.Get(cluster.Nodes[1].System).Metrics.Meter;
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) =>
        {
            string? node = null;
            foreach (var tag in tags)
                if (tag.Key == "node")
                    node = tag.Value as string;
            seen.Add((instrument.Name, value, node));
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Contains(("tcprelay.sessions.active", 1, cluster.Nodes[1].SelfAddress), seen);
        Assert.Contains(("tcprelay.apps", 0, cluster.Nodes[1].SelfAddress), seen);
    }

    [Fact]
    public async Task No_payload_ever_crosses_the_cluster()
    {
        var before = PayloadTripwire.Count;
        await using var cluster = await TestCluster.StartAsync(2);
        await using var app = await EchoingAsync(cluster.Nodes[0].Listener("local-bytes"));
        await cluster.EchoesThroughAsync(cluster.Nodes[1], app.PublicPort, 1 << 20);
        await cluster.EchoesThroughAsync(cluster.Nodes[0], app.PublicPort, 1 << 20);
        Assert.Equal(before, PayloadTripwire.Count);
        // What does cross is the cluster layer's typed records, in its own serializer.
        Assert.IsType<ClusterMessageSerializer>(cluster.Nodes[1].System.Serialization.FindSerializerFor(
            new AppActor.ClientSettled(SessionId.New())));

        // The tripwire works: a ByteString sent to an actor on the other node is counted.
        var remote = cluster.Nodes[0].System.ActorSelection(new RootActorPath(Akka.Cluster.Cluster.Get(cluster.Nodes[1].System).SelfAddress) / "user" / "relay");
        remote.Tell(ByteString.FromBytes([1, 2, 3]));
        var deadline = DateTime.UtcNow + TestRelay.Wait;
        while (PayloadTripwire.Count == before && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(before + 1, PayloadTripwire.Count);
    }

    [Fact]
    public async Task The_directory_decides_claims_by_the_users_grants_and_the_owners_node_dismisses_apps_outside_a_new_grant()
    {
        var directory = Directory.CreateTempSubdirectory("tcprelay-cluster-users-");
        try
        {
            const string secret = "alice-secret-0123456789";
            var alice = $"users {{ alice {{ secret = \"{secret}\", names = [\"web\", \"api-*\"], max-apps = 1 }} }}";
            // Every node reads its own copy of the file.
            string FileOf(RelaySettings node) => Path.Combine(directory.FullName, $"users-{node.Bind}.conf");
            await using var cluster = await TestCluster.StartAsync(2, adjust: s =>
            {
                File.WriteAllText(FileOf(s), alice);
                return s with { UsersFile = FileOf(s), Users = Registration.UsersFile.Load(FileOf(s), s.PublicPorts) };
            });
            var (first, second) = (cluster.Nodes[0], cluster.Nodes[1]);
            RelayListener As(ClusterNode node, string name) => new(node.ListenerOptions(name) with { User = "alice", Secret = secret, Reconnect = false });

            await using var web = await EchoingAsync(As(first, "web"));
            await using (var elsewhere = As(second, "api-1"))
                Assert.Equal(ErrorCode.Limit, (await Assert.ThrowsAsync<RelayRegistrationException>(() => elsewhere.StartAsync())).Code);
            await using (var outside = As(second, "db"))
                Assert.Equal(ErrorCode.NotAllowed, (await Assert.ThrowsAsync<RelayRegistrationException>(() => outside.StartAsync())).Code);
            await cluster.EchoesThroughAsync(second, web.PublicPort, 1000);
            Assert.Equal("alice", second.Status().Apps.Single(a => a.Name == "web").User);

            File.WriteAllText(FileOf(first.Settings), "users { bob { secret = \"bob-secret-0123456789\" } }");
            var dismissed = await Assert.ThrowsAsync<RelayRegistrationException>(async () => await web.AcceptAsync().AsTask().WaitAsync(ClusterWait));
            Assert.Equal(ErrorCode.NotAllowed, dismissed.Code);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>Registers the app and serves its sessions as an echo server.</summary>
    private static async Task<RelayListener> EchoingAsync(RelayListener app)
    {
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        _ = EchoApp.ServeAsync(app);
        return app;
    }

    private static async Task EchoOnAsync(Socket socket, string text)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(text);
        await socket.SendAsync(bytes);
        Assert.Equal(bytes, await SocketAssert.ReadExactlyAsync(socket, bytes.Length));
    }
}

/// <summary>
/// Bound to the payload types of Akka.IO: counts every one that is serialized, which happens only
/// when one is sent to an actor on another node.
/// </summary>
public sealed class PayloadTripwire(ExtendedActorSystem system) : Serializer(system)
{
    private static int _count;

    public static int Count => Volatile.Read(ref _count);

    public override int Identifier => 1_000_777;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj)
    {
        Interlocked.Increment(ref _count);
        return obj is ByteString bytes ? bytes.ToArray() : [];
    }

    public override object FromBinary(byte[] bytes, Type type) => ByteString.FromBytes(bytes);

    public const string Hocon = """
        akka.actor {
          serializers.payload-tripwire = "TcpRelay.Server.Tests.PayloadTripwire, TcpRelay.Server.Tests"
          serialization-bindings {
            "Akka.IO.ByteString, Akka" = payload-tripwire
            "Akka.IO.Tcp+Received, Akka" = payload-tripwire
            "Akka.IO.Tcp+Write, Akka" = payload-tripwire
          }
        }
        """;
}

/// <summary>Relay nodes in one cluster, each hosted in-process the way <c>tcprelay serve</c> hosts one.</summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private TestCluster(List<ClusterNode> nodes, PublicPortRange ports)
    {
        Nodes = nodes;
        PublicPorts = ports;
    }

    public IReadOnlyList<ClusterNode> Nodes { get; }

    public PublicPortRange PublicPorts { get; }

    /// <param name="adjust">Changes to every node's settings, applied last (its public range is set).</param>
    public static async Task<TestCluster> StartAsync(int count, TimeSpan? grace = null, Func<RelaySettings, RelaySettings>? adjust = null)
    {
        // Ports below the other tests' random ranges, the same on every node's address.
        var first = Random.Shared.Next(12000, 19900);
        var range = new PublicPortRange(first, first + 49);
        var nodes = new List<ClusterNode>();
        try
        {
            Address? seed = null;
            for (var i = 0; i < count; i++)
            {
                var node = await ClusterNode.StartAsync(IPAddress.Parse($"127.0.0.{i + 1}"), range, seed, grace, adjust);
                seed ??= Akka.Cluster.Cluster.Get(node.System).SelfAddress;
                nodes.Add(node);
            }
            await Task.WhenAll(nodes.Select(n => n.UpAsync()));
            return new TestCluster(nodes, range);
        }
        catch
        {
            foreach (var node in nodes)
                await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>An app registering on <paramref name="first"/> that knows <paramref name="then"/> too, and reconnects quickly.</summary>
    public RelayListener FailoverListener(string name, ClusterNode first, ClusterNode then) => new(first.ListenerOptions(name) with
    {
        OtherNodes = [new HostPort(then.Address.ToString(), then.Endpoints.Control.Port)],
        ReconnectDelayMin = TimeSpan.FromMilliseconds(100),
        ReconnectDelayMax = TimeSpan.FromMilliseconds(500),
    });

    /// <summary>A client at the node once the node listens on the app's port (the table reaches nodes a moment after REGISTERED).</summary>
    public async Task<Socket> ConnectWhenBoundAsync(ClusterNode node, int port, DateTime? deadline = null)
    {
        deadline ??= DateTime.UtcNow + TestRelay.Wait;
        while (true)
        {
            try
            {
                return await TestRelay.ConnectAsync(port, address: node.Address);
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    /// <summary>A client at the node sends a payload and reads it back byte-exact; until the deadline, a refused or closed attempt is tried again.</summary>
    public async Task EchoesThroughAsync(ClusterNode node, int port, int length, DateTime? deadline = null)
    {
        deadline ??= DateTime.UtcNow + TestRelay.Wait;
        var payload = Payload.Make((ulong)length, length);
        while (true)
        {
            try
            {
                using var client = await ConnectWhenBoundAsync(node, port, deadline);
                await client.SendAsync(payload);
                Assert.Equal(payload, await SocketAssert.ReadExactlyAsync(client, length));
                return;
            }
            // Refused, closed unserved (the pending timeout) or unanswered: the app is not back yet.
            catch (Exception e) when (e is SocketException or Xunit.Sdk.XunitException or OperationCanceledException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes.Reverse())
            await node.DisposeAsync();
    }
}

/// <summary>One relay node of a <see cref="TestCluster"/>: a <see cref="TestRelay"/> that is a cluster node.</summary>
internal sealed class ClusterNode : IAsyncDisposable
{
    // Quick to notice a dead node and to down it, so that a test waits seconds, not half a minute;
    // a stop without CoordinatedShutdown, so that stopping a node hard does not leave the cluster.
    private const string Hocon = """
        akka.cluster.split-brain-resolver.stable-after = 2s
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 2s
        akka.cluster.failure-detector.heartbeat-interval = 500ms
        akka.coordinated-shutdown.run-by-actor-system-terminate = off
        akka.cluster.run-coordinated-shutdown-when-down = off

        """;

    private readonly TestRelay _relay;
    private bool _stopped;

    private ClusterNode(TestRelay relay) => _relay = relay;

    public IActorRef Relay => _relay.Relay;

    public ActorSystem System => _relay.System;

    public RelaySettings Settings => _relay.Settings;

    public RelayEndpoints Endpoints => _relay.Endpoints;

    public IPAddress Address => Settings.Bind;

    public string SelfAddress => Akka.Cluster.Cluster.Get(System).SelfAddress.ToString();

    public static async Task<ClusterNode> StartAsync(IPAddress bind, PublicPortRange range, Address? seed, TimeSpan? grace,
        Func<RelaySettings, RelaySettings>? adjust = null) =>
        new(await TestRelay.StartAsync(s => (adjust ?? (x => x))(s with
        {
            Bind = bind,
            PublicPorts = range,
            GracePeriod = grace ?? TimeSpan.FromSeconds(30),
            ClusterBind = new HostPort(bind.ToString(), 0),
            ClusterSeeds = seed is null ? [] : [new HostPort(seed.Host!, seed.Port!.Value)],
        }), TcpRelayHostingExtensions.ActorSystemName, Hocon + PayloadTripwire.Hocon));

    public Task UpAsync()
    {
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Akka.Cluster.Cluster.Get(System).RegisterOnMemberUp(() => up.TrySetResult());
        return up.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public RelayListenerOptions ListenerOptions(string? name = null) => new()
    {
        RelayHost = Address.ToString(),
        ControlPort = Endpoints.Control.Port,
        Name = name,
        Secret = Settings.Secret,
    };

    public RelayListener Listener(string? name = null) => new(ListenerOptions(name));

    public TcpRelay.Server.Telemetry.RelaySnapshot Status() => TcpRelay.Server.Telemetry.RelayTelemetry.Get(System).Status.Snapshot();

    /// <summary>Ends the node as a crash would: no drain, no leaving the cluster; its sockets close.</summary>
    public async Task StopHardAsync()
    {
        _stopped = true;
        await _relay.StopHardAsync();
    }

    public async ValueTask DisposeAsync()
    {
        // A clean stop leaves the cluster, so that the remaining nodes need not wait to down it.
        if (!_stopped)
            await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        await _relay.DisposeAsync();
    }
}
