using System.Net;
using System.Net.Sockets;
using TcpRelay.Client;
using TcpRelay.Protocol;

namespace TcpRelay.Client.Tests;

/// <summary>The client library against a relay played by hand, for what a real relay does not do on cue.</summary>
public sealed class RelayListenerTests
{
    public static TheoryData<string, Func<RelayListenerOptions, RelayListenerOptions>> OptionsOutOfRange => new()
    {
        { "RelayHost", o => o with { RelayHost = " " } },
        { "ControlPort", o => o with { ControlPort = 0 } },
        { "Port", o => o with { Port = 65536 } },
        { "ConnectTimeout", o => o with { ConnectTimeout = TimeSpan.Zero } },
        { "ReconnectDelayMin", o => o with { ReconnectDelayMin = TimeSpan.FromSeconds(-1) } },
        { "ReconnectDelayMax", o => o with { ReconnectDelayMin = TimeSpan.FromSeconds(2), ReconnectDelayMax = TimeSpan.FromSeconds(1) } },
        { "HeartbeatInterval", o => o with { HeartbeatInterval = TimeSpan.FromMilliseconds(-5) } },
        { "KeepAliveIdle", o => o with { KeepAliveIdle = TimeSpan.FromHours(10) } },
    };

    // Out of range, these used to surface only in the background loop (a negative delay or interval
    // throws there), which then stopped and left AcceptAsync waiting for ever.
    [Theory]
    [MemberData(nameof(OptionsOutOfRange))]
    public void An_option_out_of_range_is_refused_by_the_constructor_naming_it(string option, Func<RelayListenerOptions, RelayListenerOptions> change)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new RelayListener(change(new RelayListenerOptions { RelayHost = "127.0.0.1" })));
        Assert.Equal(option, e.ParamName);
        Assert.Contains(option, e.Message);
    }

    [Fact]
    public void The_default_options_are_accepted() =>
        new RelayListenerOptions { RelayHost = "relay.example.net" }.Validate();

    [Fact]
    public async Task A_relay_that_goes_silent_for_three_heartbeats_is_left_and_registered_with_again_as_the_same_app()
    {
        using var relay = ListenAsRelay();
        await using var listener = new RelayListener(OptionsFor(relay) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200) });
        var starting = listener.StartAsync();

        using var first = await relay.AcceptAsync();
        var firstLines = new LineFramer();
        var firstRegister = await HandshakeAsync(first, firstLines, new Registered(AppName.Parse("quiet").Value, 40001, 40002));
        await starting;
        Assert.Null(firstRegister.Name); // the first time, the relay picks the name

        // PINGs arrive and go unanswered; after 3 intervals the listener gives up on this connection.
        // It gives up with a reset, which discards a PING not read yet: on a slow machine that comes first.
        try
        {
            Assert.IsType<Ping>(await SocketAssert.ReadLineAsync(first, firstLines));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
        using var second = await relay.AcceptAsync().WaitAsync(TestRelay.Wait);
        var again = await HandshakeAsync(second, new LineFramer(), new Registered(AppName.Parse("quiet").Value, 40001, 40002));
        Assert.Equal("quiet", again.Name?.Value); // and asks for what it had
        Assert.Equal(40001, again.Port);
        Assert.NotNull(firstRegister.Resume);
        Assert.Equal(firstRegister.Resume, again.Resume);
    }

    [Fact]
    public async Task A_final_refusal_on_reconnect_ends_the_listener_with_the_relay_s_code()
    {
        using var relay = ListenAsRelay();
        await using var listener = new RelayListener(OptionsFor(relay));
        var starting = listener.StartAsync();
        using (var first = await relay.AcceptAsync())
        {
            await HandshakeAsync(first, new LineFramer(), new Registered(AppName.Parse("x").Value, 40001, 40002));
            await starting;
        }
        using var second = await relay.AcceptAsync().WaitAsync(TestRelay.Wait);
        await HandshakeAsync(second, new LineFramer(), new Error(ErrorCode.AuthFailed, "the secret changed"));

        var ended = await Assert.ThrowsAsync<RelayRegistrationException>(() => listener.AcceptAsync().AsTask().WaitAsync(TestRelay.Wait));
        Assert.Equal(ErrorCode.AuthFailed, ended.Code);
    }

    [Fact]
    public async Task The_listener_opts_into_redirects_and_dials_the_data_port_a_connect_names()
    {
        using var relay = ListenAsRelay();
        using var otherNode = ListenAsRelay(); // the data port of another relay node
        await using var listener = new RelayListener(OptionsFor(relay));
        var starting = listener.StartAsync();
        using var control = await relay.AcceptAsync();
        var lines = new LineFramer();
        var register = await HandshakeAsync(control, lines, new Registered(AppName.Parse("moved").Value, 40001, 40002));
        await starting;
        Assert.True(register.Redirect, "REGISTER should carry features=redirect");

        var id = SessionId.New();
        var elsewhere = new HostPort("127.0.0.1", ((IPEndPoint)otherNode.LocalEndPoint!).Port);
        await control.SendAsync(ControlLine.ToBytes(new Connect(id, new IPEndPoint(IPAddress.Parse("203.0.113.7"), 51234), elsewhere)));
        var offer = await listener.AcceptOfferAsync().AsTask().WaitAsync(TestRelay.Wait);
        Assert.Equal(elsewhere, offer.DataPort);
        var dialling = offer.ConnectAsync();
        using var data = await otherNode.AcceptAsync().WaitAsync(TestRelay.Wait);
        await using var session = await dialling;
        Assert.Equal(new Accept(id), AcceptLine.Parse((await SocketAssert.ReadExactlyAsync(data, new Accept(id).ToBytes().Length)).AsSpan()[..^1]).Value);
    }

    [Fact]
    public async Task A_node_that_cannot_be_reached_is_passed_over_for_the_next()
    {
        using var deadNode = new Socket(SocketType.Stream, ProtocolType.Tcp);
        deadNode.Bind(new IPEndPoint(IPAddress.Loopback, 0)); // bound, never listening: connections are refused
        using var liveNode = ListenAsRelay();
        var options = OptionsFor(liveNode);
        await using var listener = new RelayListener(options with
        {
            RelayHost = "127.0.0.1",
            ControlPort = ((IPEndPoint)deadNode.LocalEndPoint!).Port,
            OtherNodes = [new HostPort("127.0.0.1", options.ControlPort)],
        });
        var starting = listener.StartAsync();
        using var control = await liveNode.AcceptAsync().WaitAsync(TestRelay.Wait);
        await HandshakeAsync(control, new LineFramer(), new Registered(AppName.Parse("second").Value, 40001, 40002));
        await starting.WaitAsync(TestRelay.Wait);
        Assert.Equal($"127.0.0.1:{options.ControlPort}", listener.Relay);
    }

    private static Socket ListenAsRelay()
    {
        var relay = new Socket(SocketType.Stream, ProtocolType.Tcp);
        relay.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        relay.Listen(4);
        return relay;
    }

    private static RelayListenerOptions OptionsFor(Socket relay) => new()
    {
        RelayHost = "127.0.0.1",
        ControlPort = ((IPEndPoint)relay.LocalEndPoint!).Port,
        ReconnectDelayMin = TimeSpan.FromMilliseconds(50),
    };

    private static async Task<Register> HandshakeAsync(Socket app, LineFramer lines, ControlMessage answer)
    {
        await app.SendAsync(ControlLine.ToBytes(new Hello(Nonce.New())));
        var register = Assert.IsType<Register>(await SocketAssert.ReadLineAsync(app, lines));
        await app.SendAsync(ControlLine.ToBytes(answer));
        return register;
    }
}
