using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using TcpRelay.Protocol;

namespace TcpRelay.Client;

/// <summary>
/// One relayed session: a connected stream whose other end is the client. Over a plain relay it is
/// the socket's stream; over TLS (<see cref="RelayListenerOptions.Tls"/>) reads and writes go
/// through the TLS session on that socket, and <see cref="NetworkStream.Socket"/> is for socket
/// options and resets only. Half-close with <see cref="ShutdownSendAsync"/>: the client reads EOF
/// and may go on sending.
/// </summary>
public sealed class RelayStream : NetworkStream
{
    private readonly SslStream? _tls;

    internal RelayStream(Socket socket, SslStream? tls, SessionId id, IPEndPoint client) : base(socket, ownsSocket: true)
    {
        _tls = tls;
        SessionId = id;
        Client = client;
    }

    /// <summary>The session's id as the relay announced it.</summary>
    public SessionId SessionId { get; }

    /// <summary>The client's address as the relay saw it.</summary>
    public IPEndPoint Client { get; }

    /// <summary>Whether the session's bytes travel to the relay over TLS.</summary>
    public bool IsEncrypted => _tls is not null;

    /// <summary>Ends this side's sending (TLS close_notify first, when encrypted, then FIN); reading goes on.</summary>
    public async ValueTask ShutdownSendAsync()
    {
        if (_tls is not null)
            await _tls.ShutdownAsync();
        Socket.Shutdown(SocketShutdown.Send);
    }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => _tls?.Read(buffer, offset, count) ?? base.Read(buffer, offset, count);

    /// <inheritdoc />
    public override int Read(Span<byte> buffer) => _tls?.Read(buffer) ?? base.Read(buffer);

    /// <inheritdoc />
    public override int ReadByte() => _tls?.ReadByte() ?? base.ReadByte();

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _tls?.ReadAsync(buffer, offset, count, cancellationToken) ?? base.ReadAsync(buffer, offset, count, cancellationToken);

    /// <inheritdoc />
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _tls?.ReadAsync(buffer, cancellationToken) ?? base.ReadAsync(buffer, cancellationToken);

    /// <inheritdoc />
    public override IAsyncResult BeginRead(byte[] buffer, int offset, int count, AsyncCallback? callback, object? state) =>
        _tls?.BeginRead(buffer, offset, count, callback, state) ?? base.BeginRead(buffer, offset, count, callback, state);

    /// <inheritdoc />
    public override int EndRead(IAsyncResult asyncResult) => _tls?.EndRead(asyncResult) ?? base.EndRead(asyncResult);

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count)
    {
        if (_tls is null)
            base.Write(buffer, offset, count);
        else
            _tls.Write(buffer, offset, count);
    }

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_tls is null)
            base.Write(buffer);
        else
            _tls.Write(buffer);
    }

    /// <inheritdoc />
    public override void WriteByte(byte value)
    {
        if (_tls is null)
            base.WriteByte(value);
        else
            _tls.WriteByte(value);
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _tls?.WriteAsync(buffer, offset, count, cancellationToken) ?? base.WriteAsync(buffer, offset, count, cancellationToken);

    /// <inheritdoc />
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _tls?.WriteAsync(buffer, cancellationToken) ?? base.WriteAsync(buffer, cancellationToken);

    /// <inheritdoc />
    public override IAsyncResult BeginWrite(byte[] buffer, int offset, int count, AsyncCallback? callback, object? state) =>
        _tls?.BeginWrite(buffer, offset, count, callback, state) ?? base.BeginWrite(buffer, offset, count, callback, state);

    /// <inheritdoc />
    public override void EndWrite(IAsyncResult asyncResult)
    {
        if (_tls is null)
            base.EndWrite(asyncResult);
        else
            _tls.EndWrite(asyncResult);
    }

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) => _tls?.FlushAsync(cancellationToken) ?? base.FlushAsync(cancellationToken);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _tls?.Dispose();
        base.Dispose(disposing);
    }
}
