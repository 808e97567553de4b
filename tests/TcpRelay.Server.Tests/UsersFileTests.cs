using TcpRelay.Protocol;
using TcpRelay.Server.Registration;

namespace TcpRelay.Server.Tests;

/// <summary>The users file's rules, and who a REGISTER is under them: no actor, no socket.</summary>
public sealed class UsersFileTests
{
    private static readonly PublicPortRange Public = new(9000, 9099);
    private const string Secret = "0123456789abcdef-alice";

    private static UserTable Parse(string text, Func<string, string>? secretFile = null) =>
        UsersFile.Parse(text, "users.conf", Public, secretFile ?? (path => throw new RelayConfigException($"no file {path}")), () => "fp");

    private static string Refusal(string text) => Assert.Throws<RelayConfigException>(() => Parse(text)).Message;

    private static UserId Id(string text) => UserId.Parse(text).Value;

    [Fact]
    public void A_user_has_a_secret_and_what_it_leaves_out_is_not_restricted()
    {
        var users = Parse($$"""
            users {
              alice { secret = "{{Secret}}", names = ["web", "api-*"], ports = "9000-9009", max-apps = 5, max-sessions = 500 }
              ci {
                secret-file = "ci.secret"
              }
            }
            """, path => path == "ci.secret" ? "ci-secret-of-at-least-16\nignored second line" : throw new RelayConfigException(path));

        var alice = users.Find(Id("alice"))!;
        Assert.Equal(Secret, alice.Secret);
        Assert.Equal(["web", "api-*"], alice.Names);
        Assert.Equal(new PublicPortRange(9000, 9009), alice.Ports);
        Assert.Equal((5, 500), (alice.MaxApps, alice.MaxSessions));
        var ci = users.Find(Id("ci"))!;
        Assert.Equal("ci-secret-of-at-least-16", ci.Secret);
        Assert.Equal((null, null, null, null), (ci.Names, ci.Ports, ci.MaxApps, ci.MaxSessions));
        Assert.Null(users.Find(Id("bob")));
    }

    [Theory]
    [InlineData("users {\n  alice { secret = \"short\" }\n}", "line 2: user alice: the secret is 5 bytes, at least 16 are needed")]
    [InlineData("users {\n  alice {\n    secret = \"" + Secret + "\"\n    colour = red\n  }\n}", "line 4: user alice: 'colour' is not a key of a user")]
    [InlineData("users {\n  alice {\n    secret = \"" + Secret + "\"\n    ports = \"8000-8010\"\n  }\n}", "line 4: user alice: ports 8000-8010 are not within the relay's public-ports 9000-9099")]
    [InlineData("users {\n  alice { secret = \"" + Secret + "\", ports = \"9010-9000\" }\n}", "line 2: user alice: ports: public port range '9010-9000' ends before it starts")]
    [InlineData("users {\n  alice { secret = \"" + Secret + "\", names = [\"we*b\"] }\n}", "line 2: user alice: names: 'we*b' may have '*' only at its end")]
    [InlineData("users {\n  alice { secret = \"" + Secret + "\", names = [\"Web\"] }\n}", "user alice: names: 'Web' is not a name")]
    [InlineData("users {\n  alice { secret = \"" + Secret + "\", names = [] }\n}", "names is empty")]
    [InlineData("users {\n  alice { secret = \"" + Secret + "\", names = \"web\" }\n}", "names must be a list")]
    [InlineData("users {\n  alice { secret = \"" + Secret + "\", max-apps = 0 }\n}", "max-apps: '0' is not a positive whole number")]
    [InlineData("users {\n  alice { names = [\"web\"] }\n}", "line 2: user alice needs a secret")]
    [InlineData("users {\n  alice { secret = \"" + Secret + "\", secret-file = x }\n}", "has both secret and secret-file")]
    [InlineData("users {\n  alice { secret-file = missing }\n}", "line 2: user alice: no file missing")]
    [InlineData("users {\n  \"al.ice\" { secret = \"" + Secret + "\" }\n}", "user may contain only")]
    [InlineData("users {\n  alice = 3\n}", "user alice must be a block")]
    [InlineData("people {\n}", "line 1: 'people' is not a setting of a users file")]
    [InlineData("", "it needs a block users")]
    [InlineData("users = [ }", "is not valid HOCON: line 1: '}' closes the '[' of line 1")]
    [InlineData("users {\n  alice { secret = \"x }\n}", "is not valid HOCON: line 2: a quoted string is not closed")]
    [InlineData("users {\n  alice { secret = \"}\" # }\n", "is not valid HOCON: line 2: '{' is never closed")]
    public void A_file_that_breaks_a_rule_is_refused_whole_naming_the_line(string text, string expected) =>
        Assert.Contains(expected, Refusal(text));

    [Fact]
    public void A_secret_file_is_read_beside_the_users_file_and_its_content_changes_the_fingerprint()
    {
        var directory = Directory.CreateTempSubdirectory("tcprelay-users-");
        try
        {
            var path = Path.Combine(directory.FullName, "users.conf");
            File.WriteAllText(path, "users { ci { secret-file = ci.secret } }");
            File.WriteAllText(Path.Combine(directory.FullName, "ci.secret"), "first-secret-16-bytes\n");
            var first = UsersFile.Load(path, Public);
            Assert.Equal("first-secret-16-bytes", first.Find(Id("ci"))!.Secret);
            Assert.Equal(first.Fingerprint, UsersFile.Load(path, Public).Fingerprint);

            File.WriteAllText(Path.Combine(directory.FullName, "ci.secret"), "second-secret-16-bytes\n");
            var second = UsersFile.Load(path, Public);
            Assert.Equal("second-secret-16-bytes", second.Find(Id("ci"))!.Secret);
            Assert.NotEqual(first.Fingerprint, second.Fingerprint);

            File.Delete(path);
            Assert.Contains("cannot read users file", Assert.Throws<RelayConfigException>(() => UsersFile.Load(path, Public)).Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void An_unknown_user_and_a_wrong_digest_get_the_same_answer_and_are_counted_apart()
    {
        var users = Parse($"users {{ alice {{ secret = \"{Secret}\" }} }}");
        var nonce = Nonce.New();
        Register As(string user, string secret) => new(User: Id(user), Auth: RelayAuth.Compute(secret, nonce));

        Assert.Equal("alice", Credentials.Check(As("alice", Secret), nonce, null, users).User!.Id.Value);
        var wrong = Credentials.Check(As("alice", "not alice's secret"), nonce, null, users);
        var unknown = Credentials.Check(As("mallory", Secret), nonce, null, users);
        Assert.False(wrong.Admitted);
        Assert.False(unknown.Admitted);
        Assert.Equal(wrong.Text, unknown.Text);
        Assert.Equal(("mismatch", "unknown-user"), (wrong.FailureReason, unknown.FailureReason));
        Assert.DoesNotContain("mallory", unknown.Text);
        Assert.Equal("missing", Credentials.Check(new Register(User: Id("alice")), nonce, null, users).FailureReason);
        // A user's digest under another nonce (replayed) does not match.
        Assert.False(Credentials.Check(new Register(User: Id("alice"), Auth: RelayAuth.Compute(Secret, Nonce.New())), nonce, null, users).Admitted);
    }

    [Fact]
    public void Without_user_the_shared_secret_decides_and_a_relay_with_users_only_refuses()
    {
        var users = Parse($"users {{ alice {{ secret = \"{Secret}\" }} }}");
        var nonce = Nonce.New();
        var shared = new Register(Auth: RelayAuth.Compute("shared secret", nonce));

        Assert.True(Credentials.Check(shared, nonce, "shared secret", users) is { Admitted: true, User: null });
        Assert.Equal("mismatch", Credentials.Check(shared, nonce, "other secret", users).FailureReason);
        Assert.Equal("no-user", Credentials.Check(shared, nonce, null, users).FailureReason);
        Assert.True(Credentials.Check(new Register(), nonce, null, null).Admitted);
        // A user= on a relay without users is unknown, not a way around the shared secret.
        Assert.Equal("unknown-user", Credentials.Check(new Register(User: Id("alice"), Auth: RelayAuth.Compute(Secret, nonce)), nonce, "shared secret", null).FailureReason);
    }
}
