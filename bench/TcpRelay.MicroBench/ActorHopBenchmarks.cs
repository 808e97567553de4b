using Akka.Actor;
using Akka.Configuration;
using Akka.IO;
using BenchmarkDotNet.Attributes;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Hosting;

namespace TcpRelay.MicroBench;

/// <summary>
/// The messaging the relay's byte path pays per 64 KiB chunk, between real actors on the relay's
/// own Akka configuration but with no sockets: each operation is one chunk, and each invocation
/// moves <see cref="ChunksPerInvocation"/> of them one after another: the cost per chunk without
/// the overlap the relay's read-ahead (two chunks in flight per direction) adds. Allocations are counted on every thread
/// (BenchmarkDotNet uses the process-wide total on .NET), so the dispatcher's share is included,
/// along with whatever the actor system allocates in the background meanwhile.
/// </summary>
[MemoryDiagnoser]
public class ActorHopBenchmarks
{
    public const int ChunksPerInvocation = 1000;

    private ActorSystem _system = null!;
    private IActorRef _receivedAndAck = ActorRefs.Nobody;
    private IActorRef _receivedAndAckWithCopy = ActorRefs.Nobody;
    private IActorRef _relayChunkCycle = ActorRefs.Nobody;

    [GlobalSetup]
    public void Setup()
    {
        // The relay's akka section (io.tcp frame size, default dispatcher) with its INFO chatter muted.
        var config = ConfigurationFactory.ParseString("akka.loglevel = WARNING")
            .WithFallback(RelayConfiguration.LoadDefaults());
        _system = ActorSystem.Create("microbench", config);

        var receiveBuffer = new byte[DataPathBenchmarks.ChunkSize];
        new Random(42).NextBytes(receiveBuffer);

        var acker = _system.ActorOf(Props.Create<AckingHandler>(), "acking-handler");
        _receivedAndAck = _system.ActorOf(
            Props.Create<ChunkSender>(acker, receiveBuffer, false), "sender-shared-chunk");
        _receivedAndAckWithCopy = _system.ActorOf(
            Props.Create<ChunkSender>(acker, receiveBuffer, true), "sender-copied-chunk");

        var writer = _system.ActorOf(Props.Create<AckingConnection>(), "writing-connection");
        var session = _system.ActorOf(Props.Create<ForwardingSession>(writer), "session");
        _relayChunkCycle = _system.ActorOf(
            Props.Create<ReadingConnection>(session, receiveBuffer), "reading-connection");
    }

    [GlobalCleanup]
    public void Cleanup() => _system.Terminate().Wait();

    /// <summary>
    /// The bare hop: a Tcp.Received around one shared 64 KiB ByteString, answered by WriteAck.
    /// Two messages per chunk; the bytes are neither copied nor touched.
    /// </summary>
    [Benchmark(OperationsPerInvoke = ChunksPerInvocation)]
    public void ReceivedAndAck() => RunChunks(_receivedAndAck);

    /// <summary>As <see cref="ReceivedAndAck"/>, but each chunk is first copied out of a receive buffer, as TcpConnection does.</summary>
    [Benchmark(OperationsPerInvoke = ChunksPerInvocation)]
    public void ReceivedAndAckWithCopy() => RunChunks(_receivedAndAckWithCopy);

    /// <summary>
    /// SessionActor's four messages per chunk in one direction: Received (connection → session),
    /// Write (session → other connection), WriteAck (back), ResumeReading (session → first
    /// connection), with the chunk copied out of a receive buffer as TcpConnection does.
    /// </summary>
    [Benchmark(OperationsPerInvoke = ChunksPerInvocation)]
    public void RelayChunkCycle() => RunChunks(_relayChunkCycle);

    private static void RunChunks(IActorRef firstSender)
    {
        var done = new TaskCompletionSource();
        firstSender.Tell(new SendChunks(ChunksPerInvocation, done));
        done.Task.Wait();
    }

    private sealed record SendChunks(int Count, TaskCompletionSource Done);

    /// <summary>Stands for a connection: sends chunks to its handler, the next one when the last is acked.</summary>
    private sealed class ChunkSender : ReceiveActor
    {
        private readonly IActorRef _handler;
        private readonly byte[] _receiveBuffer;
        private readonly bool _copyEachChunk;
        private readonly ByteString _sharedChunk;
        private int _remaining;
        private TaskCompletionSource? _done;

        public ChunkSender(IActorRef handler, byte[] receiveBuffer, bool copyEachChunk)
        {
            _handler = handler;
            _receiveBuffer = receiveBuffer;
            _copyEachChunk = copyEachChunk;
            _sharedChunk = ByteString.CopyFrom(receiveBuffer);
            Receive<SendChunks>(start =>
            {
                _remaining = start.Count;
                _done = start.Done;
                SendChunk();
            });
            Receive<WriteAck>(_ =>
            {
                if (--_remaining == 0)
                    _done!.SetResult();
                else
                    SendChunk();
            });
        }

        private void SendChunk() =>
            _handler.Tell(new Tcp.Received(_copyEachChunk ? ByteString.CopyFrom(_receiveBuffer) : _sharedChunk));
    }

    private sealed class AckingHandler : ReceiveActor
    {
        public AckingHandler() => Receive<Tcp.Received>(_ => Sender.Tell(WriteAck.Instance));
    }

    /// <summary>The reading side of a session: one Received per ResumeReading, as the relay reads (pull mode).</summary>
    private sealed class ReadingConnection : ReceiveActor
    {
        private readonly IActorRef _session;
        private readonly byte[] _receiveBuffer;
        private int _remaining;
        private TaskCompletionSource? _done;

        public ReadingConnection(IActorRef session, byte[] receiveBuffer)
        {
            _session = session;
            _receiveBuffer = receiveBuffer;
            Receive<SendChunks>(start =>
            {
                _remaining = start.Count;
                _done = start.Done;
                ReadChunk();
            });
            Receive<Tcp.ResumeReading>(_ =>
            {
                if (--_remaining == 0)
                    _done!.SetResult();
                else
                    ReadChunk();
            });
        }

        private void ReadChunk() => _session.Tell(new Tcp.Received(ByteString.CopyFrom(_receiveBuffer)));
    }

    /// <summary>SessionActor's Relaying behaviour for one direction, without its bookkeeping.</summary>
    private sealed class ForwardingSession : ReceiveActor
    {
        private IActorRef _reader = ActorRefs.Nobody;

        public ForwardingSession(IActorRef writer)
        {
            Receive<Tcp.Received>(received =>
            {
                _reader = Sender;
                writer.Tell(Tcp.Write.Create(received.Data, WriteAck.Instance));
            });
            Receive<WriteAck>(_ => _reader.Tell(Tcp.ResumeReading.Instance));
        }
    }

    /// <summary>The writing side: acks each Write at once, as TcpConnection does once the OS has the bytes.</summary>
    private sealed class AckingConnection : ReceiveActor
    {
        public AckingConnection() => Receive<Tcp.Write>(write => Sender.Tell(write.Ack));
    }
}
