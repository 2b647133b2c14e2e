//! `histograms.hlog`: an HdrHistogram interval log (V2 with deflate), one histogram per
//! metric per interval, tagged with the metric's name, values in microseconds.
//! Timestamps are scenario seconds since the run's start (`BaseTime` 0), so the file is
//! the same for two virtual runs of one seed. The HdrHistogram tools
//! (`HistogramLogProcessor -tag accept_wait`) read it; merging a metric's intervals
//! gives exactly the end-of-run histogram of `summary.json`.

use crate::metrics::interval::Timeline;
use crate::metrics::names::MetricName;
use crate::metrics::recorder::new_histogram;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The log's histograms, read back: per metric, `(interval start, histogram)` in order.
pub type Intervals = BTreeMap<MetricName, Vec<(Duration, Histogram<u64>)>>;

/// Writes the log for `metrics` (those with samples) over `n` intervals of `len`.
pub fn write(
    timeline: &Timeline,
    len: Duration,
    n: u32,
    metrics: &[MetricName],
    title: &str,
) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    {
        let mut w = IntervalLogWriterBuilder::new()
            .add_comment(&format!("Switchboard run: {title}"))
            .add_comment("Values in microseconds; timestamps in scenario seconds since the run's start; one tag per metric")
            .with_base_time(SystemTime::UNIX_EPOCH)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut buf, &mut ser)
            .map_err(|e| e.to_string())?;
        let empty = new_histogram().map_err(|e| e.to_string())?;
        for i in 0..n {
            let start = len * i;
            for &m in metrics {
                let h = timeline.get(i).and_then(|iv| iv.histogram(m));
                let tag = Tag::new(m.as_str());
                w.write_histogram(h.as_ref().unwrap_or(&empty), start, len, tag)
                    .map_err(|e| format!("{m}: {e}"))?;
            }
        }
    }
    Ok(buf)
}

/// Reads a log written by [`write`] (or any V2 log tagged with metric names; other
/// tags are skipped).
pub fn read(bytes: &[u8]) -> Result<Intervals, String> {
    let mut out = Intervals::new();
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| format!("{e:?}"))?;
        let LogEntry::Interval(iv) = entry else {
            continue;
        };
        let Some(metric) = iv.tag().and_then(|t| t.as_str().parse::<MetricName>().ok()) else {
            continue;
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(iv.encoded_histogram())
            .map_err(|e| format!("{metric} at {:?}: {e}", iv.start_timestamp()))?;
        let h: Histogram<u64> = de
            .deserialize(&mut raw.as_slice())
            .map_err(|e| format!("{metric} at {:?}: {e:?}", iv.start_timestamp()))?;
        out.entry(metric)
            .or_default()
            .push((iv.start_timestamp(), h));
    }
    Ok(out)
}

/// The merge of all intervals of `metric`.
pub fn total(intervals: &Intervals, metric: MetricName) -> Result<Histogram<u64>, String> {
    let mut h = new_histogram().map_err(|e| e.to_string())?;
    for (_, x) in intervals.get(&metric).into_iter().flatten() {
        h.add(x).map_err(|e| format!("{metric}: {e:?}"))?;
    }
    Ok(h)
}
