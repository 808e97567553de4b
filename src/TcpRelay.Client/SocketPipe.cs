using System.Buffers;
using System.Net.Sockets;

namespace TcpRelay.Client;

/// <summary>How a piped session ended, and what it moved.</summary>
/// <param name="Outcome">"closed" when both directions ended with EOF, else which side reset or failed.</param>
/// <param name="BytesAToB">Bytes read from the first socket and written to the second.</param>
/// <param name="BytesBToA">Bytes read from the second socket and written to the first.</param>
public sealed record PipeResult(string Outcome, long BytesAToB, long BytesBToA);

/// <summary>
/// Copies bytes both ways between two connected sockets until both directions have ended. EOF on
/// one side becomes a send shutdown towards the other (half-close), and the opposite direction
/// goes on; a reset or failure on either side resets both, so no peer mistakes it for an orderly end.
/// </summary>
public static class SocketPipe
{
    /// <summary>The <see cref="PipeResult.Outcome"/> of a pipe ended by its cancellation token.</summary>
    public const string Cancelled = "cancelled";

    private const int BufferSize = 64 * 1024;

    /// <summary>Runs the pipe; returns when both directions are done. Closes neither socket on an orderly end.</summary>
    public static Task<PipeResult> RunAsync(Socket a, string aName, Socket b, string bName, CancellationToken cancellationToken = default) =>
        RunAsync(new End(a, null), aName, new End(b, null), bName, cancellationToken);

    /// <summary>
    /// Runs the pipe between a relayed session and a socket: over TLS, the session's bytes go
    /// through its TLS session and its EOF is close_notify then FIN. Disposes neither on an orderly end.
    /// </summary>
    public static Task<PipeResult> RunAsync(RelayStream a, string aName, Socket b, string bName, CancellationToken cancellationToken = default) =>
        RunAsync(new End(a.Socket, a.IsEncrypted ? a : null), aName, new End(b, null), bName, cancellationToken);

    private static async Task<PipeResult> RunAsync(End a, string aName, End b, string bName, CancellationToken cancellationToken)
    {
        var failure = new Failure(a.Socket, b.Socket);
        using var registration = cancellationToken.Register(() => failure.Abort(Cancelled));
        var aToB = CopyAsync(a, aName, b, failure);
        var bToA = CopyAsync(b, bName, a, failure);
        var sent = await Task.WhenAll(aToB, bToA);
        return new PipeResult(failure.Reason ?? "closed", sent[0], sent[1]);
    }

    /// <summary>One side of the pipe: its socket, and the stream its bytes go through when that is not the socket itself (TLS).</summary>
    private sealed record End(Socket Socket, RelayStream? Encrypted)
    {
        public ValueTask<int> ReceiveAsync(Memory<byte> buffer) =>
            Encrypted?.ReadAsync(buffer) ?? Socket.ReceiveAsync(buffer, SocketFlags.None);

        public async ValueTask SendAsync(ReadOnlyMemory<byte> buffer)
        {
            if (Encrypted is not null)
            {
                await Encrypted.WriteAsync(buffer);
                return;
            }
            var sent = 0;
            while (sent < buffer.Length)
                sent += await Socket.SendAsync(buffer[sent..], SocketFlags.None);
        }

        public async ValueTask ShutdownSendAsync()
        {
            if (Encrypted is not null)
                await Encrypted.ShutdownSendAsync();
            else
                Socket.Shutdown(SocketShutdown.Send);
        }
    }

    private static async Task<long> CopyAsync(End from, string fromName, End to, Failure failure)
    {
        // No buffer while the socket has nothing to read: a zero-byte receive waits for data, and the
        // buffer is rented only to take it. An idle session then costs its two sockets and two tasks.
        // A read that filled the buffer says more is waiting, so the buffer is kept for the next one.
        byte[]? buffer = null;
        long total = 0;
        try
        {
            while (true)
            {
                int n;
                try
                {
                    if (buffer is null)
                    {
                        _ = await from.ReceiveAsync(Memory<byte>.Empty);
                        buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                    }
                    n = await from.ReceiveAsync(buffer);
                }
                catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
                {
                    failure.Abort((e as SocketException ?? e.InnerException as SocketException) is { SocketErrorCode: SocketError.ConnectionReset } ? $"{fromName} reset" : $"{fromName} failed: {e.Message}");
                    return total;
                }
                if (n == 0)
                {
                    await TryShutdownSendAsync(to);
                    return total;
                }
                try
                {
                    await to.SendAsync(buffer.AsMemory(0, n));
                }
                catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
                {
                    failure.Abort($"writing to the peer of {fromName} failed: {e.Message}");
                    return total;
                }
                total += n;
                if (n < buffer.Length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }
            }
        }
        finally
        {
            if (buffer is not null)
                ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async ValueTask TryShutdownSendAsync(End end)
    {
        try
        {
            await end.ShutdownSendAsync();
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            // Already reset or closed: the other direction reports it.
        }
    }

    /// <summary>The first failure wins and resets both sockets once; later ones are its echoes.</summary>
    private sealed class Failure(Socket a, Socket b)
    {
        private int _aborted;

        public string? Reason { get; private set; }

        public void Abort(string reason)
        {
            if (Interlocked.Exchange(ref _aborted, 1) != 0)
                return;
            Reason = reason;
            foreach (var socket in new[] { a, b })
            {
                try
                {
                    socket.LingerState = new LingerOption(true, 0); // close with RST, not FIN
                    socket.Close();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // Already gone.
                }
            }
        }
    }
}
