using System.Reflection;
using Akka.IO;
using BenchmarkDotNet.Attributes;
using TcpRelay.Server.Actors;

namespace TcpRelay.MicroBench;

/// <summary>
/// What one chunk of relayed bytes costs before any message is sent: the objects Akka's
/// TcpConnection and the relay's SessionActor create around each 64 KiB read and write.
/// </summary>
[MemoryDiagnoser]
public class DataPathBenchmarks
{
    /// <summary>akka.io.tcp.maximum-frame-size in hocon/relay.hocon: the largest chunk one Received carries.</summary>
    public const int ChunkSize = 64 * 1024;

    // TrySend reads ByteString.Buffers, which is internal; its getter only returns the segment
    // array the ByteString already holds, so calling it through a delegate adds no allocation.
    private static readonly Func<ByteString, IList<ArraySegment<byte>>> BuffersOf =
        typeof(ByteString).GetProperty("Buffers", BindingFlags.Instance | BindingFlags.NonPublic)!.GetMethod!
            .CreateDelegate<Func<ByteString, IList<ArraySegment<byte>>>>();

    private readonly byte[] _receiveBuffer = new byte[ChunkSize];
    private ByteString _chunk = ByteString.Empty;

    [GlobalSetup]
    public void Setup()
    {
        new Random(42).NextBytes(_receiveBuffer);
        _chunk = ByteString.CopyFrom(_receiveBuffer);
    }

    /// <summary>
    /// Akka 1.5.74's TcpConnection.HandleReceiveCompleted copies every read out of its one receive
    /// buffer (ByteString.CopyFrom), because that buffer is reused by the next read.
    /// </summary>
    [Benchmark]
    public ByteString CopyFromReceiveBuffer() => ByteString.CopyFrom(_receiveBuffer, 0, ChunkSize);

    /// <summary>The no-copy alternative: FromBytes wraps the array, so the array must never change afterwards.</summary>
    [Benchmark]
    public ByteString FromBytesWrapsBuffer() => ByteString.FromBytes(_receiveBuffer);

    /// <summary>Everything TcpConnection allocates per read before telling the handler.</summary>
    [Benchmark]
    public Tcp.Received ReceivedAsTcpConnectionCreatesIt() => new(ByteString.CopyFrom(_receiveBuffer, 0, ChunkSize));

    /// <summary>SessionActor.Write: the received ByteString is passed on as it is, wrapped in a Write.</summary>
    [Benchmark]
    public Tcp.Write WriteAsSessionActorCreatesIt() => Tcp.Write.Create(_chunk, WriteAck.Instance);

    /// <summary>
    /// TcpConnection.TrySend for one queued 64 KiB write, reconstructed from Akka 1.5.74's source:
    /// a fresh segment list per send and a Slice of the data, which copies no bytes but is not free.
    /// </summary>
    [Benchmark]
    public List<ArraySegment<byte>> SendBatchAsTcpConnectionBuildsIt()
    {
        var segments = new List<ArraySegment<byte>>(8);
        var slice = _chunk.Slice(0, Math.Min(_chunk.Count, ChunkSize));
        segments.AddRange(BuffersOf(slice));
        return segments;
    }
}
