using System.Net;
using TcpRelay.Server;

namespace TcpRelay.TestSupport;

/// <summary>Relay settings for tests: loopback, ports picked by the OS, a public range picked at random.</summary>
public static class TestSettings
{
    public static RelaySettings Relay(int publicPorts = 100)
    {
        // Parallel tests may draw overlapping ranges: the relay skips ports another listener holds.
        var first = Random.Shared.Next(20000, 32000 - publicPorts);
        return new RelaySettings
        {
            Bind = IPAddress.Loopback,
            ControlPort = 0,
            DataPort = 0,
            PublicPorts = new PublicPortRange(first, first + publicPorts - 1),
        };
    }
}
