using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Registration;

namespace TcpRelay.Server.Tests;

/// <summary>
/// An app's PublicPortActor on a real loopback port with its AppActor below it; probes stand in for
/// its control channel and its parent, the registry.
/// </summary>
public sealed class AppActorTests : TestKit
{
    public AppActorTests() : base("akka.loglevel = WARNING") { }

    /// <summary>The app's port actor, as the registry starts it for an app whose control connection is <paramref name="channel"/>.</summary>
    private static IActorRef StartApp(TestProbe registry, string name, IActorRef channel, string? resumeSha256, RelaySettings settings)
    {
        var app = AppName.Parse(name).Value;
        return registry.ChildActorOf(PublicPortActor.CreateProps(new PublicPortActor.Spec(app, 0, false), settings,
            bound => AppActor.CreateProps(new AppActor.Spec(app, channel, new IPEndPoint(IPAddress.Loopback, 1), 9999, resumeSha256), bound, settings),
            "control"));
    }

    [Fact]
    public async Task Binds_then_answers_registered_and_announces_each_client_with_connect()
    {
        var channel = CreateTestProbe("channel");
        var registry = CreateTestProbe("registry");
        var app = StartApp(registry, "echo", channel.Ref, null, TestSettings.Relay());

        var registered = channel.ExpectMsg<ControlChannelActor.Registered>();
        Assert.Equal(app.Path, registered.App.Path.Parent); // the app's control side, below its port
        Assert.Equal("echo", registered.Reply.Name.Value);
        Assert.Equal(9999, registered.Reply.DataPort);
        Assert.NotEqual(0, registered.Reply.Port);
        Assert.Equal("echo", registry.ExpectMsg<RegistryActor.AppServing>().Name.Value);

        // REGISTERED is only sent once the port is bound, so a client connects at once.
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, registered.Reply.Port);
        var connect = (Connect)channel.ExpectMsg<ControlChannelActor.Send>().Message;
        Assert.Equal(((IPEndPoint)client.Client.LocalEndPoint!).Port, connect.Client.Port);
        // The client waits in the table for the data connection that names its id.
        Assert.True(WaitingClients.Get(Sys).TryTake(connect.Id, out var waiting));
        Assert.Equal(app, waiting.Port);
        Assert.Equal(connect.Client, waiting.Address);
    }

    [Fact]
    public void An_instance_that_joins_as_the_last_one_leaves_is_told_to_register_again()
    {
        var channel = CreateTestProbe("channel");
        var registry = CreateTestProbe("registry");
        var app = StartApp(registry, "pool", channel.Ref, null, TestSettings.Relay());
        channel.ExpectMsg<ControlChannelActor.Registered>();
        registry.ExpectMsg<RegistryActor.AppServing>();
        var joining = CreateTestProbe("joining");

        // The registry decided the join before it heard that the name's last instance left.
        app.Tell(new PublicPortActor.Depart("left"));
        app.Tell(new PublicPortActor.AddInstance(_ => Props.Empty, null, joining.Ref));
        var refused = joining.ExpectMsg<ControlChannelActor.Refused>();
        Assert.Equal(ErrorCode.NameInUse, refused.Code);
        Assert.Contains("register again", refused.Text);
    }

    [Fact]
    public async Task After_its_app_leaves_it_closes_waiting_clients_and_releases_the_port()
    {
        var channel = CreateTestProbe("channel");
        var registry = CreateTestProbe("registry");
        var app = StartApp(registry, "leaving", channel.Ref, null, TestSettings.Relay());
        var port = channel.ExpectMsg<ControlChannelActor.Registered>().Reply.Port;
        registry.ExpectMsg<RegistryActor.AppServing>();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        channel.ExpectMsg<ControlChannelActor.Send>();
        Watch(app);

        Sys.Stop(channel.Ref);
        registry.ExpectMsg<RegistryActor.AppDeparted>();
        var stream = client.GetStream();
        stream.ReadTimeout = 5000;
        Assert.Equal(0, stream.Read(new byte[1])); // the waiting client is closed, not left to its pending timeout
        ExpectTerminated(app);

        using var again = new TcpListener(IPAddress.Loopback, port); // the port is free once the actor has stopped
        again.Start();
    }

    [Fact]
    public async Task An_app_with_a_resume_token_keeps_its_port_while_away_and_its_return_announces_the_waiting_client()
    {
        var channel = CreateTestProbe("channel");
        var registry = CreateTestProbe("registry");
        var app = StartApp(registry, "back", channel.Ref, ResumeHash.Of(ResumeToken.New()), TestSettings.Relay() with { GracePeriod = TimeSpan.FromSeconds(30) });
        var port = channel.ExpectMsg<ControlChannelActor.Registered>().Reply.Port;
        registry.ExpectMsg<RegistryActor.AppServing>();

        Sys.Stop(channel.Ref);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port); // still bound: the client is accepted and waits
        AwaitCondition(() => WaitingClients.Get(Sys).Count == 1);
        registry.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // no AppDeparted: the name stays held

        var returning = CreateTestProbe("returning");
        app.Tell(new AppActor.Resume(returning.Ref, new IPEndPoint(IPAddress.Loopback, 2)));
        Assert.Equal(port, returning.ExpectMsg<ControlChannelActor.Registered>().Reply.Port);
        registry.ExpectMsg<RegistryActor.AppServing>(); // serving again, on the new connection
        var connect = (Connect)returning.ExpectMsg<ControlChannelActor.Send>().Message;
        Assert.Equal(((IPEndPoint)client.Client.LocalEndPoint!).Port, connect.Client.Port);
    }

    [Fact]
    public async Task An_app_that_does_not_return_within_the_grace_period_departs_and_its_waiting_client_is_closed()
    {
        var channel = CreateTestProbe("channel");
        var registry = CreateTestProbe("registry");
        var settings = TestSettings.Relay() with { GracePeriod = TimeSpan.FromMilliseconds(500) };
        var app = StartApp(registry, "gone", channel.Ref, ResumeHash.Of(ResumeToken.New()), settings);
        var port = channel.ExpectMsg<ControlChannelActor.Registered>().Reply.Port;
        registry.ExpectMsg<RegistryActor.AppServing>();
        Watch(app);

        Sys.Stop(channel.Ref);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        registry.ExpectMsg<RegistryActor.AppDeparted>(TimeSpan.FromSeconds(5));
        var read = await client.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, read);
        ExpectTerminated(app);
    }

    [Fact]
    public void A_returning_app_takes_the_place_of_a_live_old_connection()
    {
        var channel = CreateTestProbe("channel");
        var registry = CreateTestProbe("registry");
        var app = StartApp(registry, "moving", channel.Ref, ResumeHash.Of(ResumeToken.New()), TestSettings.Relay());
        var port = channel.ExpectMsg<ControlChannelActor.Registered>().Reply.Port;

        var returning = CreateTestProbe("returning");
        app.Tell(new AppActor.Resume(returning.Ref, new IPEndPoint(IPAddress.Loopback, 2)));
        channel.ExpectMsg<ControlChannelActor.Superseded>();
        Assert.Equal(port, returning.ExpectMsg<ControlChannelActor.Registered>().Reply.Port);
    }

    /// <summary>An app on a loopback port with one client waiting for it: the client's socket and its CONNECT.</summary>
    private async Task<(IActorRef App, TestProbe Channel, TcpClient Client, Connect Connect)> OneWaitingClientAsync(RelaySettings settings)
    {
        var channel = CreateTestProbe("channel");
        var registry = CreateTestProbe("registry");
        var app = StartApp(registry, "waits", channel.Ref, null, settings);
        var port = channel.ExpectMsg<ControlChannelActor.Registered>().Reply.Port;
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var connect = (Connect)channel.ExpectMsg<ControlChannelActor.Send>().Message;
        return (app, channel, client, connect);
    }

    private static async Task<int> ReadAsync(TcpClient client) =>
        await client.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(5));

    [Fact]
    public async Task A_client_nobody_claims_is_closed_at_the_pending_timeout_and_leaves_the_table()
    {
        var (_, _, client, connect) = await OneWaitingClientAsync(TestSettings.Relay() with { PendingTimeout = TimeSpan.FromMilliseconds(300) });
        using var held = client;
        Assert.Equal(0, await ReadAsync(client)); // EOF: closed in order
        Assert.False(WaitingClients.Get(Sys).TryTake(connect.Id, out _), "a timed-out client must not be claimable");
    }

    [Fact]
    public async Task A_rejected_client_is_reset_at_once()
    {
        var (app, channel, client, connect) = await OneWaitingClientAsync(TestSettings.Relay() with { PendingTimeout = TimeSpan.FromMinutes(1) });
        using var held = client;
        app.Tell(new AppActor.RejectSession(connect.Id), channel.Ref);
        var reset = await Assert.ThrowsAsync<IOException>(() => ReadAsync(client));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(reset.InnerException).SocketErrorCode);
        Assert.Equal(0, WaitingClients.Get(Sys).Count);
    }

    [Fact]
    public async Task A_claimed_client_is_left_alone_by_the_pending_timeout_and_holds_the_port_until_its_session_ends()
    {
        var (app, channel, client, connect) = await OneWaitingClientAsync(TestSettings.Relay() with { PendingTimeout = TimeSpan.FromMilliseconds(300) });
        using var held = client;
        // What a data connection's session does when its ACCEPT names the client.
        Assert.True(WaitingClients.Get(Sys).TryTake(connect.Id, out var waiting));
        var session = CreateTestProbe("session");
        app.Tell(new PublicPortActor.SessionPaired(connect.Id), session.Ref);
        var read = client.GetStream().ReadAsync(new byte[1]).AsTask();
        Assert.NotSame(read, await Task.WhenAny(read, Task.Delay(TimeSpan.FromMilliseconds(800)))); // the pending timeout (300 ms) leaves it open

        Watch(app);
        Sys.Stop(channel.Ref); // the app leaves: the paired session goes on and holds the port
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        app.Tell(new PublicPortActor.SessionEnded(connect.Id), session.Ref);
        ExpectTerminated(app); // its last session ended: the port is released and the actor stops
        waiting.Connection.Tell(Akka.IO.Tcp.Abort.Instance);
    }
}
