using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>Reads and writes control lines over a socket (plain, or TLS: <paramref name="stream"/> owns the socket either way); writes are serialized, reads are the caller's loop.</summary>
internal sealed class ControlConnection(Socket socket, Stream stream) : IAsyncDisposable
{
    private readonly Stream _stream = stream;
    private readonly LineFramer _framer = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _readBuffer = new byte[8192];
    private long _lastHeard = Stopwatch.GetTimestamp();
    private string? _abortReason;

    /// <summary>The relay's address as this connection reached it.</summary>
    public IPAddress RemoteAddress { get; } = ((IPEndPoint)socket.RemoteEndPoint!).Address;

    /// <summary>How long since the relay last sent a line (or since the connection opened).</summary>
    public TimeSpan Silence => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastHeard));

    /// <summary>The next line, parsed; throws on EOF, on a line the protocol does not allow, or after <see cref="Abort"/>.</summary>
    public async Task<ControlMessage> ReadAsync(CancellationToken ct)
    {
        try
        {
            while (true)
            {
                switch (_framer.TryTakeLine(out var line))
                {
                    case FramerStatus.Line:
                        Interlocked.Exchange(ref _lastHeard, Stopwatch.GetTimestamp());
                        var parsed = ControlLine.Parse(line.Span);
                        return parsed.IsOk
                            ? parsed.Value!
                            : throw new RelayRegistrationException($"relay sent a malformed line: {parsed.Error}") { Malformed = true };
                    case FramerStatus.TooLong:
                        throw new RelayRegistrationException("relay sent a line longer than the protocol allows") { Malformed = true };
                }
                var n = await _stream.ReadAsync(_readBuffer, ct);
                if (n == 0)
                    throw new RelayRegistrationException("relay closed the control connection");
                _framer.Append(_readBuffer.AsSpan(0, n));
            }
        }
        catch (Exception e) when (_abortReason is { } reason && e is not RelayRegistrationException)
        {
            throw new RelayRegistrationException(reason, e);
        }
    }

    public async Task WriteAsync(ControlMessage message, CancellationToken ct)
    {
        var bytes = ControlLine.ToBytes(message);
        await _writeLock.WaitAsync(ct);
        try
        {
            await _stream.WriteAsync(bytes, ct);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Ends the connection from this side; a pending read fails with <paramref name="reason"/>.</summary>
    public void Abort(string reason)
    {
        _abortReason = reason;
        socket.Close(0);
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _writeLock.Dispose();
    }
}
