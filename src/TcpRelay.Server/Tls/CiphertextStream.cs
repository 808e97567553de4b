using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.IO;
using TcpRelay.Server.Actors;

namespace TcpRelay.Server.Tls;

/// <summary>
/// The transport under a <see cref="TlsStageActor"/>'s SslStream. Nothing here touches a socket:
/// a read asks the stage for ciphertext (<see cref="TlsStageActor.CiphertextWanted"/>, one
/// Tcp.ResumeReading) and takes what the stage feeds it from Tcp.Received; a write hands the
/// ciphertext to the stage (<see cref="TlsStageActor.CiphertextOut"/>, one Tcp.Write) and completes
/// on that write's ack, so SslStream is held back exactly as far as the connection is.
/// </summary>
internal sealed class CiphertextStream(IActorRef stage) : Stream
{
    // Feed/End run on the stage's thread, reads on SslStream's: one waiting read at most (SslStream
    // never reads twice at once), and the rest of a Received that did not fit kept for the next.
    private readonly Lock _gate = new();
    private ByteString _pending = ByteString.Empty;
    private TaskCompletionSource<int>? _reader;
    private Memory<byte> _readerBuffer;
    private Exception? _failure;
    private bool _ended;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>A zero-byte read waits for ciphertext without taking any: SslStream's way to hold no buffer while a connection is idle.</summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        TaskCompletionSource<int> reader;
        lock (_gate)
        {
            if (_failure is not null)
                return ValueTask.FromException<int>(_failure);
            if (!_pending.IsEmpty)
                return ValueTask.FromResult(Take(buffer));
            if (_ended)
                return ValueTask.FromResult(0);
            reader = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            _reader = reader;
            _readerBuffer = buffer;
        }
        stage.Tell(TlsStageActor.CiphertextWanted.Instance);
        return new ValueTask<int>(reader.Task);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Copied: SslStream reuses its buffer once the write completes.
        stage.Tell(new TlsStageActor.CiphertextOut(ByteString.CopyFrom(MemoryMarshal.AsMemory(buffer)), written));
        return new ValueTask(written.Task);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Ciphertext from the connection (on the stage's thread).</summary>
    public void Feed(ByteString data)
    {
        TaskCompletionSource<int>? reader;
        int count;
        lock (_gate)
        {
            _pending = _pending.IsEmpty ? data : _pending.Concat(data);
            reader = _reader;
            if (reader is null)
                return;
            _reader = null;
            count = _readerBuffer.IsEmpty ? 0 : Take(_readerBuffer);
            _readerBuffer = default;
        }
        reader.TrySetResult(count);
    }

    /// <summary>The peer sent FIN: reads return 0 once what was fed is taken.</summary>
    public void End()
    {
        TaskCompletionSource<int>? reader;
        lock (_gate)
        {
            _ended = true;
            reader = _reader;
            _reader = null;
        }
        reader?.TrySetResult(0);
    }

    /// <summary>The connection is gone: the waiting read and every later one fail with <paramref name="failure"/>.</summary>
    public void Fail(Exception failure)
    {
        TaskCompletionSource<int>? reader;
        lock (_gate)
        {
            _failure ??= failure;
            reader = _reader;
            _reader = null;
        }
        reader?.TrySetException(failure);
    }

    private int Take(Memory<byte> buffer)
    {
        var count = Math.Min(buffer.Length, _pending.Count);
        var target = buffer.Span;
        _pending.Slice(0, count).CopyTo(ref target);
        _pending = count == _pending.Count ? ByteString.Empty : _pending.Slice(count);
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("asynchronous reads only");
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("asynchronous writes only");
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
