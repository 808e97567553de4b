using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using TcpRelay.Client;

namespace TcpRelay.AspNetCore;

/// <summary>One relayed session as Kestrel sees a connection: the session's stream as a duplex pipe, the client's real address as the remote end.</summary>
internal sealed class RelayConnection : ConnectionContext, IConnectionIdFeature, IConnectionItemsFeature, IConnectionTransportFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    private readonly RelayStream _stream;
    private readonly CancellationTokenSource _closed = new();
    private int _disposed;

    public RelayConnection(RelayStream stream, EndPoint local)
    {
        _stream = stream;
        ConnectionId = $"relay-{stream.SessionId}";
        RemoteEndPoint = stream.Client;
        LocalEndPoint = local;
        // Zero-byte reads: an idle keep-alive connection holds no read buffer, as the agent's pipe.
        Transport = new StreamPipes(PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true, useZeroByteReads: true)),
            PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException("the relay connection owns its closed token");
    }

    // Kestrel aborts a connection it gives up on (a bad request, a timeout): reset it, as a socket transport would.
    public override void Abort(ConnectionAbortedException abortReason)
    {
        try
        {
            _stream.Socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);
            _stream.Socket.Close();
        }
        catch (ObjectDisposedException)
        {
            // Already closed.
        }
        Closed();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await Transport.Input.CompleteAsync();
        await Transport.Output.CompleteAsync();
        await _stream.DisposeAsync();
        Closed();
        _closed.Dispose();
    }

    private void Closed()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed already: nobody is listening any more.
        }
    }

    private sealed class StreamPipes(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
