using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Akka.Actor;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Telemetry;
using TcpRelay.Server.Tls;

namespace TcpRelay.Server.Tests;

/// <summary>A relay whose control and data ports speak TLS, apps on the client library verifying it, clients on plain sockets.</summary>
public sealed class TlsTests
{
    private static Task<TestRelay> StartRelayAsync(X509Certificate2 certificate) =>
        TestRelay.StartAsync(s => s with { Tls = RelayCertificate.From(certificate) });

    private static RelayListener PinnedListener(TestRelay relay, X509Certificate2 certificate, string? name = null) =>
        new(relay.ListenerOptions(name) with { TlsPin = TlsPin.Of(certificate) });

    private static async Task<RelayListener> StartPinnedListenerAsync(TestRelay relay, X509Certificate2 certificate, string? name = null)
    {
        var listener = PinnedListener(relay, certificate, name);
        await listener.StartAsync();
        return listener;
    }

    [Fact]
    public async Task Echo_through_a_TLS_relay_with_the_pin()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await StartRelayAsync(certificate);
        await using var app = await StartPinnedListenerAsync(relay, certificate, "echo");
        _ = EchoApp.ServeAsync(app);

        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await SocketAssert.EchoedWholeAsync(client, Payload.Make(3, 300_000));
    }

    [Fact]
    public async Task The_certificate_as_CA_file_and_its_name_are_trusted()
    {
        var certificate = TestCertificates.Valid("relay.test");
        var (certFile, _) = TestCertificates.WritePem(certificate);
        await using var relay = await StartRelayAsync(certificate);
        await using var app = new RelayListener(relay.ListenerOptions() with { TlsCaFile = certFile, TlsServerName = "relay.test" });
        await app.StartAsync();
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();
        Assert.True(session.IsEncrypted);
        await session.WriteAsync("over TLS"u8.ToArray());
        Assert.Equal("over TLS", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(client, 8)));
    }

    [Fact]
    public async Task A_wrong_pin_is_a_final_refusal()
    {
        await using var relay = await StartRelayAsync(TestCertificates.Valid());
        await using var app = PinnedListener(relay, TestCertificates.Valid());
        var refused = await Assert.ThrowsAsync<RelayRegistrationException>(() => app.StartAsync());
        Assert.True(refused.TlsRefused);
        Assert.True(RelayListener.IsFinal(refused));
        Assert.Contains("pin mismatch", refused.Message);
    }

    [Fact]
    public async Task A_certificate_for_another_name_is_a_final_refusal()
    {
        var certificate = TestCertificates.Valid("relay.test");
        var (certFile, _) = TestCertificates.WritePem(certificate);
        await using var relay = await StartRelayAsync(certificate);
        await using var app = new RelayListener(relay.ListenerOptions() with { TlsCaFile = certFile });
        var refused = await Assert.ThrowsAsync<RelayRegistrationException>(() => app.StartAsync());
        Assert.True(refused.TlsRefused);
        Assert.Contains("name mismatch", refused.Message);
    }

    [Fact]
    public async Task A_certificate_from_an_unknown_CA_is_a_final_refusal()
    {
        var (otherCa, _) = TestCertificates.WritePem(TestCertificates.Valid());
        await using var relay = await StartRelayAsync(TestCertificates.Valid());
        await using var app = new RelayListener(relay.ListenerOptions() with { TlsCaFile = otherCa });
        var refused = await Assert.ThrowsAsync<RelayRegistrationException>(() => app.StartAsync());
        Assert.True(refused.TlsRefused);
        Assert.Contains("unknown CA", refused.Message);
    }

    [Fact]
    public async Task An_expired_certificate_is_refused_by_the_app_and_by_the_relay_s_settings()
    {
        var expired = TestCertificates.Expired();
        await using (var relay = await StartRelayAsync(expired))
        {
            await using var app = PinnedListener(relay, expired);
            var refused = await Assert.ThrowsAsync<RelayRegistrationException>(() => app.StartAsync());
            Assert.True(refused.TlsRefused);
            Assert.Contains("expired", refused.Message);
        }
        var (certFile, keyFile) = TestCertificates.WritePem(expired);
        Assert.Contains("expired on", Assert.Throws<RelayConfigException>(() => RelayCertificate.Load(certFile, keyFile, DateTimeOffset.UtcNow)).Message);
    }

    [Fact]
    public void A_key_that_is_not_the_certificate_s_or_a_file_that_cannot_be_read_is_a_settings_error()
    {
        var (certFile, _) = TestCertificates.WritePem(TestCertificates.Valid());
        var (_, otherKey) = TestCertificates.WritePem(TestCertificates.Valid());
        Assert.Contains("is not the private key", Assert.Throws<RelayConfigException>(() => RelayCertificate.Load(certFile, otherKey, DateTimeOffset.UtcNow)).Message);
        Assert.Contains("cannot read", Assert.Throws<RelayConfigException>(() => RelayCertificate.Load(certFile + ".missing", otherKey, DateTimeOffset.UtcNow)).Message);
    }

    [Fact]
    public async Task Plain_text_on_a_TLS_port_is_closed_and_counted()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await StartRelayAsync(certificate);
        using var readings = new MeterReadings(RelayTelemetry.Get(relay.System).Metrics.Meter);
        foreach (var port in new[] { relay.Endpoints.Control.Port, relay.Endpoints.Data.Port })
        {
            using var plain = await TestRelay.ConnectAsync(port);
            await plain.SendAsync(ControlLine.ToBytes(new Register(null)));
            await SocketAssert.ClosedAsync(plain);
        }
        Assert.Equal(2, readings.Sum("tcprelay.handshake.failures|reason=tls"));
        // And an app that speaks TLS is served right after.
        await using var app = await StartPinnedListenerAsync(relay, certificate);
    }

    [Fact]
    public async Task A_port_check_that_hangs_up_without_a_word_is_no_failed_handshake()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await StartRelayAsync(certificate);
        using var readings = new MeterReadings(RelayTelemetry.Get(relay.System).Metrics.Meter);
        foreach (var port in new[] { relay.Endpoints.Control.Port, relay.Endpoints.Data.Port })
        {
            using var check = await TestRelay.ConnectAsync(port);
            check.Shutdown(SocketShutdown.Send);
            // Closed by the relay once it has made up its mind about the connection.
            await SocketAssert.ClosedAsync(check);
        }
        Assert.Equal(0, readings.Sum("tcprelay.handshake.failures|reason=tls"));
    }

    [Fact]
    public async Task A_connection_that_never_starts_its_TLS_handshake_is_closed_at_the_handshake_timeout()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { Tls = RelayCertificate.From(TestCertificates.Valid()), HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        using var readings = new MeterReadings(RelayTelemetry.Get(relay.System).Metrics.Meter);
        foreach (var port in new[] { relay.Endpoints.Control.Port, relay.Endpoints.Data.Port })
        {
            using var silent = await TestRelay.ConnectAsync(port);
            // Well before the close timeout (10s): the channel's ERROR cannot be sent before TLS, so it is not waited for.
            await SocketAssert.ClosedAsync(silent, TimeSpan.FromSeconds(5));
        }
        // Counted once each, by the channel, as the handshake timeout it is.
        Assert.Equal(2, readings.Sum("tcprelay.handshake.failures|reason=timeout"));
        Assert.Equal(0, readings.Sum("tcprelay.handshake.failures|reason=tls"));
    }

    [Fact]
    public async Task Half_close_from_the_client_through_TLS_keeps_the_reply_flowing()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await StartRelayAsync(certificate);
        await using var app = await StartPinnedListenerAsync(relay, certificate);
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();

        await client.SendAsync("request"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal("request", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(session, 7)));
        await SocketAssert.ClosedAsync(session); // the client's FIN, as close_notify

        await session.WriteAsync("response after FIN"u8.ToArray());
        Assert.Equal("response after FIN", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(client, 18)));
        await session.ShutdownSendAsync();
        await SocketAssert.ClosedAsync(client);
    }

    [Fact]
    public async Task Half_close_from_the_app_through_TLS_keeps_the_client_sending()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await StartRelayAsync(certificate);
        await using var app = await StartPinnedListenerAsync(relay, certificate);
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();

        await session.WriteAsync("greeting"u8.ToArray());
        await session.ShutdownSendAsync();
        Assert.Equal("greeting", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(client, 8)));
        await SocketAssert.ClosedAsync(client);

        await client.SendAsync("late bytes"u8.ToArray());
        Assert.Equal("late bytes", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(session, 10)));
        client.Shutdown(SocketShutdown.Send);
        await SocketAssert.ClosedAsync(session);
    }

    [Fact]
    public async Task A_reset_by_the_client_resets_the_app_s_TLS_connection()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await StartRelayAsync(certificate);
        await using var app = await StartPinnedListenerAsync(relay, certificate);
        var client = await TestRelay.ConnectAsync(app.PublicPort);
        await using var session = await app.AcceptAsync();
        await client.SendAsync(new byte[] { 1 });
        await SocketAssert.ReadExactlyAsync(session, 1);

        client.LingerState = new LingerOption(true, 0);
        client.Close(); // RST
        using var cts = new CancellationTokenSource(TestRelay.Wait);
        var e = await Assert.ThrowsAsync<IOException>(async () =>
        {
            while (await session.ReadAsync(new byte[1024], cts.Token) > 0) { }
        });
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task A_reset_by_the_app_over_TLS_resets_the_client()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await StartRelayAsync(certificate);
        await using var app = await StartPinnedListenerAsync(relay, certificate);
        using var client = await TestRelay.ConnectAsync(app.PublicPort);
        var session = await app.AcceptAsync();
        await session.WriteAsync(new byte[] { 1 });
        await SocketAssert.ReadExactlyAsync(client, 1);

        session.Socket.LingerState = new LingerOption(true, 0);
        session.Socket.Close(); // RST under the TLS session
        await SocketAssert.ResetAsync(client);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task An_app_that_never_reads_through_TLS_holds_the_client_back_and_the_relay_buffers_at_most_two_frames_each_way()
    {
        var certificate = TestCertificates.Valid();
        await using var relay = await StartRelayAsync(certificate);
        await using var app = await StartPinnedListenerAsync(relay, certificate, "stalled");
        await StalledReader.HoldsTheClientBackAsync(relay, app);
    }
}
