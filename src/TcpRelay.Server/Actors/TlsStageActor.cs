using System.Buffers;
using System.Net;
using System.Net.Security;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using TcpRelay.Server.Telemetry;
using TcpRelay.Server.Tls;

namespace TcpRelay.Server.Actors;

/// <summary>
/// TLS between one Akka.IO connection on the control or data port and its channel actor
/// (<see cref="ControlChannelActor"/> or <see cref="SessionActor"/>). Towards the channel it is the
/// connection: it takes Register, ResumeReading, Write with acks, Close, ConfirmedClose and Abort,
/// and answers with Received, the write's ack, PeerClosed and the closed events, all from itself.
/// In pull mode as the connection is: each ResumeReading releases one Received of plaintext, and a
/// write is acked once its ciphertext is, so the channel's bound on reads and writes in flight holds
/// through it. Half-close is TLS close_notify, then FIN: ConfirmedClose sends both; the peer's
/// close_notify (or FIN) is PeerClosed.
/// </summary>
internal sealed class TlsStageActor : LifecycleLoggingUntypedActor, IWithTimers
{
    /// <summary>From the stage's <see cref="CiphertextStream"/>: SslStream waits for ciphertext; read once more.</summary>
    internal sealed class CiphertextWanted
    {
        public static readonly CiphertextWanted Instance = new();
        private CiphertextWanted() { }
    }

    /// <summary>From the stage's <see cref="CiphertextStream"/>: write this to the connection, then complete <paramref name="Written"/>.</summary>
    internal sealed record CiphertextOut(ByteString Data, TaskCompletionSource Written);

    /// <summary>To the parent: this connection's TLS handshake failed (<paramref name="Why"/>), and it is closed.</summary>
    public sealed record HandshakeFailed(IPEndPoint Remote, string Why);

    /// <summary>To the parent: this connection's TLS handshake succeeded.</summary>
    public sealed class HandshakeSucceeded
    {
        public static readonly HandshakeSucceeded Instance = new();
        private HandshakeSucceeded() { }
    }

    private sealed record HandshakeEnded(Exception? Failure);

    private sealed record PlaintextRead(ByteString Data);

    private sealed class PlaintextEnded
    {
        public static readonly PlaintextEnded Instance = new();
        private PlaintextEnded() { }
    }

    private sealed record PlaintextFailed(string Why);

    private sealed record PlaintextWritten(Tcp.Write Write, Exception? Failure);

    private sealed record CloseNotifySent(Exception? Failure);

    // Longer than a few scheduler ticks (200ms), so that the channel's own timer, started at the same moment, has fired.
    private static readonly TimeSpan ChannelRefusesFirst = TimeSpan.FromSeconds(1);

    // The largest plaintext of one TLS record: a read never returns more.
    private const int ReadBufferSize = 16 * 1024;

    private readonly IActorRef _connection;
    private readonly IPEndPoint _remote;
    private readonly TimeSpan _handshakeTimeout;
    private readonly SslServerAuthenticationOptions _options;
    private readonly CiphertextStream _transport;
    private readonly SslStream _tls;
    private readonly Queue<TaskCompletionSource> _ciphertextInFlight = new();
    private readonly Queue<Tcp.Write> _writes = new();
    private IActorRef _handler = ActorRefs.Nobody;
    private bool _keepOpenOnPeerClosed;
    private bool _established;
    private bool _handlerReading;    // a ResumeReading from the channel waits for plaintext
    private bool _plaintextReading;  // a read of the SslStream runs
    private bool _plaintextEnded;
    private bool _ciphertextReading; // a ResumeReading to the connection is outstanding
    private bool _ciphertextSeen; // the peer sent something before the handshake ended
    private bool _writing;           // a write to the SslStream runs
    private Tcp.CloseCommand? _close;
    private bool _closeSent;
    private bool _closeReported;

    public TlsStageActor(IActorRef connection, IPEndPoint remote, RelayCertificate certificate, TimeSpan handshakeTimeout)
    {
        _connection = connection;
        _remote = remote;
        _handshakeTimeout = handshakeTimeout;
        _options = certificate.ServerOptions();
        _transport = new CiphertextStream(Self);
        _tls = new SslStream(_transport, leaveInnerStreamOpen: false);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    // Props.Create<T>(args), not an expression: one of these is created per connection.
    public static Props CreateProps(IActorRef connection, IPEndPoint remote, RelayCertificate certificate, TimeSpan handshakeTimeout) =>
        Props.Create<TlsStageActor>(connection, remote, certificate, handshakeTimeout);

    protected override void PreStart()
    {
        base.PreStart();
        _connection.Tell(new Tcp.Register(Self, keepOpenOnPeerClosed: true, useResumeWriting: false));
        Context.Watch(_connection);
        _tls.AuthenticateAsServerAsync(_options).PipeTo(Self, success: () => new HandshakeEnded(null), failure: e => new HandshakeEnded(e));
        // The channel's handshake timer fires first and counts and logs the timeout, but a control
        // channel cannot close then: its ERROR line, and the close queued behind it, wait for TLS.
        // So the stage closes such a connection itself, a moment later.
        Timers.StartSingleTimer(HandshakeTimedOut.Instance, HandshakeTimedOut.Instance, _handshakeTimeout + ChannelRefusesFirst);
    }

    protected override void PostStop()
    {
        _transport.Fail(new ObjectDisposedException(nameof(TlsStageActor), "the connection is closed"));
        foreach (var written in _ciphertextInFlight)
            written.TrySetCanceled();
        _tls.Dispose();
        base.PostStop();
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            // From the channel, which takes this actor for its connection.
            case Tcp.Register register:
                _handler = register.Handler;
                _keepOpenOnPeerClosed = register.KeepOpenOnPeerClosed;
                Context.Watch(_handler);
                break;
            case Tcp.ResumeReading:
                _handlerReading = true;
                ReadPlaintext();
                break;
            case Tcp.Write write:
                _writes.Enqueue(write);
                WritePlaintext();
                break;
            case Tcp.Abort:
                _close = Tcp.Abort.Instance;
                _writes.Clear();
                _closeSent = true;
                _connection.Tell(Tcp.Abort.Instance);
                break;
            case Tcp.CloseCommand close:
                _close ??= close;
                CloseWhenWritten();
                break;

            // From SslStream, through the transport.
            case CiphertextWanted:
                if (!_ciphertextReading)
                {
                    _ciphertextReading = true;
                    _connection.Tell(Tcp.ResumeReading.Instance);
                }
                break;
            case CiphertextOut output:
                _ciphertextInFlight.Enqueue(output.Written);
                _connection.Tell(Tcp.Write.Create(output.Data, WriteAck.Instance));
                break;

            // From the connection.
            case Tcp.Received received when Sender.Equals(_connection):
                _ciphertextReading = false;
                _ciphertextSeen = true;
                _transport.Feed(received.Data);
                break;
            case WriteAck when Sender.Equals(_connection):
                if (_ciphertextInFlight.TryDequeue(out var written))
                    written.TrySetResult();
                break;
            case Tcp.PeerClosed when Sender.Equals(_connection):
                _ciphertextReading = false;
                _transport.End();
                break;
            case Tcp.ConnectionClosed closed when Sender.Equals(_connection):
                _ciphertextReading = false;
                _transport.End();
                ReportClosed(closed);
                Context.Stop(Self);
                break;
            case Tcp.CommandFailed failed when Sender.Equals(_connection):
                // A write handed back: the connection's own close event follows.
                _handler.Tell(failed, Self);
                break;

            // From this actor's own tasks.
            case HandshakeTimedOut when !_established && !_closeSent:
                Log.Debug("TLS connection from {Remote} closed: no TLS handshake within the handshake timeout", _remote);
                _closeReported = true;
                _closeSent = true;
                _connection.Tell(Tcp.Close.Instance);
                break;
            case HandshakeTimedOut:
                break;
            case HandshakeEnded { Failure: null }:
                Timers.Cancel(HandshakeTimedOut.Instance);
                _established = true;
                Context.Parent.Tell(HandshakeSucceeded.Instance);
                ReadPlaintext();
                WritePlaintext();
                CloseWhenWritten();
                break;
            case HandshakeEnded { Failure: { } failure }:
                // A connection that closes before saying anything (a port check, a load balancer's
                // probe) is no failed handshake, as on a plain port.
                if (_ciphertextSeen)
                {
                    RelayTelemetry.Get(Context.System).Metrics.HandshakeFailed("tls");
                    Context.Parent.Tell(new HandshakeFailed(_remote, Describe(failure)));
                }
                else
                {
                    Log.Debug("TLS connection from {Remote} closed before its handshake began", _remote);
                }
                // Nothing was said to the channel: it sees this actor stop, as if the connection had.
                _closeReported = true;
                _closeSent = true;
                _connection.Tell(Tcp.Close.Instance);
                break;
            case PlaintextRead read:
                _plaintextReading = false;
                _handlerReading = false;
                _handler.Tell(new Tcp.Received(read.Data), Self);
                break;
            case PlaintextEnded:
                _plaintextReading = false;
                _plaintextEnded = true;
                OnPlaintextEnded();
                break;
            case PlaintextFailed failed:
                _plaintextReading = false;
                Log.Debug("TLS connection from {Remote}: a read failed ({Reason}); aborting", _remote, failed.Why);
                ReportClosed(new Tcp.ErrorClosed(failed.Why));
                _closeSent = true;
                _connection.Tell(Tcp.Abort.Instance);
                break;
            case PlaintextWritten { Failure: null } done:
                _writing = false;
                if (done.Write.WantsAck)
                    _handler.Tell(done.Write.Ack, Self);
                WritePlaintext();
                CloseWhenWritten();
                break;
            case PlaintextWritten { Failure: { } failure }:
                Log.Debug("TLS connection from {Remote}: a write failed ({Reason}); aborting", _remote, failure.Message);
                _writing = false;
                _writes.Clear();
                _closeSent = true;
                _connection.Tell(Tcp.Abort.Instance);
                break;
            case CloseNotifySent sent:
                if (sent.Failure is not null)
                    Log.Debug("TLS connection from {Remote}: close_notify not sent ({Reason})", _remote, sent.Failure.Message);
                _connection.Tell(_close!);
                // ConfirmedClosed, like PeerClosed, is only reported while a read is outstanding.
                if (_close is Tcp.ConfirmedClose && _plaintextEnded && !_ciphertextReading)
                {
                    _ciphertextReading = true;
                    _connection.Tell(Tcp.ResumeReading.Instance);
                }
                break;

            // The channel stopped (as Akka.IO does then, the connection goes with it: it watches this
            // actor), or the connection did (the channel sees this actor stop).
            case Terminated:
                Context.Stop(Self);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void ReadPlaintext()
    {
        if (!_established || !_handlerReading || _plaintextReading || _plaintextEnded)
            return;
        _plaintextReading = true;
        ReadPlaintextAsync(_tls).PipeTo(Self, failure: e => new PlaintextFailed(Describe(e)));
    }

    private static async Task<object> ReadPlaintextAsync(SslStream tls)
    {
        // An idle connection holds no buffer: a zero-byte read waits, a buffer is rented for the bytes.
        _ = await tls.ReadAsync(Memory<byte>.Empty);
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        try
        {
            var n = await tls.ReadAsync(buffer.AsMemory(0, ReadBufferSize));
            return n == 0 ? PlaintextEnded.Instance : new PlaintextRead(ByteString.CopyFrom(buffer, 0, n));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void OnPlaintextEnded()
    {
        if (_close is Tcp.ConfirmedClose)
        {
            // Our close_notify and FIN went first: the peer's FIN arrives as ConfirmedClosed.
            if (_closeSent && !_ciphertextReading)
            {
                _ciphertextReading = true;
                _connection.Tell(Tcp.ResumeReading.Instance);
            }
            return;
        }
        _handler.Tell(Tcp.PeerClosed.Instance, Self);
        if (!_keepOpenOnPeerClosed)
        {
            _close ??= Tcp.Close.Instance;
            CloseWhenWritten();
        }
    }

    private void WritePlaintext()
    {
        if (!_established || _writing || _closeSent || !_writes.TryDequeue(out var write))
            return;
        _writing = true;
        WritePlaintextAsync(_tls, write).PipeTo(Self);
    }

    private static async Task<PlaintextWritten> WritePlaintextAsync(SslStream tls, Tcp.Write write)
    {
        try
        {
            await write.Data.WriteToAsync(tls);
            return new PlaintextWritten(write, null);
        }
        catch (Exception e)
        {
            return new PlaintextWritten(write, e);
        }
    }

    /// <summary>Close and ConfirmedClose flush what the channel wrote before them, then send close_notify, then act on the connection.</summary>
    private void CloseWhenWritten()
    {
        if (_close is null || _closeSent)
            return;
        if (!_established)
        {
            // Nothing written before the handshake can reach the peer (a channel's HELLO, its ERROR
            // timeout): closing is all there is to do, now rather than after a close timeout.
            _writes.Clear();
            _closeSent = true;
            _connection.Tell(_close);
            return;
        }
        if (_writing || _writes.Count > 0)
            return;
        _closeSent = true;
        SendCloseNotifyAsync(_tls).PipeTo(Self);
    }

    private static async Task<CloseNotifySent> SendCloseNotifyAsync(SslStream tls)
    {
        try
        {
            await tls.ShutdownAsync();
            return new CloseNotifySent(null);
        }
        catch (Exception e)
        {
            return new CloseNotifySent(e);
        }
    }

    private void ReportClosed(Tcp.ConnectionClosed closed)
    {
        if (_closeReported)
            return;
        _closeReported = true;
        _handler.Tell(closed, Self);
    }

    // SslStream's outer message says little ("Authentication failed, see inner exception"); OpenSSL's innermost one says what.
    private static string Describe(Exception e)
    {
        var innermost = e;
        while (innermost.InnerException is { } inner)
            innermost = inner;
        return (ReferenceEquals(innermost, e) ? e.Message : $"{e.Message.TrimEnd('.')}: {innermost.Message}").TrimEnd('.');
    }
}
