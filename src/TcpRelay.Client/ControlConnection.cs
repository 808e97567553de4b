using System.Net.Sockets;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>Reads and writes control lines over a stream; writes are serialized, reads are the caller's loop.</summary>
internal sealed class ControlConnection(Socket socket) : IAsyncDisposable
{
    private readonly NetworkStream _stream = new(socket, ownsSocket: true);
    private readonly LineFramer _framer = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _readBuffer = new byte[8192];

    /// <summary>The next line, parsed; throws on EOF or a line the protocol does not allow.</summary>
    public async Task<ControlMessage> ReadAsync(CancellationToken ct)
    {
        while (true)
        {
            switch (_framer.TryTakeLine(out var line))
            {
                case FramerStatus.Line:
                    var parsed = ControlLine.Parse(line.Span);
                    return parsed.IsOk
                        ? parsed.Value!
                        : throw new RelayRegistrationException($"relay sent a malformed line: {parsed.Error}");
                case FramerStatus.TooLong:
                    throw new RelayRegistrationException("relay sent a line longer than the protocol allows");
            }
            var n = await _stream.ReadAsync(_readBuffer, ct);
            if (n == 0)
                throw new RelayRegistrationException("relay closed the control connection");
            _framer.Append(_readBuffer.AsSpan(0, n));
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

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _writeLock.Dispose();
    }
}
