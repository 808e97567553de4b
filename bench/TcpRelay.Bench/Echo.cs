using System.Buffers;
using System.Net.Sockets;

namespace TcpRelay.Bench;

/// <summary>
/// The echo service, the same code wherever it runs: the benchmark's own echo server, and the
/// echo apps that serve relayed sessions in a process of their own (<see cref="TcpRelayEchoApp"/>,
/// <see cref="SeedEchoApp"/>). An idle session holds no buffer (it waits with a zero-byte read and
/// rents one from the pool only when bytes are there), so that what an app's held session costs is
/// its socket and its relay client, not a 64 KiB array of ours.
/// </summary>
public static class Echo
{
    private const int Chunk = 64 * 1024;

    /// <summary>Echoes until EOF, then half-closes; a reset ends it quietly. Disposes <paramref name="socket"/>.</summary>
    public static async Task ServeAsync(Socket socket)
    {
        byte[]? buffer = null;
        try
        {
            while (true)
            {
                if (buffer is null)
                {
                    await socket.ReceiveAsync(Memory<byte>.Empty);
                    buffer = ArrayPool<byte>.Shared.Rent(Chunk);
                }
                var n = await socket.ReceiveAsync(buffer);
                if (n == 0)
                    break;
                await socket.SendAsync(buffer.AsMemory(0, n));
                // A full read: more is probably waiting (a stream), keep the buffer. A short one: the
                // peer is between messages (a round trip, a held session), give it back.
                if (n < buffer.Length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }
            }
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The client reset; nothing to echo to.
        }
        catch (ObjectDisposedException)
        {
            // Closed under us when the server stopped.
        }
        finally
        {
            if (buffer is not null)
                ArrayPool<byte>.Shared.Return(buffer);
            socket.Dispose();
        }
    }
}
