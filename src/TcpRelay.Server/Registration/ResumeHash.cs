using System.Security.Cryptography;
using System.Text;
using TcpRelay.Protocol;

namespace TcpRelay.Server.Registration;

/// <summary>
/// What the relay keeps of an app's resume token: its SHA-256 in lower-case hex. The token is the
/// app's secret; the hash is enough to recognise it, and is what the state file and the cluster's
/// directory hold.
/// </summary>
internal static class ResumeHash
{
    public static string Of(ResumeToken token) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(token.Value)));
}
