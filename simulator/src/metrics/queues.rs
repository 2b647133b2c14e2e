//! Figures by support queue. Each user's chat counts towards the queue the user asked,
//! so a desk whose totals pass cannot hide a queue that fails: its offers and outcomes,
//! its service level and abandon rate, and its accept waits.

use super::recorder::{Exact, MetricsError, new_histogram};
use super::summary::MetricSummary;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Samples a queue's record buffers before it builds a histogram: a live run keeps one
/// record per user task, and most hold a single wait.
const BUFFER: usize = 64;

/// What became of a user's chat request, counted for the queue the user asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatOutcome {
    /// The user asked.
    Offered,
    /// An agent joined for the first time.
    Accepted,
    /// The user gave up before an agent joined.
    Abandoned,
    /// The request never reached an end state (a connection lost, a refused start).
    Lost,
    /// Still waiting when the run ended.
    QueuedAtEnd,
}

/// A queue's chats by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueChats {
    /// Chats its users asked for.
    pub offered: u64,
    /// Of those, chats an agent joined.
    pub accepted: u64,
    /// Chats its users gave up on before an agent joined.
    pub abandoned: u64,
    /// Requests that never reached an end state.
    pub lost: u64,
    /// Chats still waiting when the run ended.
    pub queued_at_end: u64,
}

impl QueueChats {
    /// Adds one `outcome`.
    pub fn count(&mut self, outcome: ChatOutcome) {
        *match outcome {
            ChatOutcome::Offered => &mut self.offered,
            ChatOutcome::Accepted => &mut self.accepted,
            ChatOutcome::Abandoned => &mut self.abandoned,
            ChatOutcome::Lost => &mut self.lost,
            ChatOutcome::QueuedAtEnd => &mut self.queued_at_end,
        } += 1;
    }

    /// The count of an outcome by name (`offered`, …, `queued_at_end`).
    pub fn get(&self, outcome: &str) -> Option<u64> {
        Some(match outcome {
            "offered" => self.offered,
            "accepted" => self.accepted,
            "abandoned" => self.abandoned,
            "lost" => self.lost,
            "queued_at_end" => self.queued_at_end,
            _ => return None,
        })
    }

    fn merge(&mut self, o: &QueueChats) {
        self.offered += o.offered;
        self.accepted += o.accepted;
        self.abandoned += o.abandoned;
        self.lost += o.lost;
        self.queued_at_end += o.queued_at_end;
    }
}

/// One queue's figures while a run records them.
#[derive(Debug, Default)]
pub struct QueueRecord {
    /// Chats by outcome.
    pub chats: QueueChats,
    within_target: u64,
    exact: Exact,
    pending: Vec<u64>,
    // Boxed: a live run keeps one record per user task until it merges them, and most
    // never build one.
    histogram: Option<Box<Histogram<u64>>>,
}

impl QueueRecord {
    /// Records one accept wait of `us` microseconds (clamped to `highest` in the
    /// histogram); waits up to `target_us` count towards the service level.
    pub(super) fn record_wait(&mut self, exact_us: u64, highest: u64, target_us: u64) {
        if exact_us <= target_us {
            self.within_target += 1;
        }
        self.exact.add(exact_us);
        let us = exact_us.min(highest);
        match &mut self.histogram {
            Some(h) => h.saturating_record(us),
            None => {
                self.pending.push(us);
                if self.pending.len() >= BUFFER {
                    // A failure only keeps the samples buffered; nothing is lost.
                    let _ = self.built();
                }
            }
        }
    }

    /// The accept waits' histogram (microseconds), with the buffered samples in it.
    fn built(&mut self) -> Result<&mut Histogram<u64>, MetricsError> {
        if self.histogram.is_none() {
            self.histogram = Some(Box::new(new_histogram()?));
        }
        let h = self.histogram.as_mut().expect("built above");
        for us in self.pending.drain(..) {
            h.saturating_record(us);
        }
        Ok(h)
    }

    /// Folds `other` into this record.
    pub(super) fn merge(&mut self, other: &QueueRecord) -> Result<(), MetricsError> {
        self.chats.merge(&other.chats);
        self.within_target += other.within_target;
        self.exact.merge(&other.exact);
        if self.histogram.is_none()
            && other.histogram.is_none()
            && self.pending.len() + other.pending.len() < BUFFER
        {
            self.pending.extend_from_slice(&other.pending);
            return Ok(());
        }
        let h = self.built()?;
        for &us in &other.pending {
            h.saturating_record(us);
        }
        match &other.histogram {
            Some(theirs) => h.add(&**theirs).map_err(|e| MetricsError::Merge {
                metric: super::names::MetricName::AcceptWait,
                message: format!("{e:?}"),
            }),
            None => Ok(()),
        }
    }

    /// The queue's summary.
    pub(super) fn summary(&mut self) -> Result<QueueSummary, MetricsError> {
        let exact = self.exact;
        let offered = self.chats.offered as f64;
        Ok(QueueSummary {
            chats: self.chats,
            service_level: super::rates::ratio(self.within_target as f64, offered),
            abandon_rate: super::rates::ratio(self.chats.abandoned as f64, offered),
            accept_wait: MetricSummary::from_histogram(self.built()?, Some(exact)),
        })
    }
}

/// One queue in `summary.json` (`queues.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueSummary {
    /// Chats by outcome.
    #[serde(flatten)]
    pub chats: QueueChats,
    /// Chats accepted within the service-level target ÷ chats offered.
    pub service_level: Option<f64>,
    /// Chats abandoned ÷ chats offered.
    pub abandon_rate: Option<f64>,
    /// Accept waits of the queue's users, in milliseconds.
    pub accept_wait: MetricSummary,
}

#[cfg(test)]
mod tests {
    use super::QueueRecord;

    fn record(waits: impl IntoIterator<Item = u64>) -> QueueRecord {
        let mut r = QueueRecord::default();
        for w in waits {
            r.chats.offered += 1;
            r.chats.accepted += 1;
            r.record_wait(w, u64::MAX, 60_000_000);
        }
        r
    }

    #[test]
    fn records_merge_in_every_form() {
        // Histograms on both sides, a histogram into buffered samples, buffered into
        // buffered.
        let big = || record((1..=100).map(|s| s * 1_000_000));
        let small = || record([5_000_000, 70_000_000]);
        for (mut a, b) in [
            (big(), big()),
            (small(), big()),
            (big(), small()),
            (small(), small()),
        ] {
            let n = a.chats.offered + b.chats.offered;
            let within = a.within_target + b.within_target;
            a.merge(&b).unwrap();
            let s = a.summary().unwrap();
            assert_eq!(s.chats.offered, n);
            assert_eq!(s.accept_wait.count, n);
            assert_eq!(s.service_level, Some(within as f64 / n as f64));
        }
        let mut a = small();
        a.merge(&big()).unwrap();
        let s = a.summary().unwrap();
        assert_eq!(
            (s.accept_wait.min, s.accept_wait.max),
            (Some(1_000.0), Some(100_000.0))
        );
        // 60 of the big one's waits and 1 of the small one's are within a minute.
        assert_eq!(s.service_level, Some(61.0 / 102.0));
    }
}
