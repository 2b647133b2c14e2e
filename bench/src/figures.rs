//! What a step and a target measured, and what is read from it: whether a step kept
//! up, and the relay's CPU per message against a baseline's.

use crate::load::{Measured, StepCounts};
use serde::Serialize;
use switchboard_sim::host::Interference;

/// The relay's latency target: p99 within this many ms at 50% of its saturation.
pub const P99_TARGET_MS: f64 = 5.0;

/// Whether a latency step meets the relay's latency target: it kept up (else its
/// percentiles may leave out messages that never came back) and its p99 is within
/// [`P99_TARGET_MS`].
pub fn meets_p99_target(step: &Step) -> bool {
    step.kept_up && step.p99_ms <= P99_TARGET_MS
}

/// A step kept up only if its later half's median latency is within this factor of its
/// earlier half's (plus 1 ms, for latencies near the timer's resolution)…
const GROWTH_LIMIT: f64 = 2.0;

/// … both halves' medians are below this many ms (a standing queue longer than that
/// means the target runs at the edge of its capacity, even if the queue is not
/// growing), and the step's last message came back within as long after its end (a
/// backlog that began late in the step shows there, not in the medians).
const STANDING_QUEUE_MS: f64 = 50.0;

/// The client counts as the bottleneck when its threads used this share of their cores.
const CLIENT_BOUND_SHARE: f64 = 0.9;

/// One step's figures.
#[derive(Serialize, Debug, Clone)]
pub struct Step {
    pub offered: f64,
    /// The step's messages that came back before it ended, per second of the step.
    pub delivered: f64,
    /// Connections that failed during the step or its drain.
    pub errors: u64,
    /// Messages the step's schedule held, that left, and that came back.
    pub scheduled: u64,
    pub sent: u64,
    pub received: u64,
    /// How long after the step's end its last message came back (`None`: not within
    /// the drain time).
    pub drained_ms: Option<f64>,
    /// Median latency of the messages scheduled in the step's first and second half.
    pub early_p50_ms: f64,
    pub late_p50_ms: f64,
    /// Whether the target kept up: everything came back and latency did not grow.
    pub kept_up: bool,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// The client's own lateness: how long after their schedule messages left.
    pub send_lag_p99_ms: f64,
    /// Cores the load client's threads used during the step: near its thread count,
    /// the client (not the target) is the bottleneck.
    pub client_cores: Option<f64>,
    /// Cores the target's threads used during the step.
    pub target_cores: Option<f64>,
    /// Whether the client's threads were at a full core (at least
    /// [`CLIENT_BOUND_SHARE`] of them): the step measured the client as much as the
    /// target.
    pub client_bound: bool,
    /// What else took CPU during the step: steal time, other processes.
    pub interference: Option<Interference>,
    /// Whether that was enough to change the figures ([`host::DISTURBED_CORES`](switchboard_sim::host::DISTURBED_CORES)).
    pub disturbed: bool,
    /// Cores' worth of time the run's own threads waited for a CPU (not counted as
    /// interference: see [`cpu::CpuSample::waited_cores_since`](crate::cpu::CpuSample::waited_cores_since)).
    pub waited_cores: Option<f64>,
}

impl Step {
    /// Why the step did not keep up, if it did not.
    pub fn shortfall(&self) -> Option<String> {
        if self.kept_up {
            None
        } else if self.errors > 0 {
            Some(format!("{} connections failed", self.errors))
        } else if self.sent < self.scheduled {
            Some(format!("{} never sent", self.scheduled - self.sent))
        } else if self.received < self.sent {
            Some(format!("{} not back", self.sent - self.received))
        } else if let Some(d) = self.drained_ms.filter(|d| *d > STANDING_QUEUE_MS) {
            Some(format!(
                "backlog at the end: the last back {d:.1} ms after it"
            ))
        } else if self.drained_ms.is_none() {
            Some("not drained in time".to_string())
        } else if self.late_p50_ms > STANDING_QUEUE_MS {
            Some(format!(
                "standing queue: median {:.2} ms in the later half",
                self.late_p50_ms
            ))
        } else if self.early_p50_ms > STANDING_QUEUE_MS {
            Some(format!(
                "standing queue: median {:.2} ms in the earlier half",
                self.early_p50_ms
            ))
        } else {
            Some(format!(
                "latency grew: median {:.2} -> {:.2} ms",
                self.early_p50_ms, self.late_p50_ms
            ))
        }
    }
}

/// A target's figures.
#[derive(Serialize, Debug, Clone)]
pub struct TargetResult {
    pub target: String,
    pub connections: usize,
    /// Highest offered rate kept up with, messages/s.
    pub saturation: f64,
    /// Whether a step fell behind (otherwise `saturation` is a lower bound).
    pub saturated: bool,
    /// Whether the client was at a full core in the lowest step that fell behind: then
    /// the saturation is (at least partly) the client's.
    pub saturation_client_bound: bool,
    /// Whether the highest step kept up with or the lowest that fell behind was
    /// disturbed from outside the run (see [`Step::disturbed`]).
    pub saturation_disturbed: bool,
    /// Highest rate of stamped frames any step delivered, kept up with or not (the
    /// figure a looser rule would call saturation).
    pub peak_delivered: f64,
    /// The ramp, then the bisection steps.
    pub ramp: Vec<Step>,
    /// Steps at 25%, 50% and 75% of saturation.
    pub at_fraction: Vec<(f64, Step)>,
    /// Highest ramp rate kept up with and p99 within [`P99_TARGET_MS`]: the throughput
    /// at that latency, beside the saturation figure.
    pub rate_within_p99_target: Option<f64>,
    pub sent: u64,
    pub received: u64,
    pub errors: u64,
}

#[derive(Serialize, Debug)]
pub struct Report {
    /// The command line's settings, every one (defaults included).
    pub parameters: serde_json::Value,
    /// When the run started, seconds since the Unix epoch.
    pub started_unix_s: u64,
    pub server_threads: usize,
    pub client_threads: usize,
    pub results: Vec<TargetResult>,
    pub relay_vs_echo_throughput: Option<f64>,
    /// What relaying costs over echoing, on the same plumbing.
    pub forward_vs_echo_throughput: Option<f64>,
    /// What the reference server's own work costs over the bare relay.
    pub relay_vs_forward_throughput: Option<f64>,
    /// The relay's CPU per message against each baseline's, at the ramp rates both
    /// kept up with.
    pub cpu_per_message: Vec<CpuPerMessage>,
    pub relay_p99_ms_at_half: Option<f64>,
    /// Whether relay ÷ echo reached 0.60; `None` (undecided) unless both saturated and
    /// neither saturation was disturbed.
    pub target_throughput_ratio_met: Option<bool>,
    /// Whether the relay's p99 at 50% of its saturation was within 5 ms; `None`
    /// (undecided) unless it saturated and neither that nor the step was disturbed.
    pub target_p99_met: Option<bool>,
    /// Why a target is undecided, when one is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undecided: Vec<String>,
}

/// A baseline's and the relay's CPU per message at one offered rate: what each message
/// costs the server, independent of which side limits the saturation.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct CpuPerMessage {
    /// `echo` or `forward`.
    pub baseline: String,
    pub rate: f64,
    baseline_us: f64,
    relay_us: f64,
    /// `baseline_us / relay_us`: the share of the baseline's throughput the relay
    /// would reach if both were bound by their own CPU at these costs.
    pub relay_vs_baseline: f64,
}

/// CPU per message of a baseline and the relay at the ramp rates both kept up with.
pub fn cpu_per_message(name: &str, baseline: &[Step], relay: &[Step]) -> Vec<CpuPerMessage> {
    let per_message = |s: &Step| {
        s.target_cores
            .filter(|_| s.kept_up && s.offered > 0.0)
            .map(|cores| cores * 1e6 / s.offered)
    };
    baseline
        .iter()
        .filter_map(|b| {
            let r = relay.iter().find(|r| (r.offered - b.offered).abs() < 0.5)?;
            let (baseline_us, relay_us) = (per_message(b)?, per_message(r)?);
            (relay_us > 0.0).then(|| CpuPerMessage {
                baseline: name.to_string(),
                rate: b.offered,
                baseline_us,
                relay_us,
                relay_vs_baseline: baseline_us / relay_us,
            })
        })
        .collect()
}

/// A step's figures from its counts (histograms in µs).
pub fn figures(c: StepCounts, offered: f64, secs: f64, m: Measured, client_threads: usize) -> Step {
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let (early, late) = (ms(&c.early, 0.5), ms(&c.late, 0.5));
    let drained_ms = m.drained.map(|d| d.as_secs_f64() * 1000.0);
    let kept_up = m.errors == 0
        && drained_ms.is_some_and(|d| d <= STANDING_QUEUE_MS)
        && c.sent == c.scheduled
        && c.received >= c.sent
        && late <= GROWTH_LIMIT * early + 1.0
        && early <= STANDING_QUEUE_MS
        && late <= STANDING_QUEUE_MS;
    Step {
        offered,
        delivered: c.received_in_step as f64 / secs,
        errors: m.errors,
        scheduled: c.scheduled,
        sent: c.sent,
        received: c.received,
        drained_ms,
        early_p50_ms: early,
        late_p50_ms: late,
        kept_up,
        count: c.latency.len(),
        p50_ms: ms(&c.latency, 0.5),
        p99_ms: ms(&c.latency, 0.99),
        p999_ms: ms(&c.latency, 0.999),
        max_ms: c.latency.max() as f64 / 1000.0,
        send_lag_p99_ms: ms(&c.send_lag, 0.99),
        client_cores: m.client_cores,
        target_cores: m.target_cores,
        client_bound: m
            .client_cores
            .is_some_and(|used| used >= CLIENT_BOUND_SHARE * client_threads as f64),
        interference: m.interference,
        disturbed: m.interference.is_some_and(|i| i.disturbed()),
        waited_cores: m.waited_cores,
    }
}

#[cfg(test)]
mod tests {
    use super::{Step, cpu_per_message, figures, meets_p99_target};
    use crate::load::{Measured, StepCounts};
    use crate::print::disturbance;
    use hdrhistogram::Histogram;
    use std::time::Duration;
    use switchboard_sim::host::Interference;

    /// A step's counts: `n` messages sent and back (all within the step), the first
    /// half at `early_ms`, the second at `late_ms`.
    fn counts(n: u64, early_ms: u64, late_ms: u64) -> StepCounts {
        let mut early = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        let mut late = early.clone();
        early.record_n(early_ms * 1000, n / 2).unwrap();
        late.record_n(late_ms * 1000, n - n / 2).unwrap();
        let mut latency = early.clone();
        latency.add(&late).unwrap();
        StepCounts {
            scheduled: n,
            sent: n,
            received: n,
            received_in_step: n,
            latency,
            early,
            late,
            send_lag: Histogram::new(3).unwrap(),
        }
    }

    fn measured(drained: Option<u64>, client: f64, target: f64) -> Measured {
        Measured {
            errors: 0,
            drained: drained.map(Duration::from_millis),
            client_cores: Some(client),
            target_cores: Some(target),
            interference: None,
            waited_cores: None,
        }
    }

    /// A 1 s step offered at 1,000/s, measured by a one-thread client.
    fn step(c: StepCounts, m: Measured) -> Step {
        figures(c, 1000.0, 1.0, m, 1)
    }

    #[test]
    fn a_step_that_lost_a_tenth_of_a_core_to_outside_work_is_marked_disturbed() {
        let with = |others_cores: f64| {
            let m = Measured {
                interference: Some(Interference {
                    stolen_cores: 0.01,
                    others_cores,
                }),
                ..measured(Some(5), 0.5, 0.5)
            };
            step(counts(100, 4, 7), m)
        };
        let quiet = with(0.03);
        assert!(!quiet.disturbed && disturbance(&quiet).is_empty());
        let busy = with(0.3);
        assert!(
            busy.disturbed && busy.kept_up,
            "disturbed is a warning, not a verdict"
        );
        assert!(
            disturbance(&busy).contains("DISTURBED: 0.31 cores taken"),
            "{}",
            disturbance(&busy)
        );
        let unknown = step(counts(100, 4, 7), measured(Some(5), 0.5, 0.5));
        assert!(!unknown.disturbed);
    }

    #[test]
    fn only_a_step_that_kept_up_meets_the_latency_target() {
        let fast = step(counts(100, 2, 3), measured(Some(3), 0.5, 0.5));
        assert!(fast.kept_up && fast.p99_ms <= 5.0 && meets_p99_target(&fast));
        let slow = step(counts(100, 4, 7), measured(Some(7), 0.5, 0.5));
        assert!(
            slow.kept_up && !meets_p99_target(&slow),
            "p99 {}",
            slow.p99_ms
        );
        // Within 5 ms, but some messages never came back: not met.
        let lost = step(counts(100, 2, 3), measured(None, 0.5, 0.5));
        assert!(!lost.kept_up && lost.p99_ms <= 5.0 && !meets_p99_target(&lost));
    }

    #[test]
    fn a_step_keeps_up_when_all_came_back_and_no_queue_built_up() {
        let ok = step(counts(100, 4, 7), measured(Some(5), 0.5, 0.5));
        assert!(ok.kept_up && ok.shortfall().is_none());
        // Near the timer's resolution a millisecond more is not growth.
        assert!(step(counts(100, 0, 1), measured(Some(1), 0.5, 0.5)).kept_up);
        // Growing beyond twice the earlier half's median (plus 1 ms) is a building queue.
        let grew = step(counts(100, 4, 10), measured(Some(9), 0.5, 0.5));
        assert!(!grew.kept_up);
        assert!(grew.shortfall().unwrap().starts_with("latency grew"));
        // A queue that built up early and stays is not keeping up either.
        let standing = step(counts(100, 60, 70), measured(Some(10), 0.5, 0.5));
        assert!(standing.shortfall().unwrap().starts_with("standing queue"));
        // Nor one that stood in the earlier half and drained in the later: the growth
        // test alone let it through.
        let early = step(counts(100, 177, 5), measured(Some(5), 0.5, 0.5));
        assert!(!early.kept_up);
        assert_eq!(
            early.shortfall().as_deref(),
            Some("standing queue: median 177.02 ms in the earlier half")
        );
        // Nor one that began late: the medians miss it, the step's end does not.
        let backlog = step(counts(100, 4, 4), measured(Some(300), 0.5, 0.5));
        assert!(!backlog.kept_up);
        assert_eq!(
            backlog.shortfall().as_deref(),
            Some("backlog at the end: the last back 300.0 ms after it")
        );
        // Not drained in time.
        let mut lost = counts(100, 4, 4);
        lost.received = 97;
        let lost = step(lost, measured(None, 0.5, 0.5));
        assert_eq!(lost.shortfall().as_deref(), Some("3 not back"));
        let slow = step(counts(100, 4, 4), measured(None, 0.5, 0.5));
        assert_eq!(slow.shortfall().as_deref(), Some("not drained in time"));
        // The client fell a whole step behind.
        let mut unsent = counts(100, 4, 4);
        unsent.scheduled = 120;
        let unsent = step(unsent, measured(Some(1), 0.5, 0.5));
        assert_eq!(unsent.shortfall().as_deref(), Some("20 never sent"));
        // A connection failed: whatever else happened, that is what the step reports.
        let mut failed = measured(Some(1), 0.5, 0.5);
        failed.errors = 2;
        let failed = step(counts(100, 4, 4), failed);
        assert_eq!(failed.shortfall().as_deref(), Some("2 connections failed"));
    }

    #[test]
    fn delivered_counts_what_came_back_within_the_step() {
        let mut c = counts(3000, 1, 1);
        c.received_in_step = 2970;
        let s = figures(c, 1000.0, 3.0, measured(Some(2), 0.5, 0.5), 1);
        assert!((s.delivered - 990.0).abs() < 1e-9);
        assert!(s.kept_up, "late arrivals are latency, not a shortfall");
    }

    #[test]
    fn a_client_at_a_full_core_per_thread_is_marked() {
        let bound = |cores, threads| {
            figures(
                counts(10, 1, 1),
                10.0,
                1.0,
                measured(Some(1), cores, 0.1),
                threads,
            )
            .client_bound
        };
        assert!(bound(0.95, 1));
        assert!(!bound(0.85, 1));
        assert!(!bound(1.5, 2));
        assert!(bound(1.85, 2));
    }

    #[test]
    fn cpu_per_message_compares_rates_both_kept_up_with() {
        let at = |offered: f64, target: f64, kept: bool| -> Step {
            let mut s = figures(
                counts(10, 1, 1),
                offered,
                1.0,
                measured(Some(1), 0.2, target),
                1,
            );
            s.kept_up = kept;
            s
        };
        let echo = [
            at(1000.0, 0.02, true),
            at(2000.0, 0.03, true),
            at(4000.0, 0.05, true),
        ];
        let relay = [
            at(1000.0, 0.04, true),
            at(2000.0, 0.09, false),
            at(3000.0, 0.1, true),
        ];
        let c = cpu_per_message("echo", &echo, &relay);
        // 2,000/s: the relay fell behind; 3,000 and 4,000/s: only one target ran them.
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].baseline.as_str(), c[0].rate), ("echo", 1000.0));
        assert!((c[0].baseline_us - 20.0).abs() < 1e-9);
        assert!((c[0].relay_us - 40.0).abs() < 1e-9);
        assert!((c[0].relay_vs_baseline - 0.5).abs() < 1e-9);
    }
}
