using System.Net.Sockets;
using System.Text;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server.Registration;
using TcpRelay.Server.State;
using TcpRelay.Server.Telemetry;

namespace TcpRelay.Server.Tests;

/// <summary>Registrations kept in the state directory across a relay's restart (issue 15).</summary>
public sealed class StateFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tcprelay-state-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private RelaySettings Adjust(RelaySettings settings, PublicPortRange? range = null) =>
        settings with { StateDirectory = _directory, GracePeriod = TimeSpan.FromMinutes(1), PublicPorts = range ?? settings.PublicPorts };

    private string StateFile => Path.Combine(_directory, "relay-0.json");

    [Fact]
    public async Task A_restarted_relay_holds_every_registration_for_its_owner_and_its_waiting_clients()
    {
        var token = ResumeToken.New();
        var first = await TestRelay.StartAsync(s => Adjust(s));
        var range = first.Settings.PublicPorts;
        var app = new RelayListener(first.ListenerOptions("ssh") with { ResumeToken = token });
        await app.StartAsync();
        var port = app.PublicPort;
        await Eventually.TrueAsync(() => File.Exists(StateFile) && File.ReadAllText(StateFile).Contains("\"ssh\""), "the state file names the app");
        // The relay stops while the app runs (a drain: the app is told ERROR shutdown), then the app's process ends.
        await first.DisposeAsync();
        await app.DisposeAsync();
        var saved = new RegistrationFile(StateFile).Load();
        Assert.Null(saved.Problem);
        Assert.Equal(new SavedRegistration(AppName.Parse("ssh").Value, port, ResumeHash.Of(token)), Assert.Single(saved.Apps));
        Assert.DoesNotContain(token.Value, File.ReadAllText(StateFile));

        await using var second = await TestRelay.StartAsync(s => Adjust(s, range));
        // Another app first: neither the name nor the port is to be had.
        await using (var stranger = second.Listener("ssh"))
            Assert.Equal(ErrorCode.NameInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => stranger.StartAsync())).Code);
        await using (var squatter = second.Listener("web", port))
            Assert.Equal(ErrorCode.PortInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => squatter.StartAsync())).Code);
        await using (var anyPort = await second.StartListenerAsync("web"))
            Assert.NotEqual(port, anyPort.PublicPort);

        // A client arriving meanwhile waits, and the owner, back with its token, is announced it.
        using var client = await TestRelay.ConnectWhenListeningAsync(port);
        await client.SendAsync("hello"u8.ToArray());
        await using var owner = new RelayListener(second.ListenerOptions("ssh") with { ResumeToken = token });
        await owner.StartAsync();
        Assert.Equal(port, owner.PublicPort);
        await using var session = await owner.AcceptAsync().AsTask().WaitAsync(TestRelay.Wait);
        var greeting = new byte[5];
        await session.ReadExactlyAsync(greeting).AsTask().WaitAsync(TestRelay.Wait);
        Assert.Equal("hello", Encoding.ASCII.GetString(greeting));
        await session.WriteAsync("world"u8.ToArray());
        Assert.Equal("world", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(client, 5)));
    }

    [Fact]
    public async Task A_restarted_relay_holds_each_instance_of_a_shared_name_for_its_own_return()
    {
        var tokens = new[] { ResumeToken.New(), ResumeToken.New() };
        var first = await TestRelay.StartAsync(s => Adjust(s));
        var range = first.Settings.PublicPorts;
        var instances = new List<RelayListener>();
        foreach (var token in tokens)
        {
            var instance = new RelayListener(first.ListenerOptions("pool") with { ResumeToken = token, Shared = true });
            await instance.StartAsync();
            instances.Add(instance);
        }
        var port = instances[0].PublicPort;
        await Eventually.TrueAsync(() => File.Exists(StateFile) && new RegistrationFile(StateFile).Load().Apps.Count == 2, "the state file holds both instances");
        await first.DisposeAsync();
        foreach (var instance in instances)
            await instance.DisposeAsync();
        Assert.Equal(tokens.Select(t => new SavedRegistration(AppName.Parse("pool").Value, port, ResumeHash.Of(t), Shared: true)).ToHashSet(),
            new RegistrationFile(StateFile).Load().Apps.ToHashSet());

        await using var second = await TestRelay.StartAsync(s => Adjust(s, range));
        await using (var notSharing = second.Listener("pool"))
            Assert.Equal(ErrorCode.NameInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => notSharing.StartAsync())).Code);
        // The second instance comes back first: its own place, the name's port; the first one's place is held beside it.
        await using var back = new RelayListener(second.ListenerOptions("pool") with { ResumeToken = tokens[1], Shared = true });
        await back.StartAsync();
        Assert.Equal(port, back.PublicPort);
        var pool = RelayTelemetry.Get(second.System).Status.Snapshot().Apps.Single(a => a.Name == "pool");
        Assert.Equal(2, pool.Instances!.Count);
        Assert.Contains(AppSnapshot.Away, pool.Instances);
        // A client goes to the live one, not to the place held for the other.
        _ = EchoApp.ServeAsync(back);
        using var client = await TestRelay.ConnectAsync(port);
        await client.SendAsync("hello"u8.ToArray());
        Assert.Equal("hello", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(client, 5)));
    }

    [Fact]
    public async Task A_restarted_relay_gives_a_users_app_back_only_to_that_user_and_only_while_the_file_grants_it()
    {
        var usersFile = Path.Combine(_directory, "users.conf");
        const string aliceSecret = "alice-secret-0123456789", bobSecret = "bob-secret-0123456789";
        File.WriteAllText(usersFile, $"users {{ alice {{ secret = \"{aliceSecret}\" }}\n bob {{ secret = \"{bobSecret}\" }} }}");
        RelaySettings WithUsers(RelaySettings s, PublicPortRange? range = null)
        {
            s = Adjust(s, range);
            return s with { UsersFile = usersFile, Users = UsersFile.Load(usersFile, s.PublicPorts) };
        }
        var token = ResumeToken.New();
        RelayListener As(TestRelay relay, string user, string secret, string name) =>
            new(relay.ListenerOptions(name) with { User = user, Secret = secret, ResumeToken = token, Reconnect = false });

        var first = await TestRelay.StartAsync(s => WithUsers(s));
        var range = first.Settings.PublicPorts;
        var app = As(first, "alice", aliceSecret, "web");
        await app.StartAsync();
        var port = app.PublicPort;
        await first.DisposeAsync();
        await app.DisposeAsync();
        Assert.Equal(UserId.Parse("alice").Value, Assert.Single(new RegistrationFile(StateFile).Load().Apps).User);

        await using (var second = await TestRelay.StartAsync(s => WithUsers(s, range)))
        {
            // Bob has alice's token (it leaked, say): it is not bob's registration.
            await using (var bob = As(second, "bob", bobSecret, "web"))
                Assert.Equal(ErrorCode.NameInUse, (await Assert.ThrowsAsync<RelayRegistrationException>(() => bob.StartAsync())).Code);
            await using var alice = As(second, "alice", aliceSecret, "web");
            await alice.StartAsync();
            Assert.Equal(port, alice.PublicPort);
        }

        // Alice is gone from the file when the relay comes back: her registration is not held.
        File.WriteAllText(usersFile, $"users {{ bob {{ secret = \"{bobSecret}\" }} }}");
        await using var third = await TestRelay.StartAsync(s => WithUsers(s, range));
        await using var taken = As(third, "bob", bobSecret, "web");
        await taken.StartAsync();
    }

    [Fact]
    public async Task An_app_told_shutdown_is_back_on_its_port_as_soon_as_the_restarted_relay_listens()
    {
        var first = await TestRelay.StartAsync(s => Adjust(s));
        var (range, endpoints) = (first.Settings.PublicPorts, first.Endpoints);
        // Backoff this slow could not bring the app back within the test's wait: only the short
        // steady retry after ERROR shutdown can.
        await using var app = new RelayListener(first.ListenerOptions("ssh") with
        {
            ReconnectDelayMin = TimeSpan.FromMinutes(1), ReconnectDelayMax = TimeSpan.FromMinutes(2),
        });
        await app.StartAsync();
        var port = app.PublicPort;
        await first.DisposeAsync();
        // A restarted process finds its predecessor's sockets closed; an actor system in the same
        // process may still be closing its listeners when its host has stopped.
        await Eventually.TrueAsync(() => PortIsFree(port) && PortIsFree(endpoints.Control.Port) && PortIsFree(endpoints.Data.Port), "the first relay's ports closed");

        // The same ports, as a restarted relay has them.
        await using var second = await TestRelay.StartAsync(s => Adjust(s, range) with
        {
            ControlPort = endpoints.Control.Port, DataPort = endpoints.Data.Port,
        });
        // The held port is bound moments after the control port listens.
        using var client = await TestRelay.ConnectWhenListeningAsync(port);
        await using var session = await app.AcceptAsync().AsTask().WaitAsync(TestRelay.Wait);
        await session.WriteAsync("back"u8.ToArray());
        Assert.Equal("back", Encoding.ASCII.GetString(await SocketAssert.ReadExactlyAsync(client, 4)));
        Assert.Equal(port, app.PublicPort);
    }

    [Fact]
    public async Task A_registration_made_just_before_the_relay_stops_is_in_the_file()
    {
        var relay = await TestRelay.StartAsync(s => Adjust(s));
        var app = new RelayListener(relay.ListenerOptions("late"));
        await app.StartAsync();
        await relay.DisposeAsync(); // at once: the write may still be queued when the drain starts
        await app.DisposeAsync();
        Assert.Contains(new RegistrationFile(StateFile).Load().Apps, saved => saved.Name.Value == "late");
    }

    [Fact]
    public async Task A_corrupt_state_file_is_set_aside_and_the_relay_starts_empty()
    {
        await File.WriteAllTextAsync(StateFile, "{ \"version\": 1, \"apps\": [ { \"name\": \"BAD NAME\", \"port\": 1 } ] }");
        await using var relay = await TestRelay.StartAsync(s => Adjust(s));
        await using var app = await relay.StartListenerAsync("ssh");
        Assert.Single(Directory.GetFiles(_directory, "relay-0.json.unreadable-*"));
        await Eventually.TrueAsync(() => File.Exists(StateFile) && File.ReadAllText(StateFile).Contains("\"ssh\""), "the new table written");
    }

    [Fact]
    public async Task A_registration_that_leaves_is_gone_from_the_file_and_its_name_free_after_a_restart()
    {
        PublicPortRange range;
        await using (var first = await TestRelay.StartAsync(s => Adjust(s)))
        {
            range = first.Settings.PublicPorts;
            await using (var app = await first.StartListenerAsync("ssh"))
                await Eventually.TrueAsync(() => File.Exists(StateFile) && File.ReadAllText(StateFile).Contains("\"ssh\""), "the app recorded");
            // Disposing the listener sent LEAVE: the registration ended for good.
            await Eventually.TrueAsync(() => !File.ReadAllText(StateFile).Contains("\"ssh\""), "the app removed");
        }
        await using var second = await TestRelay.StartAsync(s => Adjust(s, range));
        await using var other = await second.StartListenerAsync("ssh");
        Assert.Equal("ssh", other.Name.ToString());
    }

    private static bool PortIsFree(int port)
    {
        // Connections in TIME_WAIT do not count (they do not stop a listener binding); a listener does.
        using var probe = new Socket(SocketType.Stream, ProtocolType.Tcp);
        probe.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{ \"version\": 2, \"apps\": [] }")]
    [InlineData("{ \"version\": 1 }")]
    [InlineData("{ \"version\": 1, \"apps\": [ { \"name\": \"ssh\", \"port\": 0, \"resume-sha256\": \"00\" } ] }")]
    [InlineData("{ \"version\": 1, \"apps\": [ { \"name\": \"ssh\", \"port\": 9000, \"resume-sha256\": \"ABC\" } ] }")]
    [InlineData("{ \"version\": 1, \"apps\": [ null ] }")]
    public async Task Unusable_files_are_refused_with_the_reason_and_moved_aside(string text)
    {
        await File.WriteAllTextAsync(StateFile, text);
        var loaded = new RegistrationFile(StateFile).Load();
        Assert.Empty(loaded.Apps);
        Assert.Contains("is not a registrations file", loaded.Problem);
        Assert.False(File.Exists(StateFile));
    }

    [Fact]
    public void A_saved_table_loads_back_and_no_file_is_no_registrations()
    {
        var file = new RegistrationFile(Path.Combine(_directory, "sub", "relay-1.json"));
        Assert.Equal(LoadedRegistrations.None, file.Load());
        var apps = new[]
        {
            new SavedRegistration(AppName.Parse("a").Value, 9000, ResumeHash.Of(ResumeToken.New())),
            new SavedRegistration(AppName.Parse("b-2").Value, 9001, ResumeHash.Of(ResumeToken.New())),
        };
        file.Save(apps);
        var loaded = file.Load();
        Assert.Null(loaded.Problem);
        Assert.Equal(apps, loaded.Apps);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(file.Path)!, "*.tmp"));
    }

    [Theory]
    [InlineData("", null, null, null, null)]
    [InlineData("auto", "/run/state/tcprelay:/other", null, "/home/u", "/run/state/tcprelay")]
    [InlineData("auto", null, "/xdg", "/home/u", "/xdg/tcprelay")]
    [InlineData("auto", null, "relative", "/home/u", "/home/u/.local/state/tcprelay")]
    [InlineData("auto", null, null, "/home/u", "/home/u/.local/state/tcprelay")]
    [InlineData("/var/lib/x", "/ignored", null, null, "/var/lib/x")]
    public void State_dir_auto_follows_systemd_then_xdg_then_home(string setting, string? systemd, string? xdg, string? home, string? expected)
    {
        var env = new Dictionary<string, string?> { ["STATE_DIRECTORY"] = systemd, ["XDG_STATE_HOME"] = xdg, ["HOME"] = home };
        Assert.Equal(expected, StateDirectory.Resolve(setting, key => env.GetValueOrDefault(key), "tcprelay.state-dir"));
    }

    [Fact]
    public void State_dir_auto_without_any_home_is_refused_with_what_to_set()
    {
        var e = Assert.Throws<RelayConfigException>(() => StateDirectory.Resolve("auto", _ => null, "tcprelay.state-dir"));
        Assert.Contains("tcprelay.state-dir", e.Message);
    }
}

/// <summary>Waits for a condition that a background write makes true, with a deadline.</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestRelay.Wait);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"not true within {(timeout ?? TestRelay.Wait).TotalSeconds:0}s: {what}");
            await Task.Delay(20);
        }
    }
}
