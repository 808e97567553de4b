using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace TcpRelay.TestSupport;

/// <summary>Sums what one relay's instruments report, by instrument and tags.</summary>
public sealed class MeterReadings : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, double> _sums = new();
    private readonly ConcurrentDictionary<string, double> _observed = new();
    private readonly ConcurrentDictionary<string, int> _histogramCounts = new();

    public MeterReadings(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var key = Key(instrument.Name, tags);
        if (instrument.IsObservable)
            _observed[key] = value;
        else if (instrument is Histogram<double>)
            _histogramCounts.AddOrUpdate(key, 1, (_, n) => n + 1);
        else
            _sums.AddOrUpdate(key, value, (_, sum) => sum + value);
    }

    private static string Key(string name, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var text = name;
        foreach (var tag in tags)
            text += $"|{tag.Key}={tag.Value}";
        return text;
    }

    public double Sum(string key) => _sums.GetValueOrDefault(key);

    public int Recorded(string key) => _histogramCounts.GetValueOrDefault(key);

    public double Observe(string key)
    {
        _listener.RecordObservableInstruments();
        return _observed.GetValueOrDefault(key);
    }

    public void Dispose() => _listener.Dispose();
}
