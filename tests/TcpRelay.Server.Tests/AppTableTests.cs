using TcpRelay.Protocol;
using TcpRelay.Server.Registration;

namespace TcpRelay.Server.Tests;

/// <summary>The registration rules on their own: no actor, no socket.</summary>
public sealed class AppTableTests
{
    private static readonly PublicPortRange Range = new(9000, 9002);

    private static AppTable<string> Table(int maxApps = 10, params int[] reserved) => new(Range, maxApps, reserved);

    private static AppName Name(string text) => AppName.Parse(text).Value;

    private static AppTable<string>.Grant Granted(AppTable<string> table, string app, string? name = null, int? port = null, ResumeToken? resume = null)
    {
        var grant = Assert.IsType<AppTable<string>.Grant>(table.Decide(name is null ? null : Name(name), port, Hash(resume)));
        table.Add(grant.Name, grant.Port, Hash(resume), app);
        return grant;
    }

    private static string? Hash(ResumeToken? token) => token is { } t ? ResumeHash.Of(t) : null;

    private static AppTable<string>.Refusal Refused(AppTable<string> table, string? name = null, int? port = null, ResumeToken? resume = null,
        Func<int, bool>? unavailable = null) =>
        Assert.IsType<AppTable<string>.Refusal>(table.Decide(name is null ? null : Name(name), port, Hash(resume), unavailable));

    [Fact]
    public void Names_are_made_up_in_turn_and_ports_are_the_lowest_free()
    {
        var table = Table();
        Assert.Equal(new AppTable<string>.Grant(Name("app-1"), 9000), Granted(table, "a"));
        Assert.Equal(new AppTable<string>.Grant(Name("app-2"), 9001), Granted(table, "b"));
        Assert.Equal(new AppTable<string>.Grant(Name("web"), 9002), Granted(table, "c", "web"));
    }

    [Fact]
    public void A_made_up_name_skips_one_an_app_asked_for()
    {
        var table = Table();
        Granted(table, "a", "app-1");
        Assert.Equal(Name("app-2"), Granted(table, "b").Name);
    }

    [Fact]
    public void A_name_in_use_is_refused_before_the_port_is_looked_at()
    {
        var table = Table();
        Granted(table, "a", "web");
        var refusal = Refused(table, "web", port: 1);
        Assert.Equal(ErrorCode.NameInUse, refusal.Code);
        Assert.Equal("name 'web' is in use", refusal.Text);
    }

    [Fact]
    public void Only_the_holder_s_token_takes_the_name_back_and_only_with_its_port()
    {
        var table = Table();
        var token = ResumeToken.New();
        var grant = Granted(table, "a", "ssh", resume: token);

        Assert.Equal(ErrorCode.NameInUse, Refused(table, "ssh").Code);
        Assert.Equal(ErrorCode.NameInUse, Refused(table, "ssh", resume: ResumeToken.New()).Code);
        var moved = Refused(table, "ssh", port: grant.Port + 1, resume: token);
        Assert.Equal(ErrorCode.NameInUse, moved.Code);
        Assert.Equal($"name 'ssh' is held with port {grant.Port}, not {grant.Port + 1}", moved.Text);

        foreach (var port in new int?[] { null, grant.Port })
        {
            var back = Assert.IsType<AppTable<string>.Return>(table.Decide(Name("ssh"), port, ResumeHash.Of(token)));
            Assert.Equal("a", back.Held.App);
            Assert.Equal(grant.Port, back.Held.Port);
        }
    }

    [Fact]
    public void A_name_held_without_a_token_is_never_taken_back()
    {
        var table = Table();
        Granted(table, "a", "web");
        Assert.Equal(ErrorCode.NameInUse, Refused(table, "web", resume: ResumeToken.New()).Code);
    }

    [Fact]
    public void Ports_outside_the_range_in_use_reserved_or_unavailable_are_refused()
    {
        var table = Table(10, 9001);
        Granted(table, "a", port: 9000);
        Assert.Equal(ErrorCode.PortInUse, Refused(table, port: 9000).Code);
        Assert.Equal(ErrorCode.PortInUse, Refused(table, port: 9001).Code);
        Assert.Equal(ErrorCode.PortInUse, Refused(table, port: 9002, unavailable: p => p == 9002).Code);
        var outside = Refused(table, port: 9003);
        Assert.Equal(ErrorCode.PortNotAllowed, outside.Code);
        Assert.Equal("port 9003 is outside the public range 9000-9002", outside.Text);
    }

    [Fact]
    public void Reserved_and_unavailable_ports_are_skipped_when_one_is_made_up()
    {
        var table = Table(10, 9000);
        Assert.Equal(9002, Assert.IsType<AppTable<string>.Grant>(table.Decide(null, null, null, p => p == 9001)).Port);
        Assert.Equal(9001, Granted(table, "a").Port);
    }

    [Fact]
    public void The_app_limit_is_checked_after_the_port_and_counts_names_held()
    {
        var table = Table(maxApps: 1);
        Granted(table, "a");
        Assert.Equal(ErrorCode.PortNotAllowed, Refused(table, port: 1).Code);
        var limit = Refused(table);
        Assert.Equal(ErrorCode.Limit, limit.Code);
        Assert.Equal("the relay serves its maximum of 1 apps", limit.Text);
    }

    [Fact]
    public void A_full_range_is_limit_and_a_freed_port_is_given_again()
    {
        var table = Table();
        var grants = new[] { "a", "b", "c" }.Select(app => Granted(table, app)).ToList();
        var full = Refused(table);
        Assert.Equal(ErrorCode.Limit, full.Code);
        Assert.Equal("no free port left in the public range 9000-9002", full.Text);

        Assert.NotNull(table.Remove(grants[1].Name));
        Assert.Equal(grants[1].Port, Granted(table, "d").Port);
    }

    [Fact]
    public void A_port_stays_held_after_its_name_is_free_until_it_is_released_by_its_holder()
    {
        var table = Table();
        var grant = Granted(table, "a", "web");
        Assert.False(table.ReleaseName(grant.Name, "someone else"));
        Assert.True(table.ReleaseName(grant.Name, "a"));

        Assert.Equal(9001, Granted(table, "b", "web").Port); // the name is free, the port is not
        Assert.Equal(ErrorCode.PortInUse, Refused(table, port: 9000).Code);
        Assert.False(table.ReleasePort(9000, "b"));
        Assert.True(table.ReleasePort(9000, "a"));
        Assert.Equal(9000, Granted(table, "c", port: 9000).Port);
    }

    [Fact]
    public void A_reserved_port_is_never_released()
    {
        var table = Table(10, 9000);
        Assert.False(table.ReleasePort(9000, null!));
        Assert.Equal(ErrorCode.PortInUse, Refused(table, port: 9000).Code);
    }

    [Fact]
    public void An_app_stopping_frees_everything_it_held()
    {
        var table = Table();
        var grant = Granted(table, "a", "web");
        table.ReleaseName(grant.Name, "a");
        Granted(table, "b", "api");
        table.RemoveApp("a");
        Assert.Equal(9000, Granted(table, "c", "web").Port);
        Assert.True(table.TryGet(Name("api"), out var api));
        Assert.Equal("b", api.App);
    }

    [Fact]
    public void A_moved_app_holds_its_new_port_and_frees_the_old()
    {
        var table = Table();
        var grant = Granted(table, "a", "web");
        Assert.Equal(9001, table.FreePortFrom(grant.Port + 1));
        table.Move(grant.Name, 9001);
        Assert.True(table.TryGet(grant.Name, out var moved));
        Assert.Equal(9001, moved.Port);
        Assert.Equal(9000, Granted(table, "b").Port);
        Assert.Equal(9002, Granted(table, "c").Port);
        Assert.Null(table.FreePortFrom(9000));
    }

    [Fact]
    public void Update_changes_the_app_but_never_the_name_or_port()
    {
        var table = Table();
        var grant = Granted(table, "a", "web");
        table.Update(grant.Name, e => e with { App = "b", Port = 1, ResumeSha256 = "h" });
        Assert.True(table.TryGet(grant.Name, out var entry));
        Assert.Equal(new AppTable<string>.Entry(grant.Name, grant.Port, "h", "b"), entry);
    }

    [Fact]
    public void A_restored_registration_follows_the_same_rules()
    {
        var table = Table(maxApps: 1, 9002);
        Assert.Null(table.WhyNotRestored(Name("a"), 9000));
        table.Add(Name("a"), 9000, "h", "a");
        Assert.Equal("name 'a' is in use", table.WhyNotRestored(Name("a"), 9001));
        Assert.Equal("port 9000 is in use", table.WhyNotRestored(Name("b"), 9000));
        Assert.Equal("port 9002 is in use", table.WhyNotRestored(Name("b"), 9002));
        Assert.Equal("port 8000 is outside the public range 9000-9002", table.WhyNotRestored(Name("b"), 8000));
        Assert.Equal("the relay serves its maximum of 1 apps", table.WhyNotRestored(Name("b"), 9001));
    }
}

/// <summary>The grants of a users file's users, as the table applies them.</summary>
public sealed class AppTableGrantTests
{
    private static readonly PublicPortRange Range = new(9000, 9019);

    private static AppName Name(string text) => AppName.Parse(text).Value;

    private static UserGrant User(string id, string[]? names = null, PublicPortRange? ports = null, int? maxApps = null) =>
        new(UserId.Parse(id).Value, "0123456789abcdef", names, ports, maxApps, null);

    private static AppTable<string>.Decision Decide(AppTable<string> table, UserGrant user, string? name = null, int? port = null, string? resume = null) =>
        table.Decide(name is null ? null : Name(name), port, resume, user: user);

    private static AppTable<string>.Grant Add(AppTable<string> table, UserGrant user, string? name = null, int? port = null, string? resume = null)
    {
        var grant = Assert.IsType<AppTable<string>.Grant>(Decide(table, user, name, port, resume));
        table.Add(grant.Name, grant.Port, resume, grant.Name.Value, user.Id);
        return grant;
    }

    [Fact]
    public void Names_are_exact_or_a_prefix_and_others_are_not_allowed()
    {
        var table = new AppTable<string>(Range, 100, []);
        var alice = User("alice", ["web", "api-*"]);
        Add(table, alice, "web");
        Add(table, alice, "api-eu");
        var refusal = Assert.IsType<AppTable<string>.Refusal>(Decide(table, alice, "db"));
        Assert.Equal(ErrorCode.NotAllowed, refusal.Code);
        Assert.Equal("name 'db' is not granted to user alice (names: web, api-*)", refusal.Text);
        Assert.Equal(ErrorCode.NotAllowed, Assert.IsType<AppTable<string>.Refusal>(Decide(table, alice, "webx")).Code);
        // Not-allowed comes before in-use: a name outside the grant says nothing of who holds it.
        Add(table, User("bob"), "db2");
        Assert.Equal(ErrorCode.NotAllowed, Assert.IsType<AppTable<string>.Refusal>(Decide(table, alice, "db2")).Code);
    }

    [Fact]
    public void An_app_that_asks_for_no_name_gets_one_its_user_may_have()
    {
        var table = new AppTable<string>(Range, 100, []);
        Assert.Equal(Name("api-1"), Add(table, User("alice", ["web", "api-*"])).Name);
        Assert.Equal(Name("app-2"), Add(table, User("bob")).Name);
        var carol = User("carol", ["only", "other"]);
        Assert.Equal(Name("only"), Add(table, carol).Name);
        Assert.Equal(Name("other"), Add(table, carol).Name);
        var none = Assert.IsType<AppTable<string>.Refusal>(Decide(table, carol));
        Assert.Equal((ErrorCode.NotAllowed, "user carol must ask for a name: each of only, other is in use"), (none.Code, none.Text));
    }

    [Fact]
    public void Ports_come_from_the_users_range_and_one_outside_it_is_not_allowed()
    {
        var table = new AppTable<string>(Range, 100, []);
        var alice = User("alice", ports: new PublicPortRange(9010, 9011));
        Assert.Equal(9010, Add(table, alice).Port);
        Assert.Equal(9011, Add(table, alice).Port);
        var full = Assert.IsType<AppTable<string>.Refusal>(Decide(table, alice));
        Assert.Equal((ErrorCode.Limit, "no free port left in user alice's ports 9010-9011"), (full.Code, full.Text));
        var outside = Assert.IsType<AppTable<string>.Refusal>(Decide(table, alice, port: 9000));
        Assert.Equal((ErrorCode.NotAllowed, "port 9000 is not granted to user alice (ports: 9010-9011)"), (outside.Code, outside.Text));
        // Outside the relay's range is the relay's own refusal, as for any app.
        Assert.Equal(ErrorCode.PortNotAllowed, Assert.IsType<AppTable<string>.Refusal>(Decide(table, alice, port: 8000)).Code);
        Assert.Equal(9000, Add(table, User("bob")).Port);
    }

    [Fact]
    public void A_user_holds_at_most_its_max_apps_and_other_users_are_not_counted()
    {
        var table = new AppTable<string>(Range, 100, []);
        var alice = User("alice", maxApps: 2);
        Add(table, alice, "a1");
        Add(table, alice, "a2");
        Add(table, User("bob"), "b1");
        var limit = Assert.IsType<AppTable<string>.Refusal>(Decide(table, alice, "a3"));
        Assert.Equal((ErrorCode.Limit, "user alice has 2 apps registered, the most its grant allows (max-apps)"), (limit.Code, limit.Text));
        table.Remove(Name("a1"));
        Add(table, alice, "a3");
    }

    [Fact]
    public void A_resume_token_brings_back_only_the_user_that_registered_with_it()
    {
        var table = new AppTable<string>(Range, 100, []);
        var hash = ResumeHash.Of(ResumeToken.New());
        Add(table, User("alice"), "web", resume: hash);
        Assert.IsType<AppTable<string>.Return>(Decide(table, User("alice"), "web", resume: hash));
        Assert.Equal(ErrorCode.NameInUse, Assert.IsType<AppTable<string>.Refusal>(Decide(table, User("bob"), "web", resume: hash)).Code);
        Assert.Equal(ErrorCode.NameInUse, Assert.IsType<AppTable<string>.Refusal>(table.Decide(Name("web"), null, hash)).Code);
    }
}

/// <summary>Shared names in the table: who may join, on which port, and how instances come back and go.</summary>
public sealed class AppTableSharingTests
{
    private static readonly AppName Web = AppName.Parse("web").Value;
    private static readonly string First = ResumeHash.Of(ResumeToken.New());
    private static readonly string Second = ResumeHash.Of(ResumeToken.New());

    private static AppTable<string> TableWithSharedWeb(bool shared = true)
    {
        var table = new AppTable<string>(new PublicPortRange(9000, 9002), 10, []);
        var grant = Assert.IsType<AppTable<string>.Grant>(table.Decide(Web, null, First, shared: shared));
        table.Add(grant.Name, grant.Port, First, "a", shared: shared);
        return table;
    }

    [Fact]
    public void An_instance_that_asks_to_share_joins_a_holder_that_asked_the_same_on_its_port()
    {
        var table = TableWithSharedWeb();
        var join = Assert.IsType<AppTable<string>.Join>(table.Decide(Web, null, Second, shared: true));
        Assert.Equal(9000, join.Held.Port);
        Assert.IsType<AppTable<string>.Join>(table.Decide(Web, 9000, null, shared: true));
        Assert.Equal(1, table.Count);
    }

    [Theory]
    [InlineData(true, false, "name 'web' is in use")]
    [InlineData(false, true, "name 'web' is in use and not shared")]
    [InlineData(false, false, "name 'web' is in use")]
    public void Sharing_takes_both_the_holder_and_the_newcomer_asking_for_it(bool holderShares, bool newcomerShares, string text)
    {
        var table = TableWithSharedWeb(holderShares);
        var refusal = Assert.IsType<AppTable<string>.Refusal>(table.Decide(Web, null, Second, shared: newcomerShares));
        Assert.Equal(new AppTable<string>.Refusal(ErrorCode.NameInUse, text), refusal);
    }

    [Fact]
    public void A_later_instance_asking_for_another_port_is_refused()
    {
        var refusal = Assert.IsType<AppTable<string>.Refusal>(TableWithSharedWeb().Decide(Web, 9001, Second, shared: true));
        Assert.Equal(ErrorCode.NameInUse, refusal.Code);
        Assert.Contains("shared on port 9000, not 9001", refusal.Text);
    }

    [Fact]
    public void Each_instance_comes_back_by_its_own_token_and_the_name_keeps_a_live_ones_token_when_the_first_goes()
    {
        var table = TableWithSharedWeb();
        table.AddInstance(Web, Second);
        Assert.IsType<AppTable<string>.Return>(table.Decide(Web, null, First, shared: true));
        Assert.IsType<AppTable<string>.Return>(table.Decide(Web, null, Second, shared: true));
        table.RemoveInstance(Web, First);
        Assert.True(table.TryGet(Web, out var entry));
        Assert.Equal(Second, entry.ResumeSha256);
        Assert.Equal([Second], entry.Instances);
        Assert.IsType<AppTable<string>.Join>(table.Decide(Web, null, First, shared: true));
    }
}
