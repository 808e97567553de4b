using TcpRelay.Protocol;

namespace TcpRelay.Cli;

/// <summary>The agent's resume token kept in a file, so that it outlives the process.</summary>
internal static class ResumeTokenFile
{
    /// <summary>The token in <paramref name="path"/>, or a new one written there (mode 0600) when the file does not exist.</summary>
    /// <exception cref="UsageException">The file cannot be read or written, or does not hold a token.</exception>
    public static ResumeToken LoadOrCreate(string path)
    {
        try
        {
            if (File.Exists(path))
            {
                var text = File.ReadAllText(path).Trim();
                var token = ResumeToken.Parse(text);
                return token.IsOk
                    ? token.Value
                    : throw new UsageException($"--resume-token-file: '{path}' does not hold a token ({token.Error})");
            }
            var fresh = ResumeToken.New();
            // The token lets its holder take over the agent's names during a grace period: keep it private.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var file = new StreamWriter(path, options))
                file.WriteLine(fresh.Value);
            return fresh;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--resume-token-file: cannot use '{path}': {e.Message}");
        }
    }
}
