using System.Text;
using BenchmarkDotNet.Attributes;
using TcpRelay.Protocol;

namespace TcpRelay.MicroBench;

/// <summary>
/// The control and data-port handshake lines, parsed and formatted as the relay and the agent do
/// once per line. The ids and digests are fixed so that every run parses the same bytes.
/// </summary>
[MemoryDiagnoser]
public class ControlLineBenchmarks
{
    private const string Hex32 = "0123456789abcdef0123456789abcdef";
    private const string Hex64 = Hex32 + Hex32;

    private static readonly byte[] HelloLine = Encoding.UTF8.GetBytes($"HELLO tcprelay/1 nonce={Hex32}");
    private static readonly byte[] RegisterLine = Encoding.UTF8.GetBytes($"REGISTER name=echo port=8081 auth={Hex64}");
    private static readonly byte[] ConnectLine = Encoding.UTF8.GetBytes($"CONNECT id={Hex32} client=203.0.113.7:51234");
    private static readonly byte[] PingLine = Encoding.UTF8.GetBytes("PING");
    private static readonly byte[] AcceptLineBytes = Encoding.UTF8.GetBytes($"ACCEPT id={Hex32}");

    private static readonly ControlMessage HelloMessage = ControlLine.Parse(HelloLine).GetValueOrThrow();
    private static readonly ControlMessage RegisterMessage = ControlLine.Parse(RegisterLine).GetValueOrThrow();
    private static readonly ControlMessage ConnectMessage = ControlLine.Parse(ConnectLine).GetValueOrThrow();

    // A REGISTER line with its LF, cut mid-digest: one line arriving in two TCP reads.
    private static readonly byte[] FirstChunk = Encoding.UTF8.GetBytes($"REGISTER name=echo port=8081 auth={Hex32}");
    private static readonly byte[] SecondChunk = Encoding.UTF8.GetBytes($"{Hex32}\n");

    // One framer for the whole run, as a connection has: after each line it is empty again,
    // so every invocation starts from the same state.
    private readonly LineFramer _framer = new();

    [Benchmark]
    public ParseResult<ControlMessage> ParseHello() => ControlLine.Parse(HelloLine);

    [Benchmark]
    public ParseResult<ControlMessage> ParseRegister() => ControlLine.Parse(RegisterLine);

    [Benchmark]
    public ParseResult<ControlMessage> ParseConnect() => ControlLine.Parse(ConnectLine);

    [Benchmark]
    public ParseResult<ControlMessage> ParsePing() => ControlLine.Parse(PingLine);

    [Benchmark]
    public ParseResult<Accept> ParseAccept() => AcceptLine.Parse(AcceptLineBytes);

    [Benchmark]
    public byte[] FormatHello() => ControlLine.ToBytes(HelloMessage);

    [Benchmark]
    public byte[] FormatRegister() => ControlLine.ToBytes(RegisterMessage);

    [Benchmark]
    public byte[] FormatConnect() => ControlLine.ToBytes(ConnectMessage);

    [Benchmark]
    public byte[] FormatPing() => ControlLine.ToBytes(Ping.Instance);

    [Benchmark]
    public int FrameLineFromTwoChunks()
    {
        _framer.Append(FirstChunk);
        if (_framer.TryTakeLine(out _) != FramerStatus.NeedMore)
            throw new InvalidOperationException("the first chunk holds no LF, so no line can be taken yet");
        _framer.Append(SecondChunk);
        if (_framer.TryTakeLine(out var line) != FramerStatus.Line)
            throw new InvalidOperationException("the second chunk completes the line");
        return line.Length;
    }
}
