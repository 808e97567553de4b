using TcpRelay.Protocol;

namespace TcpRelay.Server.Registration;

/// <summary>
/// Who a REGISTER is, decided in this one place: the user it names, proven by an auth keyed with
/// that user's secret, or else the relay's shared secret. An unknown user and a wrong digest get the
/// same answer, so that nobody learns from the relay which users exist.
/// </summary>
internal static class Credentials
{
    /// <summary>What <see cref="Check"/> found.</summary>
    /// <param name="User">The user proven (null: admitted by the shared secret, or by a relay without one).</param>
    /// <param name="FailureReason">Null if admitted; else the reason counted (missing, mismatch, unknown-user, no-user), never a user's id.</param>
    /// <param name="Text">The ERROR auth-failed text for the app.</param>
    public sealed record Outcome(UserGrant? User, string? FailureReason = null, string? Text = null)
    {
        /// <summary>Whether the app is admitted.</summary>
        public bool Admitted => FailureReason is null;
    }

    private static readonly Outcome Open = new(null);
    private const string Mismatch = "auth does not match";

    /// <summary>Checks a REGISTER's <c>user=</c> and <c>auth=</c> against the HELLO nonce it answers.</summary>
    /// <param name="register">The REGISTER.</param>
    /// <param name="nonce">The nonce of the HELLO it answers.</param>
    /// <param name="sharedSecret">The relay's shared secret, or null.</param>
    /// <param name="users">The users file's table, or null if the relay has none.</param>
    public static Outcome Check(Register register, Nonce nonce, string? sharedSecret, UserTable? users)
    {
        if (register.User is { } id)
        {
            if (register.Auth is null)
                return new Outcome(null, "missing", $"auth required for user {id}");
            if (users?.Find(id) is not { } grant)
                return new Outcome(null, "unknown-user", Mismatch);
            return RelayAuth.Verify(grant.Secret, nonce, register.Auth) ? new Outcome(grant) : new Outcome(null, "mismatch", Mismatch);
        }
        if (sharedSecret is not null)
            return RelayAuth.Verify(sharedSecret, nonce, register.Auth) ? Open
                : register.Auth is null ? new Outcome(null, "missing", "auth required")
                : new Outcome(null, "mismatch", Mismatch);
        if (users is not null)
            return new Outcome(null, "no-user", "auth required: this relay admits the users of its users file (REGISTER … user=<id> auth=<digest>)");
        return Open;
    }
}
