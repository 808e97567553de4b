using System.Security.Cryptography;
using System.Text;
using TcpRelay.Client;
using TcpRelay.Protocol;
using TcpRelay.Server;
using TcpRelay.Server.State;

namespace TcpRelay.Cli;

/// <summary>
/// The agent's resume token kept in a file, so that it outlives the process: an agent restarted
/// within the relay's grace period gets its names and ports back at once. The file is held locked
/// while the agent runs, so that a second agent started the same way does not take the first's
/// registrations over with the same token (each would supersede the other in turn).
/// </summary>
internal sealed class ResumeTokenFile : IDisposable
{
    private readonly FileStream _held;

    private ResumeTokenFile(FileStream held, ResumeToken token)
    {
        _held = held;
        Token = token;
    }

    public ResumeToken Token { get; }

    public string Path => _held.Name;

    /// <summary>
    /// The default file for an agent of <paramref name="relay"/> exposing <paramref name="services"/>:
    /// one per such agent in the state directory, so that different agents of one user keep apart.
    /// </summary>
    /// <exception cref="RelayConfigException">No state directory can be found.</exception>
    public static string DefaultPath(string relay, IEnumerable<ExposedService> services, Func<string, string?> environment)
    {
        var directory = StateDirectory.Resolve("auto", environment, "--resume-token-file")!;
        var identity = relay + "\n" + string.Join("\n", services.Select(s => $"{s.Address} {s.Name} {s.Port}"));
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..16];
        return System.IO.Path.Combine(directory, $"agent-{hash}.token");
    }

    /// <summary>The token in <paramref name="path"/>, or a new one written there (mode 0600) when the file is new; held locked until disposed.</summary>
    /// <exception cref="UsageException">The file cannot be read, written or locked, or does not hold a token.</exception>
    public static ResumeTokenFile Open(string path)
    {
        FileStream? file = null;
        try
        {
            if (System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) is { } directory && !Directory.Exists(directory))
            {
                if (OperatingSystem.IsWindows())
                    Directory.CreateDirectory(directory);
                else
                    Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            // The token lets its holder take over the agent's names during a grace period: keep it private.
            var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            file = new FileStream(path, options);
            var text = new StreamReader(file, leaveOpen: true).ReadToEnd().Trim();
            ResumeToken token;
            if (text.Length == 0)
            {
                token = ResumeToken.New();
                file.Write(Encoding.ASCII.GetBytes(token.Value + "\n"));
                file.Flush(flushToDisk: true);
            }
            else
            {
                var parsed = ResumeToken.Parse(text);
                token = parsed.IsOk
                    ? parsed.Value
                    : throw new UsageException($"--resume-token-file: '{path}' does not hold a token ({parsed.Error})");
            }
            return new ResumeTokenFile(file, token);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            file?.Dispose();
            throw new UsageException($"--resume-token-file: cannot use '{path}' (one agent per token file): {e.Message}");
        }
        catch
        {
            file?.Dispose();
            throw;
        }
    }

    public void Dispose() => _held.Dispose();
}
