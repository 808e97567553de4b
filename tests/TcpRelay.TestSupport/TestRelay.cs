using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Hosting;
using TcpRelay.Server;

namespace TcpRelay.TestSupport;

/// <summary>A relay hosted in-process the way a worker or ASP.NET host would, on ports the OS picks.</summary>
public sealed class TestRelay : IAsyncDisposable
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly IHost _host;
    private bool _stoppedHard;

    private TestRelay(IHost host, RelaySettings settings, RelayEndpoints endpoints, IActorRef relay)
    {
        _host = host;
        System = host.Services.GetRequiredService<ActorSystem>();
        Settings = settings;
        Endpoints = endpoints;
        Relay = relay;
    }

    public RelaySettings Settings { get; }

    public RelayEndpoints Endpoints { get; }

    public IActorRef Relay { get; }

    public ActorSystem System { get; }

    /// <param name="adjust">Changes to the test settings.</param>
    /// <param name="systemName">The actor system's name (a cluster's nodes must share <see cref="TcpRelayHostingExtensions.ActorSystemName"/>).</param>
    /// <param name="hocon">Akka settings that take precedence over the relay's.</param>
    public static async Task<TestRelay> StartAsync(Func<RelaySettings, RelaySettings>? adjust = null, string systemName = "relay-test", string? hocon = null)
    {
        var settings = TestSettings.Relay();
        settings = adjust?.Invoke(settings) ?? settings;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddAkka(systemName, akka =>
        {
            akka.ConfigureLoggers(setup => setup.LogLevel = Akka.Event.LogLevel.WarningLevel);
            if (hocon is not null)
                akka.AddHocon(hocon, HoconAddMode.Prepend);
            akka.AddTcpRelay(settings);
        });
        var host = builder.Build();
        await host.StartAsync();
        var relay = host.Services.GetRequiredService<ActorRegistry>().Get<RelayActor>();
        var endpoints = await host.Services.GetTcpRelay().WaitForEndpointsAsync(Wait);
        return new TestRelay(host, settings, endpoints, relay);
    }

    public RelayListenerOptions ListenerOptions(string? name = null, int? port = null, string? secret = null) => new()
    {
        RelayHost = "127.0.0.1",
        ControlPort = Endpoints.Control.Port,
        Name = name,
        Port = port,
        Secret = secret ?? Settings.Secret,
    };

    public RelayListener Listener(string? name = null, int? port = null, string? secret = null) => new(ListenerOptions(name, port, secret));

    public async Task<RelayListener> StartListenerAsync(string? name = null, int? port = null)
    {
        var listener = Listener(name, port);
        await listener.StartAsync();
        return listener;
    }

    /// <summary>
    /// Registers (and leaves) a listener made by <paramref name="make"/> once the relay stops refusing
    /// it with <paramref name="meanwhile"/> (an edit not read yet, a name not freed yet); any other refusal fails.
    /// </summary>
    public static async Task RegistersSoonAsync(Func<RelayListener> make, ErrorCode meanwhile)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            await using var app = make();
            try
            {
                await app.StartAsync();
                return;
            }
            catch (RelayRegistrationException e) when (e.Code == meanwhile && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    public static async Task<Socket> ConnectAsync(int port, int? bufferSize = null, IPAddress? address = null)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (bufferSize is { } size)
        {
            socket.SendBufferSize = size;
            socket.ReceiveBufferSize = size;
        }
        await socket.ConnectAsync(address ?? IPAddress.Loopback, port);
        return socket;
    }

    /// <summary>Connects once something listens on <paramref name="port"/> (a port an app is about to be given back).</summary>
    public static async Task<Socket> ConnectWhenListeningAsync(int port)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            try
            {
                return await ConnectAsync(port);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }
    }

    /// <summary>Ends the relay as a crash would: the actor system stops without CoordinatedShutdown (the hocon must turn that off).</summary>
    public async Task StopHardAsync()
    {
        _stoppedHard = true;
        await System.Terminate();
    }

    public async ValueTask DisposeAsync()
    {
        // A relay stopped hard has nothing left to stop: stopping its host would run shutdown's
        // phases against a dead actor system and wait each of them out.
        if (!_stoppedHard)
            await _host.StopAsync();
        _host.Dispose();
    }
}

/// <summary>Socket reads that wait on data with a deadline, never on a sleep.</summary>
public static class SocketAssert
{
    public static async Task<byte[]> ReadExactlyAsync(Socket socket, int count, TimeSpan? timeout = null)
    {
        var buffer = new byte[count];
        using var cts = new CancellationTokenSource(timeout ?? TestRelay.Wait);
        var read = 0;
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), cts.Token);
            if (n == 0)
                throw new Xunit.Sdk.XunitException($"EOF after {read} of {count} bytes");
            read += n;
        }
        return buffer;
    }

    /// <summary>
    /// Sends <paramref name="payload"/> and half-closes; an echoing peer returns every byte of it and
    /// then closes its side too.
    /// </summary>
    public static async Task EchoedWholeAsync(Socket client, byte[] payload)
    {
        var echoed = ReadExactlyAsync(client, payload.Length);
        await client.SendAsync(payload);
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal(payload, await echoed);
        await ClosedAsync(client);
    }

    /// <summary>Everything the peer sends until it closes, as ASCII text.</summary>
    public static async Task<string> ReadToEndAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestRelay.Wait);
        var text = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, cts.Token)) > 0)
            text.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        return text.ToString();
    }

    /// <summary><see cref="ReadExactlyAsync(Socket,int,TimeSpan?)"/> for a stream (a TLS session's).</summary>
    public static async Task<byte[]> ReadExactlyAsync(Stream stream, int count, TimeSpan? timeout = null)
    {
        var buffer = new byte[count];
        using var cts = new CancellationTokenSource(timeout ?? TestRelay.Wait);
        var read = 0;
        while (read < count)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), cts.Token);
            if (n == 0)
                throw new Xunit.Sdk.XunitException($"EOF after {read} of {count} bytes");
            read += n;
        }
        return buffer;
    }

    /// <summary>The stream ends (EOF) without anything more.</summary>
    public static async Task ClosedAsync(Stream stream, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestRelay.Wait);
        Assert.Equal(0, await stream.ReadAsync(new byte[16], cts.Token));
    }

    /// <summary>The peer closes (FIN or reset) without sending anything more.</summary>
    public static async Task ClosedAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestRelay.Wait);
        try
        {
            var n = await socket.ReceiveAsync(new byte[16], cts.Token);
            Assert.Equal(0, n);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
    }

    /// <summary>The next control line, parsed (for tests that play the app by hand).</summary>
    public static async Task<ControlMessage> ReadLineAsync(Socket socket, LineFramer lines)
    {
        while (true)
        {
            if (lines.TryTakeLine(out var line) == FramerStatus.Line)
                return ControlLine.Parse(line.Span).GetValueOrThrow();
            var buffer = new byte[4096];
            using var cts = new CancellationTokenSource(TestRelay.Wait);
            var n = await socket.ReceiveAsync(buffer, cts.Token);
            Assert.NotEqual(0, n);
            lines.Append(buffer.AsSpan(0, n));
        }
    }

    /// <summary>The peer resets the connection: no orderly FIN.</summary>
    /// <summary>
    /// A client of <paramref name="port"/> is reset. The reset may come before this side has seen its
    /// connect complete (a quick REJECT on a busy machine): then the connect fails with it.
    /// </summary>
    public static async Task ResetOnArrivalAsync(int port)
    {
        Socket client;
        try
        {
            client = await TestRelay.ConnectAsync(port);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return;
        }
        using (client)
            await ResetAsync(client);
    }

    public static async Task ResetAsync(Socket socket)
    {
        using var cts = new CancellationTokenSource(TestRelay.Wait);
        var e = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            while (await socket.ReceiveAsync(new byte[1024], cts.Token) > 0) { }
        });
        Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
    }
}
