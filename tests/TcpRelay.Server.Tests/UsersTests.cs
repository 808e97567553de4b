using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Registration;
using TcpRelay.Server.Telemetry;
using TcpRelay.TestSupport;

namespace TcpRelay.Server.Tests;

/// <summary>Per-app credentials end to end: a relay with a users file, apps of the client library, clients over loopback.</summary>
public sealed class UsersTests : IDisposable
{
    private const string AliceSecret = "alice-secret-0123456789";
    private const string BobSecret = "bob-secret-0123456789";
    private const string CarolSecret = "carol-secret-0123456789";
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("tcprelay-users-");

    private string UsersPath => Path.Combine(_directory.FullName, "users.conf");

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>A relay reading <paramref name="users"/> (the users block's body, with {first} for the first public port) from its users file.</summary>
    private async Task<TestRelay> RelayWithUsersAsync(Func<int, string> users, Func<RelaySettings, RelaySettings>? adjust = null) =>
        await TestRelay.StartAsync(s =>
        {
            // Written as an edit is (a whole new file moved into place), so that a reader never sees half of it.
            Write(users(s.PublicPorts.First));
            s = s with { UsersFile = UsersPath, Users = UsersFile.Load(UsersPath, s.PublicPorts) };
            return adjust?.Invoke(s) ?? s;
        });

    private void Write(string users)
    {
        var temporary = UsersPath + ".tmp";
        File.WriteAllText(temporary, $"users {{\n{users}\n}}\n");
        File.Move(temporary, UsersPath, overwrite: true);
    }

    private static RelayListener As(TestRelay relay, string? user, string? secret, string? name = null, int? port = null) =>
        new(relay.ListenerOptions(name, port) with { User = user, Secret = secret, Reconnect = false });

    private static async Task<RelayListener> StartedAsync(TestRelay relay, string user, string secret, string? name = null, int? port = null)
    {
        var app = As(relay, user, secret, name, port);
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

    private static async Task<RelayRegistrationException> RefusedAsync(TestRelay relay, string? user, string? secret, string? name = null, int? port = null)
    {
        await using var app = As(relay, user, secret, name, port);
        return await Assert.ThrowsAsync<RelayRegistrationException>(() => app.StartAsync());
    }

    private static async Task EchoAsync(Socket client, string text)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(text);
        await client.SendAsync(bytes);
        Assert.Equal(bytes, await SocketAssert.ReadExactlyAsync(client, bytes.Length));
    }

    [Fact]
    public async Task Each_user_registers_within_its_grant_with_its_own_secret()
    {
        await using var relay = await RelayWithUsersAsync(first => $$"""
              alice { secret = "{{AliceSecret}}", names = ["web", "api-*"], ports = "{{first}}-{{first + 2}}", max-apps = 2 }
              bob { secret = "{{BobSecret}}" }
            """);
        var first = relay.Settings.PublicPorts.First;

        await using var web = await StartedAsync(relay, "alice", AliceSecret, "web");
        Assert.InRange(web.PublicPort, first, first + 2);
        using (var client = await TestRelay.ConnectAsync(web.PublicPort))
            await EchoAsync(client, "alice's web");

        var name = await RefusedAsync(relay, "alice", AliceSecret, "db");
        Assert.Equal(ErrorCode.NotAllowed, name.Code);
        Assert.Contains("name 'db' is not granted to user alice (names: web, api-*)", name.Message);
        var port = await RefusedAsync(relay, "alice", AliceSecret, "api-x", first + 3);
        Assert.Equal(ErrorCode.NotAllowed, port.Code);
        Assert.Contains($"port {first + 3} is not granted to user alice", port.Message);

        await using var api = await StartedAsync(relay, "alice", AliceSecret);
        Assert.StartsWith("api-", api.Name);
        var limit = await RefusedAsync(relay, "alice", AliceSecret, "api-y");
        Assert.Equal(ErrorCode.Limit, limit.Code);

        var wrongSecret = await RefusedAsync(relay, "alice", BobSecret, "web2");
        var unknownUser = await RefusedAsync(relay, "mallory", AliceSecret);
        Assert.Equal((ErrorCode.AuthFailed, ErrorCode.AuthFailed), (wrongSecret.Code, unknownUser.Code));
        Assert.Equal(wrongSecret.Message, unknownUser.Message);
        // A users file and no shared secret: an app must name its user.
        Assert.Equal(ErrorCode.AuthFailed, (await RefusedAsync(relay, null, null)).Code);

        await using var bobs = await StartedAsync(relay, "bob", BobSecret, "db");
        var apps = RelayTelemetry.Get(relay.System).Status.Snapshot().Apps.ToDictionary(a => a.Name, a => a.User);
        Assert.Equal("alice", apps["web"]);
        Assert.Equal("bob", apps["db"]);
    }

    [Fact]
    public async Task A_user_keeps_its_apps_under_its_max_sessions_together_and_gets_them_back_as_sessions_end()
    {
        await using var relay = await RelayWithUsersAsync(_ => $$"""
              carol { secret = "{{CarolSecret}}", max-sessions = 2 }
              bob { secret = "{{BobSecret}}" }
            """);
        await using var one = await StartedAsync(relay, "carol", CarolSecret, "one");
        await using var two = await StartedAsync(relay, "carol", CarolSecret, "two");
        await using var bobs = await StartedAsync(relay, "bob", BobSecret, "bobs");

        var first = await TestRelay.ConnectAsync(one.PublicPort);
        await EchoAsync(first, "1");
        using var second = await TestRelay.ConnectAsync(two.PublicPort);
        await EchoAsync(second, "2");
        using (var third = await TestRelay.ConnectAsync(one.PublicPort))
            await SocketAssert.ClosedAsync(third);
        // Another user's app is not held to carol's limit.
        using (var other = await TestRelay.ConnectAsync(bobs.PublicPort))
            await EchoAsync(other, "bob");

        first.Shutdown(SocketShutdown.Send);
        await SocketAssert.ClosedAsync(first);
        first.Dispose();
        // The session's end reaches the port a moment after the client sees its close.
        await Eventually.TrueAsync(() => UserSessions.Get(relay.System).OpenOf(UserId.Parse("carol").Value) == 1, "carol's first session counted as ended");
        using var again = await TestRelay.ConnectAsync(two.PublicPort);
        await EchoAsync(again, "3");
    }

    [Fact]
    public async Task Edits_apply_while_the_relay_runs_and_a_broken_edit_leaves_the_users_in_force()
    {
        var alice = $"alice {{ secret = \"{AliceSecret}\", names = [\"web\", \"api-*\"] }}";
        var bob = $"bob {{ secret = \"{BobSecret}\" }}";
        await using var relay = await RelayWithUsersAsync(_ => alice + "\n" + bob);
        await using var web = await StartedAsync(relay, "alice", AliceSecret, "web");
        await using var api = await StartedAsync(relay, "alice", AliceSecret, "api-1");
        await using var bobs = await StartedAsync(relay, "bob", BobSecret, "bobs");
        using var paired = await TestRelay.ConnectAsync(bobs.PublicPort);
        await EchoAsync(paired, "before");
        Assert.Equal(ErrorCode.AuthFailed, (await RefusedAsync(relay, "carol", CarolSecret)).Code);

        // Added: carol registers without a restart.
        Write(alice + "\n" + bob + $"\ncarol {{ secret = \"{CarolSecret}\" }}");
        await TestRelay.RegistersSoonAsync(() => As(relay, "carol", CarolSecret, "carols"), ErrorCode.AuthFailed);

        // Broken: refused with a line, and everybody stays as they were.
        using (var refused = LogWatch.For(relay.System, "Users file edit refused"))
        {
            Write(alice + "\n" + bob + "\ncarol { secret = \"short\" }");
            Assert.Contains("the secret is 5 bytes", await refused.Seen);
        }
        await using (await StartedAsync(relay, "carol", CarolSecret, "carols")) { }

        // Removed: bob's app is told ERROR not-allowed at once, its paired session runs on, its name is free.
        // Narrowed: alice's web is outside her names now and goes; her api-1 stays.
        Write($"alice {{ secret = \"{AliceSecret}\", names = [\"api-*\"] }}\ncarol {{ secret = \"{CarolSecret}\" }}");
        var dismissed = await Assert.ThrowsAsync<RelayRegistrationException>(async () => await bobs.AcceptAsync().AsTask().WaitAsync(TestRelay.Wait));
        Assert.Equal(ErrorCode.NotAllowed, dismissed.Code);
        Assert.Contains("user bob is no longer in the users file", dismissed.Message);
        var narrowed = await Assert.ThrowsAsync<RelayRegistrationException>(async () => await web.AcceptAsync().AsTask().WaitAsync(TestRelay.Wait));
        Assert.Equal(ErrorCode.NotAllowed, narrowed.Code);
        Assert.Contains("name 'web' is not granted to user alice", narrowed.Message);
        await EchoAsync(paired, "after bob was removed");
        Assert.Equal(ErrorCode.AuthFailed, (await RefusedAsync(relay, "bob", BobSecret, "bobs")).Code);
        await using (await StartedAsync(relay, "carol", CarolSecret, "bobs")) { }
        using (var client = await TestRelay.ConnectAsync(api.PublicPort))
            await EchoAsync(client, "api-1 is still alice's");
        Assert.Equal(["api-1"], RelayTelemetry.Get(relay.System).Status.Snapshot().Apps.Where(a => a.User == "alice" && !a.Leaving).Select(a => a.Name));
    }

    [Fact]
    public async Task Status_page_and_metrics_name_each_apps_user_and_never_an_unknown_one()
    {
        await using var relay = await RelayWithUsersAsync(_ => $"alice {{ secret = \"{AliceSecret}\" }}");
        await using var admin = await Admin.AdminServer.StartAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), relay.System, secret: null);
        await using var web = await StartedAsync(relay, "alice", AliceSecret, "web");
        using var client = await TestRelay.ConnectAsync(web.PublicPort);
        await EchoAsync(client, "seen");
        await RefusedAsync(relay, "mallory", AliceSecret);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin.EndPoint.Port}/"), Timeout = TestRelay.Wait };
        Assert.Contains("\"user\":\"alice\"", await http.GetStringAsync("status"));
        Assert.Contains("web <span class=\"quiet\">user alice</span>", await http.GetStringAsync(""));
        var metrics = await http.GetStringAsync("metrics");
        Assert.Matches("""\ntcprelay_app_sessions_active\{[^}]*app="web",user="alice"[^}]*\} 1( \d+)?\n""", metrics);
        Assert.Matches("""\ntcprelay_auth_failures_total\{[^}]*reason="unknown-user"[^}]*\} 1( \d+)?\n""", metrics);
        Assert.DoesNotContain("mallory", metrics);
    }

    [Fact]
    public async Task Only_apps_of_one_user_share_a_name()
    {
        await using var relay = await RelayWithUsersAsync(_ => $"alice {{ secret = \"{AliceSecret}\" }}\nbob {{ secret = \"{BobSecret}\" }}");
        RelayListener Sharing(string user, string secret) => new(relay.ListenerOptions("pool") with { User = user, Secret = secret, Shared = true, Reconnect = false });
        await using var first = Sharing("alice", AliceSecret);
        await first.StartAsync();
        await using var second = Sharing("alice", AliceSecret);
        await second.StartAsync();
        await using var bobs = Sharing("bob", BobSecret);
        var refused = await Assert.ThrowsAsync<RelayRegistrationException>(() => bobs.StartAsync());
        Assert.Equal(ErrorCode.NameInUse, refused.Code);
        Assert.EndsWith("name 'pool' is in use by another user", refused.Message);
    }

    [Fact]
    public async Task A_relay_with_a_users_file_and_a_shared_secret_takes_both()
    {
        await using var relay = await RelayWithUsersAsync(_ => $"alice {{ secret = \"{AliceSecret}\", names = [\"web\"] }}",
            s => s with { Secret = "the shared secret" });
        await using var shared = await StartedAsync(relay, null!, "the shared secret", "anything");
        await using var web = await StartedAsync(relay, "alice", AliceSecret, "web");
        Assert.Equal(ErrorCode.AuthFailed, (await RefusedAsync(relay, null, "not the shared secret")).Code);
        // The shared secret is no user's: it cannot be used to register as one.
        Assert.Equal(ErrorCode.AuthFailed, (await RefusedAsync(relay, "alice", "the shared secret")).Code);
    }
}

/// <summary>Waits for a log event whose text contains a phrase, published on the actor system's event stream.</summary>
internal sealed class LogWatch : IDisposable
{
    private readonly ActorSystem _system;
    private readonly IActorRef _watcher;
    private readonly TaskCompletionSource<string> _seen = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private LogWatch(ActorSystem system, string phrase)
    {
        _system = system;
        _watcher = system.ActorOf(Props.Create(() => new Watcher(phrase, _seen)));
        system.EventStream.Subscribe(_watcher, typeof(LogEvent));
    }

    /// <summary>Watches from now (the relay's log level must let the event through).</summary>
    public static LogWatch For(ActorSystem system, string phrase) => new(system, phrase);

    /// <summary>The first matching event's text.</summary>
    public Task<string> Seen => _seen.Task.WaitAsync(TestRelay.Wait);

    public void Dispose()
    {
        _system.EventStream.Unsubscribe(_watcher);
        _system.Stop(_watcher);
    }

    private sealed class Watcher : ReceiveActor
    {
        public Watcher(string phrase, TaskCompletionSource<string> seen) =>
            Receive<LogEvent>(e =>
            {
                var text = e.ToString();
                if (text.Contains(phrase))
                    seen.TrySetResult(text);
            });
    }
}
