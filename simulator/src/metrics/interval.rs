//! Per-interval data of a run: what happened in each slice of scenario time (counter
//! increments, latency samples) and what the system looked like at its start (gauges).
//! This is what `timeseries.csv` and `histograms.hlog` are made of.
//!
//! Intervals are numbered from the run's start (`index = scenario time / length`), so
//! recorders of different tasks merge by index. Storage is sparse: a task that lives
//! for three intervals holds three entries, and an interval's samples stay a short raw
//! list until there are many, when they become an (auto-resizing) HDR histogram with
//! the same bucket layout as the run's totals; merging them therefore gives exactly the
//! end-of-run histograms.

use super::counters::Counters;
use super::names::MetricName;
use super::recorder::SIGFIG;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Raw samples kept per interval and metric before switching to a histogram.
const RAW: usize = 32;

/// Interval lengths a default is rounded up to, in seconds: readable axis steps.
const STEPS: [u64; 16] = [
    1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600,
];

/// The default interval for a run covering `horizon` of scenario time: about 600
/// intervals, rounded up to a readable step (1 s, 2 s, 5 s, … 1 h, 2 h, 6 h), never under 1 s.
/// A 15-minute run gets 2 s intervals, a 10-hour run 60 s.
pub fn default_interval(horizon: Duration) -> Duration {
    let want = horizon.as_secs_f64() / 600.0;
    let step = STEPS
        .into_iter()
        .find(|&s| s as f64 >= want)
        .unwrap_or(STEPS[STEPS.len() - 1]);
    Duration::from_secs(step)
}

/// The live-mode interval, in scenario time: one second of real time, shorter when
/// the run would have fewer than [`LIVE_INTERVALS`] of them (a run compressed by a high
/// `time_scale`), down to 10 ms of real time. `horizon` is the run's length in scenario
/// time.
pub fn live_interval(time_scale: f64, horizon: Duration) -> Duration {
    let scale = if time_scale.is_finite() && time_scale > 0.0 {
        time_scale
    } else {
        1.0
    };
    let real = (horizon.as_secs_f64() / scale / f64::from(LIVE_INTERVALS)).clamp(0.01, 1.0);
    Duration::try_from_secs_f64(real * scale)
        .unwrap_or(Duration::MAX)
        .max(Duration::from_millis(1))
}

/// How many intervals a live run has at least, while they are 10 ms of real time or
/// longer.
pub const LIVE_INTERVALS: u32 = 100;

/// The state of the desk at an instant, sampled by the runtimes at interval boundaries.
/// Any of them is [`Gauges::UNKNOWN`] when the runtime cannot observe it (live: a
/// server whose `/metrics` does not have it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Chats waiting for an agent (in a queue or transferred and not yet taken).
    pub queued: u64,
    /// Chats with an agent.
    pub active_chats: u64,
    /// Agents signed in and available.
    pub agents_available: u64,
    /// Free chat slots of available agents.
    pub free_slots: u64,
}

impl Gauges {
    /// A gauge value the runtime could not observe (written as an empty CSV cell).
    pub const UNKNOWN: u64 = u64::MAX;
}

/// Counter increments within one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntervalCounts {
    /// Chats requested (arrivals).
    pub offered: u64,
    /// Chats an agent joined.
    pub accepted: u64,
    /// Chats abandoned.
    pub abandoned: u64,
    /// Chats closed.
    pub closed: u64,
    /// Transfers.
    pub transfers: u64,
    /// Tickets created (incidents and work orders).
    pub tickets: u64,
    /// Messages sent.
    pub messages: u64,
    /// Errors, any code.
    pub errors: u64,
}

impl IntervalCounts {
    /// The running totals of `c` that intervals track (no allocation).
    pub fn of(c: &Counters) -> IntervalCounts {
        IntervalCounts {
            offered: c.chats.offered,
            accepted: c.chats.accepted,
            abandoned: c.chats.abandoned,
            closed: c.chats.closed,
            transfers: c.chats.transferred,
            tickets: c.tickets.incidents + c.tickets.work_orders,
            messages: c.messages.sent,
            errors: c.errors.values().sum(),
        }
    }

    fn fields(&mut self) -> [&mut u64; 8] {
        [
            &mut self.offered,
            &mut self.accepted,
            &mut self.abandoned,
            &mut self.closed,
            &mut self.transfers,
            &mut self.tickets,
            &mut self.messages,
            &mut self.errors,
        ]
    }

    /// Adds `now - before` (saturating: counters only grow).
    fn add_diff(&mut self, mut now: IntervalCounts, mut before: IntervalCounts) {
        for ((mine, n), b) in self
            .fields()
            .into_iter()
            .zip(now.fields())
            .zip(before.fields())
        {
            *mine += n.saturating_sub(*b);
        }
    }

    fn add(&mut self, mut o: IntervalCounts) {
        for (mine, theirs) in self.fields().into_iter().zip(o.fields()) {
            *mine += *theirs;
        }
    }

    /// Whether nothing was counted.
    pub fn is_zero(&self) -> bool {
        *self == IntervalCounts::default()
    }
}

/// Samples of one metric in one interval.
#[derive(Clone, Debug, Default)]
enum Samples {
    #[default]
    None,
    Raw(Vec<u64>),
    Hist(Box<Histogram<u64>>),
}

/// A new auto-resizing histogram with the totals' precision (same bucket layout).
fn small_histogram() -> Option<Histogram<u64>> {
    Histogram::new(SIGFIG).ok()
}

// Interval histograms auto-resize, so values go in with `record` (which grows the
// histogram): `saturating_record` would clamp them to its current, tiny top. Values
// are already clamped to the totals' range by `micros`, so `record` cannot fail.
impl Samples {
    fn record(&mut self, us: u64) {
        match self {
            Samples::None => *self = Samples::Raw(vec![us]),
            Samples::Raw(v) => {
                v.push(us);
                if v.len() > RAW
                    && let Some(mut h) = small_histogram()
                {
                    for &x in v.iter() {
                        {
                            let _ = h.record(x);
                        };
                    }
                    *self = Samples::Hist(Box::new(h));
                }
            }
            Samples::Hist(h) => {
                let _ = h.record(us);
            }
        }
    }

    fn merge(&mut self, o: &Samples) {
        match o {
            Samples::None => {}
            Samples::Raw(v) => v.iter().for_each(|&x| self.record(x)),
            Samples::Hist(oh) => {
                let mine = match std::mem::take(self) {
                    Samples::Hist(h) => Some(*h),
                    Samples::None => small_histogram(),
                    Samples::Raw(v) => small_histogram().map(|mut h| {
                        v.iter().for_each(|&x| {
                            let _ = h.record(x);
                        });
                        h
                    }),
                };
                if let Some(mut h) = mine {
                    // Auto-resizing histograms of the same precision always add.
                    let _ = h.add(oh.as_ref());
                    *self = Samples::Hist(Box::new(h));
                }
            }
        }
    }

    fn histogram(&self) -> Option<Histogram<u64>> {
        match self {
            Samples::None => None,
            Samples::Raw(v) => small_histogram().map(|mut h| {
                v.iter().for_each(|&x| {
                    let _ = h.record(x);
                });
                h
            }),
            Samples::Hist(h) => Some(h.as_ref().clone()),
        }
    }
}

/// What one interval holds.
#[derive(Clone, Debug, Default)]
pub struct Interval {
    /// Counter increments within the interval.
    pub counts: IntervalCounts,
    /// Gauges sampled at the interval's start, with the instant of the sample.
    pub gauges: Option<(Duration, Gauges)>,
    samples: [Samples; MetricName::ALL.len()],
}

impl Interval {
    /// The histogram (µs) of `metric` within this interval, if it has samples.
    pub fn histogram(&self, metric: MetricName) -> Option<Histogram<u64>> {
        self.samples[metric.index()].histogram()
    }

    fn merge(&mut self, o: &Interval) {
        self.counts.add(o.counts);
        // One sampler per run; if two sampled the same interval keep the later sample.
        if let Some((at, g)) = o.gauges
            && self.gauges.is_none_or(|(mine, _)| at > mine)
        {
            self.gauges = Some((at, g));
        }
        for (mine, theirs) in self.samples.iter_mut().zip(o.samples.iter()) {
            mine.merge(theirs);
        }
    }
}

/// The intervals of one recorder, by index.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    intervals: BTreeMap<u32, Interval>,
}

impl Timeline {
    /// The interval at `index`, created if needed.
    pub(crate) fn at(&mut self, index: u32) -> &mut Interval {
        self.intervals.entry(index).or_default()
    }

    pub(crate) fn record(&mut self, index: u32, metric: MetricName, us: u64) {
        self.at(index).samples[metric.index()].record(us);
    }

    pub(crate) fn add_counts(&mut self, index: u32, now: IntervalCounts, before: IntervalCounts) {
        if now != before {
            self.at(index).counts.add_diff(now, before);
        }
    }

    pub(crate) fn merge(&mut self, o: &Timeline) {
        self.merge_mapped(o, |i| i);
    }

    /// Merges `o`, placing its interval `i` at `f(i)`.
    pub(crate) fn merge_mapped(&mut self, o: &Timeline, f: impl Fn(u32) -> u32) {
        for (i, iv) in &o.intervals {
            self.at(f(*i)).merge(iv);
        }
    }

    /// Whether nothing was recorded in any interval.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// One past the last interval index with data (0 when empty).
    pub fn len(&self) -> u32 {
        self.intervals.keys().next_back().map_or(0, |i| i + 1)
    }

    /// The interval at `index`, if anything was recorded in it.
    pub fn get(&self, index: u32) -> Option<&Interval> {
        self.intervals.get(&index)
    }
}

/// The interval index holding instant `t` for intervals of `len`.
pub fn index_of(t: Duration, len: Duration) -> u32 {
    let n = t.as_nanos() / len.as_nanos().max(1);
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_steps() {
        let s = |secs| default_interval(Duration::from_secs(secs)).as_secs();
        assert_eq!(s(60), 1);
        assert_eq!(s(900), 2);
        assert_eq!(s(3600), 10);
        assert_eq!(s(10 * 3600), 60);
        assert_eq!(s(400 * 24 * 3600), 21600);
        let hour = Duration::from_secs(3600);
        // Three minutes of real time: a second of it, 20 s of scenario time.
        assert_eq!(live_interval(20.0, hour), Duration::from_secs(20));
        // 3.6 s of real time: a hundred intervals of 36 ms, 36 s of scenario time.
        assert_eq!(live_interval(1000.0, hour), Duration::from_secs(36));
        // Never below 10 ms of real time.
        assert_eq!(live_interval(1e6, hour), Duration::from_secs(10_000));
        assert_eq!(
            live_interval(1.0, Duration::from_secs(10)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn samples_switch_and_merge_exactly() {
        let mut a = Samples::default();
        let mut b = Samples::default();
        for i in 0..100 {
            a.record(i * 1000);
        }
        for i in 0..10 {
            b.record(i * 7);
        }
        assert!(matches!(a, Samples::Hist(_)) && matches!(b, Samples::Raw(_)));
        let mut m = b.clone();
        m.merge(&a);
        let h = m.histogram().unwrap();
        assert_eq!(h.len(), 110);
        assert_eq!(h.max(), h.highest_equivalent(99_000));
        assert_eq!(h.count_at(63), 1);
        assert_eq!(
            index_of(Duration::from_millis(2500), Duration::from_secs(2)),
            1
        );
    }
}
