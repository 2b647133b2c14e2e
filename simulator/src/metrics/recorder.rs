//! Per-task recording: each virtual user or agent owns a [`Recorder`], records into it
//! without any lock, and the driver merges all recorders at the end.
//!
//! Most tasks record a handful of samples, while a full-range HDR histogram costs a
//! few hundred KiB; so a recorder keeps raw samples in a small buffer and only builds
//! histograms once it has many. Merging folds both forms into the target's histograms.
//!
//! Besides the run's totals a recorder keeps per-interval data (see [`super::interval`]):
//! the runtime calls [`Recorder::set_now`] before each participant step; counter
//! increments until the next call belong to the interval holding that instant, and
//! samples go both into the totals and into their interval.

use super::counters::Counters;
use super::interval::{Gauges, IntervalCounts, Timeline, index_of};
use super::names::MetricName;
use super::queues::{ChatOutcome, QueueRecord, QueueSummary};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;

/// Histogram resolution: 1 µs to 7 days at 3 significant digits. Longer samples are
/// clamped to the top in the histograms (so percentiles above 7 days read as 7 days);
/// the exact min, max, mean and the service level use the samples as they are.
pub const LOWEST_US: u64 = 1;
/// The largest value a histogram holds, in microseconds.
pub const HIGHEST_US: u64 = 7 * 24 * 3600 * 1_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 3;
/// Buffered samples before a recorder switches to histograms.
const BUFFER: usize = 256;

/// A metrics failure (only histogram construction or merging can fail).
#[derive(Debug, Error)]
pub enum MetricsError {
    /// HDR histogram creation failed.
    #[error("cannot create histogram: {0}")]
    Create(String),
    /// Two histograms could not be merged.
    #[error("cannot merge histograms for {metric}: {message}")]
    Merge {
        /// Which metric.
        metric: MetricName,
        /// The hdrhistogram error.
        message: String,
    },
}

/// A new, empty histogram with the crate's bounds.
pub fn new_histogram() -> Result<Histogram<u64>, MetricsError> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG)
        .map_err(|e| MetricsError::Create(e.to_string()))
}

/// A duration in whole microseconds, clamped to the histogram range.
pub fn micros(d: Duration) -> u64 {
    exact_micros(d).min(HIGHEST_US)
}

/// A duration in whole microseconds, unclamped.
fn exact_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Work one agent did: what occupancy and fairness are computed from.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AgentWork {
    /// Chats the agent accepted.
    pub chats: u64,
    /// Σ over time of the agent's open chats (slot-seconds in use), scenario seconds.
    pub busy_slot_seconds: f64,
    /// Σ over time of the agent's declared capacity while available, scenario seconds.
    pub offered_slot_seconds: f64,
}

impl AgentWork {
    /// Busy ÷ offered slot time, if the agent offered any.
    pub fn occupancy(&self) -> Option<f64> {
        (self.offered_slot_seconds > 0.0)
            .then(|| self.busy_slot_seconds / self.offered_slot_seconds)
    }
}

/// Exact extremes and sum of one metric, kept beside the histogram so that min, max
/// and mean are not quantised and percentiles can be clamped to what was seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exact {
    /// Smallest sample (µs), if any.
    pub min: Option<u64>,
    /// Largest sample (µs), if any.
    pub max: Option<u64>,
    /// Sum of all samples (µs).
    pub sum: u128,
}

impl Exact {
    pub(super) fn add(&mut self, us: u64) {
        self.min = Some(self.min.map_or(us, |m| m.min(us)));
        self.max = Some(self.max.map_or(us, |m| m.max(us)));
        self.sum += u128::from(us);
    }

    pub(super) fn merge(&mut self, o: &Exact) {
        self.min = match (self.min, o.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, o.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.sum += o.sum;
    }
}

/// Samples, counters and agent work of one task (or, after merging, of a run).
pub struct Recorder {
    service_level_target_us: u64,
    pending: Vec<(MetricName, u64)>,
    histograms: Option<Vec<Histogram<u64>>>,
    exact: [Exact; MetricName::ALL.len()],
    accepted_within_target: u64,
    /// Event counters.
    pub counters: Counters,
    agents: BTreeMap<String, AgentWork>,
    // A list, not a map: a user task's recorder holds one queue, and a run few.
    queues: Vec<(String, QueueRecord)>,
    interval: Duration,
    cur: u32,
    last: IntervalCounts,
    real_seen: bool,
    timeline: Timeline,
    oldest_undelivered: Option<Duration>,
    longest_wait_at_end: Option<Duration>,
}

impl Recorder {
    /// An empty recorder; accept waits up to `service_level_target` count towards the
    /// service level.
    pub fn new(service_level_target: Duration) -> Recorder {
        Recorder {
            service_level_target_us: exact_micros(service_level_target),
            pending: Vec::new(),
            histograms: None,
            exact: [Exact::default(); MetricName::ALL.len()],
            accepted_within_target: 0,
            counters: Counters::default(),
            agents: BTreeMap::new(),
            queues: Vec::new(),
            interval: Duration::from_secs(1),
            cur: 0,
            last: IntervalCounts::default(),
            real_seen: false,
            timeline: Timeline::default(),
            oldest_undelivered: None,
            longest_wait_at_end: None,
        }
    }

    /// A user still waiting for an agent when the run ended, after `waited` (scenario
    /// time): `accept_wait` has no sample of it (it is taken when an agent joins).
    pub fn waiting_at_end(&mut self, waited: Duration) {
        self.longest_wait_at_end = Some(self.longest_wait_at_end.map_or(waited, |w| w.max(waited)));
    }

    /// The longest a user still waiting when the run ended had waited.
    pub fn longest_wait_at_end(&self) -> Option<Duration> {
        self.longest_wait_at_end
    }

    /// Live runs, once every task has stopped: the messages sent and not seen by the
    /// other side when the run ended (`messages.undelivered_at_end`), and how long
    /// before the end (real time) the oldest of them was sent.
    pub fn set_undelivered_at_end(&mut self, count: u64, oldest: Option<Duration>) {
        self.counters.messages.undelivered_at_end = count;
        self.oldest_undelivered = oldest;
    }

    /// How long before the end the oldest message not seen by then was sent (live
    /// runs; `None` when every message was seen).
    pub fn oldest_undelivered(&self) -> Option<Duration> {
        self.oldest_undelivered
    }

    /// This recorder with intervals of `len` of scenario time (default 1 s; see
    /// [`super::interval::default_interval`] and [`super::interval::live_interval`]).
    pub fn with_interval(mut self, len: Duration) -> Recorder {
        self.interval = len.max(Duration::from_micros(1));
        self
    }

    /// The interval length, in scenario time.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Moves the recorder's clock to `scenario` time (`real`: real time since the run
    /// started, in live mode). Counter increments since the previous call are given to
    /// the interval of the previous call's instant; samples recorded from now on go to
    /// the interval of `scenario`.
    pub fn set_now(&mut self, scenario: Duration, real: Option<Duration>) {
        self.flush_counts();
        self.cur = index_of(scenario, self.interval);
        self.real_seen |= real.is_some();
    }

    /// Stores gauges sampled at scenario time `at` (in the interval holding `at`).
    pub fn gauges(&mut self, at: Duration, g: Gauges) {
        let i = index_of(at, self.interval);
        self.timeline.at(i).gauges = Some((at, g));
    }

    /// Whether a runtime gave real time (live mode).
    pub fn real_time_known(&self) -> bool {
        self.real_seen
    }

    /// The per-interval data, with counter increments up to now.
    pub fn timeline(&mut self) -> &Timeline {
        self.flush_counts();
        &self.timeline
    }

    fn flush_counts(&mut self) {
        let now = IntervalCounts::of(&self.counters);
        self.timeline.add_counts(self.cur, now, self.last);
        self.last = now;
    }

    /// The service-level target this recorder counts against.
    pub fn service_level_target(&self) -> Duration {
        Duration::from_micros(self.service_level_target_us)
    }

    /// Records one sample of `metric`.
    pub fn record(&mut self, metric: MetricName, value: Duration) {
        let exact = exact_micros(value);
        if metric == MetricName::AcceptWait && exact <= self.service_level_target_us {
            self.accepted_within_target += 1;
        }
        self.exact[metric.index()].add(exact);
        let us = exact.min(HIGHEST_US);
        self.timeline.record(self.cur, metric, us);
        match &mut self.histograms {
            Some(h) => h[metric.index()].saturating_record(us),
            None => {
                self.pending.push((metric, us));
                if self.pending.len() >= BUFFER {
                    // A failure here only keeps samples buffered; nothing is lost.
                    let _ = self.materialize();
                }
            }
        }
    }

    /// Counts what became of a user's chat request, in the totals (`chats.*`) and for
    /// the queue the user asked.
    pub fn count_chat(&mut self, queue: &str, outcome: ChatOutcome) {
        let c = &mut self.counters.chats;
        *match outcome {
            ChatOutcome::Offered => &mut c.offered,
            ChatOutcome::Accepted => &mut c.accepted,
            ChatOutcome::Abandoned => &mut c.abandoned,
            ChatOutcome::Lost => &mut c.lost,
            ChatOutcome::QueuedAtEnd => &mut c.queued_at_end,
        } += 1;
        self.queue(queue).chats.count(outcome);
    }

    /// Records a chat's accept wait, in the totals and for the queue its user asked.
    pub fn record_accept_wait(&mut self, queue: &str, wait: Duration) {
        self.record(MetricName::AcceptWait, wait);
        let target = self.service_level_target_us;
        self.queue(queue)
            .record_wait(exact_micros(wait), HIGHEST_US, target);
    }

    fn queue(&mut self, name: &str) -> &mut QueueRecord {
        let i = match self.queues.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.queues.push((name.to_string(), QueueRecord::default()));
                self.queues.len() - 1
            }
        };
        &mut self.queues[i].1
    }

    /// The figures of every queue users asked, by queue name.
    pub fn queue_summaries(&mut self) -> Result<BTreeMap<String, QueueSummary>, MetricsError> {
        self.queues
            .iter_mut()
            .map(|(name, q)| Ok((name.clone(), q.summary()?)))
            .collect()
    }

    /// Chats whose accept wait was within the service-level target.
    pub fn accepted_within_target(&self) -> u64 {
        self.accepted_within_target
    }

    /// Adds to an agent's work: `chats` accepted, and slot time busy/offered.
    pub fn agent_work(&mut self, agent: &str, chats: u64, busy: Duration, offered: Duration) {
        let w = self.agents.entry(agent.to_string()).or_default();
        w.chats += chats;
        w.busy_slot_seconds += busy.as_secs_f64();
        w.offered_slot_seconds += offered.as_secs_f64();
    }

    /// Per-agent work, by agent name.
    pub fn agents(&self) -> &BTreeMap<String, AgentWork> {
        &self.agents
    }

    fn materialize(&mut self) -> Result<&mut Vec<Histogram<u64>>, MetricsError> {
        if self.histograms.is_none() {
            let hs = MetricName::ALL
                .iter()
                .map(|_| new_histogram())
                .collect::<Result<Vec<_>, _>>()?;
            self.histograms = Some(hs);
        }
        let pending = std::mem::take(&mut self.pending);
        let hs = self.histograms.get_or_insert_with(Vec::new);
        for (m, us) in pending {
            hs[m.index()].saturating_record(us);
        }
        Ok(hs)
    }

    /// Folds `other` into this recorder (samples, counters, agent work, intervals).
    /// Intervals align by index; an empty recorder takes `other`'s interval length, and
    /// intervals of another length are placed by their start time.
    pub fn merge(&mut self, other: &Recorder) -> Result<(), MetricsError> {
        self.flush_counts();
        if self.timeline.is_empty() {
            self.interval = other.interval;
        }
        let mut theirs = other.timeline.clone();
        // Counter increments `other` made after its last `set_now`.
        theirs.add_counts(other.cur, IntervalCounts::of(&other.counters), other.last);
        if other.interval == self.interval {
            self.timeline.merge(&theirs);
        } else {
            let (from, to) = (other.interval, self.interval);
            self.timeline
                .merge_mapped(&theirs, |i| index_of(from * i, to));
        }
        self.real_seen |= other.real_seen;
        self.oldest_undelivered = self.oldest_undelivered.max(other.oldest_undelivered);
        self.longest_wait_at_end = self.longest_wait_at_end.max(other.longest_wait_at_end);
        let hs = self.materialize()?;
        for &(m, us) in &other.pending {
            hs[m.index()].saturating_record(us);
        }
        if let Some(ohs) = &other.histograms {
            for m in MetricName::ALL {
                hs[m.index()]
                    .add(&ohs[m.index()])
                    .map_err(|e| MetricsError::Merge {
                        metric: m,
                        message: format!("{e:?}"),
                    })?;
            }
        }
        for (mine, theirs) in self.exact.iter_mut().zip(other.exact.iter()) {
            mine.merge(theirs);
        }
        self.accepted_within_target += other.accepted_within_target;
        self.counters.merge(&other.counters);
        self.last = IntervalCounts::of(&self.counters);
        for (name, q) in &other.queues {
            self.queue(name).merge(q)?;
        }
        for (name, w) in &other.agents {
            let mine = self.agents.entry(name.clone()).or_default();
            mine.chats += w.chats;
            mine.busy_slot_seconds += w.busy_slot_seconds;
            mine.offered_slot_seconds += w.offered_slot_seconds;
        }
        Ok(())
    }

    /// Merges many recorders into one.
    pub fn merge_all<'a>(
        service_level_target: Duration,
        recorders: impl IntoIterator<Item = &'a Recorder>,
    ) -> Result<Recorder, MetricsError> {
        let mut total = Recorder::new(service_level_target);
        total.materialize()?;
        for r in recorders {
            total.merge(r)?;
        }
        Ok(total)
    }

    /// The histogram of `metric` (microseconds), building histograms if needed.
    pub fn histogram(&mut self, metric: MetricName) -> Result<&Histogram<u64>, MetricsError> {
        let hs = self.materialize()?;
        Ok(&hs[metric.index()])
    }

    /// Exact min, max and sum of `metric`.
    pub fn exact(&self, metric: MetricName) -> Exact {
        self.exact[metric.index()]
    }

    /// Number of samples of `metric` recorded so far.
    pub fn count(&self, metric: MetricName) -> u64 {
        let buffered = self.pending.iter().filter(|(m, _)| *m == metric).count() as u64;
        buffered
            + self
                .histograms
                .as_ref()
                .map_or(0, |h| h[metric.index()].len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_recorders_stay_small_and_merge_exactly() {
        let target = Duration::from_secs(60);
        let mut tasks: Vec<Recorder> = (0..100).map(|_| Recorder::new(target)).collect();
        for (i, r) in tasks.iter_mut().enumerate() {
            r.record(MetricName::AcceptWait, Duration::from_secs(i as u64));
            r.counters.chats.offered += 1;
            assert!(r.histograms.is_none());
        }
        let mut total = Recorder::merge_all(target, &tasks).unwrap();
        assert_eq!(total.count(MetricName::AcceptWait), 100);
        assert_eq!(total.accepted_within_target(), 61);
        assert_eq!(total.counters.chats.offered, 100);
        let h = total.histogram(MetricName::AcceptWait).unwrap();
        assert_eq!(h.max(), h.highest_equivalent(99_000_000));
        assert_eq!(h.min(), 0);
    }

    #[test]
    fn each_queue_keeps_its_own_figures_through_merges() {
        use crate::metrics::ChatOutcome::{Abandoned, Accepted, Offered};
        let target = Duration::from_secs(60);
        // One recorder per user, as live tasks keep them: 200 users of `fast`, every
        // one answered at once; 100 of `slow`, half of them after 2 minutes, half
        // never.
        let mut users = Vec::new();
        for i in 0..300u64 {
            let mut r = Recorder::new(target);
            let (queue, wait) = match i {
                0..200 => ("fast", Some(0)),
                200..250 => ("slow", Some(120)),
                _ => ("slow", None),
            };
            r.count_chat(queue, Offered);
            match wait {
                Some(s) => {
                    r.count_chat(queue, Accepted);
                    r.record_accept_wait(queue, Duration::from_secs(s));
                }
                None => r.count_chat(queue, Abandoned),
            }
            users.push(r);
        }
        let mut total = Recorder::merge_all(target, &users).unwrap();
        assert_eq!(total.counters.chats.offered, 300);
        assert_eq!(total.count(MetricName::AcceptWait), 250);
        let q = total.queue_summaries().unwrap();
        assert_eq!(q["fast"].chats.offered, 200);
        assert_eq!(q["fast"].service_level, Some(1.0));
        assert_eq!(q["fast"].accept_wait.count, 200);
        assert_eq!(
            (
                q["slow"].chats.offered,
                q["slow"].chats.accepted,
                q["slow"].chats.abandoned
            ),
            (100, 50, 50)
        );
        assert_eq!(q["slow"].service_level, Some(0.0));
        assert_eq!(q["slow"].abandon_rate, Some(0.5));
        assert_eq!(q["slow"].accept_wait.p50, Some(120_000.0));
        // The desk's total hides it: 200 of 300 answered in time.
        let total_level = total.accepted_within_target() as f64 / 300.0;
        assert!((total_level - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn busy_recorders_switch_to_histograms() {
        let mut r = Recorder::new(Duration::from_secs(1));
        for i in 0..1000u64 {
            r.record(MetricName::MessageLatency, Duration::from_micros(i));
        }
        assert!(r.histograms.is_some());
        assert_eq!(r.count(MetricName::MessageLatency), 1000);
        let mut total = Recorder::new(Duration::from_secs(1));
        total.merge(&r).unwrap();
        total.merge(&r).unwrap();
        assert_eq!(total.count(MetricName::MessageLatency), 2000);
        assert_eq!(total.count(MetricName::AcceptWait), 0);
    }

    #[test]
    fn huge_values_are_clamped_not_dropped() {
        let mut r = Recorder::new(Duration::from_secs(1));
        r.record(MetricName::HandleTime, Duration::from_secs(365 * 24 * 3600));
        let h = r.histogram(MetricName::HandleTime).unwrap();
        assert_eq!(h.len(), 1);
        assert!(h.max() >= HIGHEST_US);
    }

    #[test]
    fn agent_work_adds_up() {
        let mut a = Recorder::new(Duration::from_secs(1));
        a.agent_work(
            "tier1-1",
            2,
            Duration::from_secs(30),
            Duration::from_secs(120),
        );
        let mut b = Recorder::new(Duration::from_secs(1));
        b.agent_work(
            "tier1-1",
            1,
            Duration::from_secs(30),
            Duration::from_secs(0),
        );
        a.merge(&b).unwrap();
        let w = &a.agents()["tier1-1"];
        assert_eq!(w.chats, 3);
        assert_eq!(w.occupancy(), Some(0.5));
    }
}
