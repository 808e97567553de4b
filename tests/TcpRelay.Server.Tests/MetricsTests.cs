using System.Net.Sockets;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Tests;

/// <summary>The TcpRelay meter read with a MeterListener while sessions run through a relay in-process.</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Sessions_bytes_causes_and_failures_are_counted_exactly()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { Secret = "s3cret" });
        using var readings = new MeterReadings(RelayTelemetry.Get(relay.System).Metrics.Meter);
        await using var app = await relay.StartListenerAsync("counted");
        Assert.Equal(1, readings.Observe("tcprelay.apps"));

        // Five sessions echo 1,000 bytes each and end in order.
        for (var i = 0; i < 5; i++)
        {
            using var client = await TestRelay.ConnectAsync(app.PublicPort);
            await using var session = await app.AcceptAsync();
            await client.SendAsync(Payload.Make((ulong)i, 1000));
            client.Shutdown(SocketShutdown.Send);
            var bytes = await SocketAssert.ReadExactlyAsync(session.Socket, 1000);
            await session.Socket.SendAsync(bytes);
            session.Socket.Shutdown(SocketShutdown.Send);
            Assert.Equal(Payload.Make((ulong)i, 1000), await SocketAssert.ReadExactlyAsync(client, 1000));
            await SocketAssert.ClosedAsync(client);
            await SocketAssert.ClosedAsync(session.Socket);
        }

        // One the app rejects, one the client resets after 10 bytes each way.
        using (var rejected = await TestRelay.ConnectAsync(app.PublicPort))
        {
            await (await app.AcceptOfferAsync()).RejectAsync();
            await SocketAssert.ClosedAsync(rejected);
        }
        using (var resetting = await TestRelay.ConnectAsync(app.PublicPort))
        {
            await using var session = await app.AcceptAsync();
            await resetting.SendAsync(new byte[10]);
            await session.Socket.SendAsync(await SocketAssert.ReadExactlyAsync(session.Socket, 10));
            await SocketAssert.ReadExactlyAsync(resetting, 10);
            resetting.LingerState = new LingerOption(true, 0);
            resetting.Close();
            await SocketAssert.ResetAsync(session.Socket);
        }

        // A wrong secret, and a data connection that does not speak the protocol.
        await using (var intruder = relay.Listener("intruder", secret: "wrong"))
            await Assert.ThrowsAsync<RelayRegistrationException>(() => intruder.StartAsync());
        using (var garbage = await TestRelay.ConnectAsync(relay.Endpoints.Data.Port))
        {
            await garbage.SendAsync("HELLO\n"u8.ToArray());
            await SocketAssert.ClosedAsync(garbage);
        }

        for (var deadline = DateTime.UtcNow + TestRelay.Wait; readings.Observe("tcprelay.sessions.active") != 0; await Task.Delay(20))
            Assert.True(DateTime.UtcNow < deadline, "sessions still active");

        Assert.Equal(7, readings.Sum("tcprelay.sessions.started"));
        Assert.Equal(5, readings.Sum("tcprelay.sessions.ended|cause=normal"));
        Assert.Equal(1, readings.Sum("tcprelay.sessions.ended|cause=rejected"));
        Assert.Equal(1, readings.Sum("tcprelay.sessions.ended|cause=reset"));
        Assert.Equal(5 * 1000 + 10, readings.Observe("tcprelay.relayed|direction=client-to-app"));
        Assert.Equal(5 * 1000 + 10, readings.Observe("tcprelay.relayed|direction=app-to-client"));
        Assert.Equal(6, readings.Recorded("tcprelay.session.setup.duration"));
        Assert.Equal(1, readings.Sum("tcprelay.auth.failures|reason=mismatch"));
        Assert.Equal(1, readings.Sum("tcprelay.handshake.failures|reason=auth-failed"));
        Assert.Equal(1, readings.Sum("tcprelay.handshake.failures|reason=bad-request"));
        Assert.Equal(1, readings.Observe("tcprelay.apps"));
    }

    [Fact]
    public async Task Clients_turned_away_at_a_limit_count_as_sessions_ended_by_it()
    {
        await using var relay = await TestRelay.StartAsync(s => s with { MaxPendingPerApp = 1, MaxSessionsPerApp = 1 });
        using var readings = new MeterReadings(RelayTelemetry.Get(relay.System).Metrics.Meter);
        await using var app = await relay.StartListenerAsync("full");
        using var waiting = await TestRelay.ConnectAsync(app.PublicPort);
        var offer = await app.AcceptOfferAsync();
        using (var over = await TestRelay.ConnectAsync(app.PublicPort))
            await SocketAssert.ClosedAsync(over);
        Assert.Equal(2, readings.Sum("tcprelay.sessions.started"));
        Assert.Equal(1, readings.Sum("tcprelay.sessions.ended|cause=limit"));
        Assert.Equal(1, readings.Observe("tcprelay.sessions.active"));
        await offer.RejectAsync();
    }
}
