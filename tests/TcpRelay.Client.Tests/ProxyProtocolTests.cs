using System.Net;
using System.Net.Sockets;
using TcpRelay.Client;
using TcpRelay.Protocol;

namespace TcpRelay.Client.Tests;

/// <summary>An agent that writes a PROXY header: a real client through a real relay, and what the service reads.</summary>
public sealed class ProxyProtocolTests
{
    [Theory]
    [InlineData(ProxyProtocolVersion.V1)]
    [InlineData(ProxyProtocolVersion.V2)]
    public async Task The_service_reads_the_header_with_the_clients_address_then_the_clients_bytes(ProxyProtocolVersion version)
    {
        await using var relay = await TestRelay.StartAsync();
        using var service = Loopback.Listening();
        var options = new RelayListenerOptions { RelayHost = "127.0.0.1", ControlPort = relay.Endpoints.Control.Port, Secret = relay.Settings.Secret };
        await using var agent = new RelayAgent(options, [new ExposedService("127.0.0.1", Loopback.PortOf(service), "proxied") { ProxyProtocol = version }]);
        await agent.StartAsync();
        var publicPort = agent.Services[0].Listener.PublicPort;

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, publicPort);
        var payload = Payload.Make(7, 100_000);
        var sending = client.SendAsync(payload);
        var (accepted, header) = await AcceptSessionAsync(service);
        using var _ = accepted;

        var (source, destination) = ProxyHeaderReader.Read(header);
        Assert.Equal(client.LocalEndPoint, source);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, publicPort), destination);
        Assert.Equal(-1, Payload.FirstMismatch(7, 0, await SocketAssert.ReadExactlyAsync(accepted, payload.Length)));
        await sending;

        // The service's bytes reach the client untouched: the header goes one way only.
        await accepted.SendAsync("pong"u8.ToArray());
        Assert.Equal("pong"u8.ToArray(), await SocketAssert.ReadExactlyAsync(client, 4));
    }

    /// <summary>The first connection that sends anything, and its header: the agent's start-up check connects and hangs up first.</summary>
    private static async Task<(Socket Session, byte[] Header)> AcceptSessionAsync(Socket service)
    {
        while (true)
        {
            var accepted = await service.AcceptAsync().WaitAsync(TestRelay.Wait);
            var first = new byte[16];
            using var timeout = new CancellationTokenSource(TestRelay.Wait);
            if (await accepted.ReceiveAsync(first.AsMemory(0, 1), timeout.Token) == 1)
            {
                (await SocketAssert.ReadExactlyAsync(accepted, 15)).CopyTo(first, 1);
                return (accepted, await ReadHeaderAsync(accepted, first));
            }
            accepted.Dispose();
        }
    }

    /// <summary>Exactly the header's bytes: 16 and then the length a v2 header gives, or a v1 line up to its LF.</summary>
    private static async Task<byte[]> ReadHeaderAsync(Socket socket, byte[] first)
    {
        if (ProxyHeaderReader.V2Length(first) is { } length)
            return [.. first, .. await SocketAssert.ReadExactlyAsync(socket, length - 16)];
        var line = new List<byte>(first);
        while (line[^1] != '\n' && line.Count < 107)
            line.AddRange(await SocketAssert.ReadExactlyAsync(socket, 1));
        return [.. line];
    }
}
