namespace TcpRelay.Server.Telemetry;

/// <summary>Why a session ended, as the <c>cause</c> tag of <c>tcprelay.sessions.ended</c>.</summary>
public enum SessionEndCause
{
    /// <summary>Both sides closed in order (FIN both ways).</summary>
    Normal,

    /// <summary>A side reset, or a connection failed.</summary>
    Reset,

    /// <summary>The app sent REJECT.</summary>
    Rejected,

    /// <summary>The app did not dial the data port within the pending timeout.</summary>
    PendingTimeout,

    /// <summary>The client was closed on arrival: the app was at its session or pending limit.</summary>
    Limit,

    /// <summary>The app left (or did not come back) before it dialled in.</summary>
    AppLeft,

    /// <summary>The relay stopped: the session was closed or reset by the drain.</summary>
    Shutdown,
}

/// <summary>Tag spellings.</summary>
public static class SessionEndCauses
{
    /// <summary>The cause as written in metrics and logs: kebab-case.</summary>
    public static string Tag(this SessionEndCause cause) => cause switch
    {
        SessionEndCause.Normal => "normal",
        SessionEndCause.Reset => "reset",
        SessionEndCause.Rejected => "rejected",
        SessionEndCause.PendingTimeout => "pending-timeout",
        SessionEndCause.Limit => "limit",
        SessionEndCause.AppLeft => "app-left",
        _ => "shutdown",
    };
}
