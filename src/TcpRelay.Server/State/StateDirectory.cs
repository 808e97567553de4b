namespace TcpRelay.Server.State;

/// <summary>Where the relay and the agent keep what must outlive their process.</summary>
public static class StateDirectory
{
    /// <summary>
    /// A directory setting: "" is none, <c>auto</c> the service's or user's state directory
    /// (systemd's $STATE_DIRECTORY, whose first entry is ours when it lists several; then the XDG
    /// base directory rules: $XDG_STATE_HOME, else ~/.local/state), anything else a path.
    /// </summary>
    /// <param name="setting">The setting's value.</param>
    /// <param name="environment">Reads an environment variable.</param>
    /// <param name="key">The setting's name, for errors.</param>
    /// <exception cref="RelayConfigException">Not a path, or <c>auto</c> with none of those variables set.</exception>
    public static string? Resolve(string? setting, Func<string, string?> environment, string key)
    {
        if (string.IsNullOrEmpty(setting))
            return null;
        if (setting != "auto")
            return setting.IndexOfAny(Path.GetInvalidPathChars()) < 0
                ? Path.GetFullPath(setting)
                : throw new RelayConfigException($"{key}: '{setting}' is not a path");
        if (environment("STATE_DIRECTORY") is { Length: > 0 } systemd)
            return systemd.Split(':')[0];
        if (environment("XDG_STATE_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg))
            return Path.Combine(xdg, "tcprelay");
        return environment("HOME") is { Length: > 0 } home
            ? Path.Combine(home, ".local", "state", "tcprelay")
            : throw new RelayConfigException($"{key}: auto needs STATE_DIRECTORY, XDG_STATE_HOME or HOME; set a path, or \"\" to keep nothing");
    }
}
