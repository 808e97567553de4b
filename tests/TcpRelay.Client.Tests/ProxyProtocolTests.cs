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

    [ProgramFact("nginx-light", "nginx")]
    public async Task Nginx_reads_the_clients_address_from_either_header_version()
    {
        using var nginx = await NginxEchoingProxyAddresses.StartAsync();
        await using var relay = await TestRelay.StartAsync();
        foreach (var version in new[] { ProxyProtocolVersion.V1, ProxyProtocolVersion.V2 })
        {
            await using var agent = new RelayAgent(relay.ListenerOptions(),
                [new ExposedService("127.0.0.1", nginx.Port, $"web-{version.ToString().ToLowerInvariant()}") { ProxyProtocol = version }]);
            await agent.StartAsync();
            var publicPort = agent.Services[0].Listener.PublicPort;
            using var client = await TestRelay.ConnectAsync(publicPort);
            await client.SendAsync("GET / HTTP/1.0\r\nHost: relayed\r\n\r\n"u8.ToArray());
            var response = await SocketAssert.ReadToEndAsync(client);
            var clientPort = ((IPEndPoint)client.LocalEndPoint!).Port;
            Assert.EndsWith($"\r\n\r\n127.0.0.1 {clientPort} 127.0.0.1 {publicPort}\n", response);
            Assert.StartsWith("HTTP/1.1 200", response);
        }
    }

    /// <summary>nginx on a free loopback port, with PROXY protocol on, answering each request with the addresses its header gave.</summary>
    private sealed class NginxEchoingProxyAddresses : IDisposable
    {
        private readonly System.Diagnostics.Process _process;
        private readonly DirectoryInfo _directory;

        private NginxEchoingProxyAddresses(System.Diagnostics.Process process, DirectoryInfo directory, int port) =>
            (_process, _directory, Port) = (process, directory, port);

        public int Port { get; }

        public static async Task<NginxEchoingProxyAddresses> StartAsync()
        {
            var directory = Directory.CreateTempSubdirectory("tcprelay-nginx-");
            var port = Loopback.FreePort();
            var d = directory.FullName;
            File.WriteAllText(Path.Combine(d, "nginx.conf"), $$"""
                daemon off; master_process off; worker_processes 1; pid {{d}}/nginx.pid; error_log {{d}}/error.log warn;
                events { worker_connections 64; }
                http {
                  access_log off;
                  client_body_temp_path {{d}}/body; proxy_temp_path {{d}}/proxy; fastcgi_temp_path {{d}}/fastcgi;
                  uwsgi_temp_path {{d}}/uwsgi; scgi_temp_path {{d}}/scgi;
                  server {
                    listen 127.0.0.1:{{port}} proxy_protocol;
                    location / { default_type text/plain; return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port\n"; }
                  }
                }
                """);
            var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(ProgramFactAttribute.Find("nginx")
                ?? throw new Xunit.Sdk.XunitException("nginx is not installed: apt-get install nginx-light"))
            {
                ArgumentList = { "-p", d, "-c", Path.Combine(d, "nginx.conf") },
                RedirectStandardError = true,
            })!;
            var started = new NginxEchoingProxyAddresses(process, directory, port);
            try
            {
                (await TestRelay.ConnectWhenListeningAsync(port)).Dispose();
            }
            catch
            {
                started.Dispose();
                throw;
            }
            return started;
        }

        public void Dispose()
        {
            if (!_process.HasExited)
                _process.Kill();
            _process.WaitForExit();
            _process.Dispose();
            _directory.Delete(recursive: true);
        }
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
