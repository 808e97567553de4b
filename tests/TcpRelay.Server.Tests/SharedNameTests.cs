using System.Net.Sockets;
using System.Text;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;
using TcpRelay.TestSupport;

namespace TcpRelay.Server.Tests;

/// <summary>Several instances behind one name, end to end: apps of the client library (and a bare control connection), clients over loopback.</summary>
public sealed class SharedNameTests
{
    /// <summary>An instance of the shared name "web" that echoes and counts the sessions it was given.</summary>
    private sealed class Instance : IAsyncDisposable
    {
        private int _sessions;

        private Instance(RelayListener listener) => Listener = listener;

        public RelayListener Listener { get; }

        public int Sessions => Volatile.Read(ref _sessions);

        public static async Task<Instance> StartAsync(TestRelay relay, string name = "web", int? port = null)
        {
            var listener = new RelayListener(relay.ListenerOptions(name, port) with { Shared = true, Reconnect = false });
            await listener.StartAsync();
            var instance = new Instance(listener);
            _ = EchoApp.ServeAsync(listener, () => Interlocked.Increment(ref instance._sessions));
            return instance;
        }

        public ValueTask DisposeAsync() => Listener.DisposeAsync();
    }

    private static async Task EchoAsync(Socket client, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        await client.SendAsync(bytes);
        Assert.Equal(bytes, await SocketAssert.ReadExactlyAsync(client, bytes.Length));
    }

    /// <summary>A client that connects to <paramref name="port"/> and is echoed: served by some instance.</summary>
    private static async Task<Socket> ServedClientAsync(int port, string text = "hello")
    {
        var client = await TestRelay.ConnectAsync(port);
        await EchoAsync(client, text);
        return client;
    }

    /// <summary>A running session keeps every byte: a payload sent through it comes back whole.</summary>
    private static async Task LosesNothingAsync(Socket running)
    {
        var payload = Payload.Make((ulong)Random.Shared.NextInt64(), 256 * 1024);
        var sending = running.SendAsync(payload);
        Assert.Equal(payload, await SocketAssert.ReadExactlyAsync(running, payload.Length));
        await sending;
    }

    [Fact]
    public async Task Two_instances_share_forty_clients_in_turn_on_one_port()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var a = await Instance.StartAsync(relay);
        await using var b = await Instance.StartAsync(relay);
        Assert.Equal(a.Listener.PublicPort, b.Listener.PublicPort);
        var clients = new List<Socket>();
        for (var i = 0; i < 40; i++)
            clients.Add(await ServedClientAsync(a.Listener.PublicPort, $"client {i}"));
        Assert.Equal((20, 20), (a.Sessions, b.Sessions));
        var instances = RelayTelemetry.Get(relay.System).Status.Snapshot().Apps.Single(app => app.Name == "web").Instances;
        Assert.Equal(2, instances!.Count);
        Assert.DoesNotContain(AppSnapshot.Away, instances);
        foreach (var client in clients)
            client.Dispose();
    }

    [Fact]
    public async Task New_clients_go_to_the_instance_with_the_fewest_sessions()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var a = await Instance.StartAsync(relay);
        using var first = await ServedClientAsync(a.Listener.PublicPort);
        using var second = await ServedClientAsync(a.Listener.PublicPort);
        // b joins with none while a holds two: the next two clients are b's.
        await using var b = await Instance.StartAsync(relay);
        using var third = await ServedClientAsync(a.Listener.PublicPort);
        using var fourth = await ServedClientAsync(a.Listener.PublicPort);
        Assert.Equal((2, 2), (a.Sessions, b.Sessions));
    }

    [Fact]
    public async Task An_instance_that_leaves_takes_only_its_own_sessions_and_new_clients_go_to_the_other()
    {
        await using var relay = await TestRelay.StartAsync();
        var a = await Instance.StartAsync(relay);
        await using var b = await Instance.StartAsync(relay);
        using var ofA = await ServedClientAsync(a.Listener.PublicPort);
        using var ofB = await ServedClientAsync(a.Listener.PublicPort);
        Assert.Equal((1, 1), (a.Sessions, b.Sessions));

        await a.DisposeAsync(); // LEAVE: done once the relay has it
        for (var i = 0; i < 20; i++)
            using (await ServedClientAsync(b.Listener.PublicPort, $"after {i}")) { }
        Assert.Equal(21, b.Sessions);
        await LosesNothingAsync(ofB);
        // Its session accepted before it left runs on.
        await LosesNothingAsync(ofA);
        var web = RelayTelemetry.Get(relay.System).Status.Snapshot().Apps.Single(app => app.Name == "web");
        Assert.Single(web.Instances!);
    }

    [Fact]
    public async Task A_client_waiting_for_an_instance_that_is_lost_is_served_by_another_at_once()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { GracePeriod = TimeSpan.FromMinutes(1) });
        // The first instance is a bare control connection that never dials in: it takes the first client and is then killed.
        using var lost = await TestRelay.ConnectAsync(relay.Endpoints.Control.Port);
        var lines = new LineFramer();
        Assert.IsType<Hello>(await SocketAssert.ReadLineAsync(lost, lines));
        await lost.SendAsync(ControlLine.ToBytes(new Register(AppName.Parse("web").Value, Resume: ResumeToken.New(), Shared: true)));
        var registered = Assert.IsType<Registered>(await SocketAssert.ReadLineAsync(lost, lines));
        await using var b = await Instance.StartAsync(relay);

        using var waiting = await TestRelay.ConnectAsync(registered.Port);
        Assert.IsType<Connect>(await SocketAssert.ReadLineAsync(lost, lines));
        using var ofB = await ServedClientAsync(registered.Port);
        lost.LingerState = new LingerOption(true, 0);
        lost.Close(); // a reset, no LEAVE: the instance is held for its grace period, its client is not

        await EchoAsync(waiting, "served after all");
        for (var i = 0; i < 10; i++)
            using (await ServedClientAsync(registered.Port, $"after {i}")) { }
        Assert.Equal(12, b.Sessions);
        await LosesNothingAsync(ofB);
        var web = RelayTelemetry.Get(relay.System).Status.Snapshot().Apps.Single(app => app.Name == "web");
        Assert.Contains(AppSnapshot.Away, web.Instances!);
    }

    [Fact]
    public async Task A_name_is_shared_only_when_every_holder_asks_and_on_the_port_the_first_fixed()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var shared = await Instance.StartAsync(relay);
        await using (var notSharing = new RelayListener(relay.ListenerOptions("web") with { Reconnect = false }))
            Assert.Equal(ErrorCode.NameInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => notSharing.StartAsync())).Code);
        await using (var otherPort = new RelayListener(relay.ListenerOptions("web", shared.Listener.PublicPort + 1) with { Shared = true, Reconnect = false }))
        {
            var refused = await Assert.ThrowsAsync<RelayRegistrationException>(() => otherPort.StartAsync());
            Assert.Equal(ErrorCode.NameInUse, refused.Code);
            Assert.Contains($"shared on port {shared.Listener.PublicPort}", refused.Message);
        }
        await using var alone = await relay.StartListenerAsync("api");
        await using (var sharing = new RelayListener(relay.ListenerOptions("api") with { Shared = true, Reconnect = false }))
            Assert.Equal(ErrorCode.NameInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => sharing.StartAsync())).Code);
        await using var second = await Instance.StartAsync(relay, port: shared.Listener.PublicPort);
    }
}
