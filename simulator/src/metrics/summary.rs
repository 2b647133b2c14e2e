//! The end-of-run summary: counters, per-metric statistics in milliseconds, rates,
//! threshold results and the resolved scenario. This is what `summary.json` holds.

use super::counters::Counters;
use super::names::{MetricName, RateName, Stat};
use super::queues::QueueSummary;
use super::rates;
use super::recorder::{AgentWork, Exact, MetricsError, Recorder};
use crate::scenario::{Override, Scenario};
use crate::threshold::{QueueFigure, Subject, Threshold, ThresholdResult};
use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How the run was driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Real server, real sockets, scaled wall-clock time.
    Live,
    /// Discrete-event simulation in virtual time.
    Virtual,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Live => "live",
            Mode::Virtual => "virtual",
        })
    }
}

/// Statistics of one metric, in milliseconds with microsecond resolution; `None`
/// (JSON `null`) when there were no samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Largest sample.
    pub max: Option<f64>,
}

/// Microseconds (possibly fractional) to milliseconds rounded to the microsecond.
fn ms(us: f64) -> f64 {
    us.round() / 1000.0
}

impl MetricSummary {
    /// Summarises a histogram of microseconds. Min, max and mean come from `exact`
    /// when given; percentiles from the histogram (3 significant digits), clamped to
    /// the exact extremes so that no percentile exceeds the largest sample.
    pub fn from_histogram(h: &Histogram<u64>, exact: Option<Exact>) -> MetricSummary {
        if h.is_empty() {
            return MetricSummary::default();
        }
        let (lo, hi, mean) = match exact {
            Some(Exact {
                min: Some(lo),
                max: Some(hi),
                sum,
            }) => (lo, hi, sum as f64 / h.len() as f64),
            _ => (h.min(), h.max(), h.mean()),
        };
        // Quantiles as written (0.999, not 99.9 / 100 = 0.9990000000000001, which at
        // 1,000 samples would rank the maximum instead of the 999th).
        let q = |quantile: f64| Some(ms(h.value_at_quantile(quantile).clamp(lo, hi) as f64));
        MetricSummary {
            count: h.len(),
            min: Some(ms(lo as f64)),
            mean: Some(ms(mean)),
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: Some(ms(hi as f64)),
        }
    }

    /// One statistic, in milliseconds (or the count).
    pub fn get(&self, stat: Stat) -> Option<f64> {
        match stat {
            Stat::Count => Some(self.count as f64),
            Stat::Min => self.min,
            Stat::Mean => self.mean,
            Stat::P50 => self.p50,
            Stat::P90 => self.p90,
            Stat::P95 => self.p95,
            Stat::P99 => self.p99,
            Stat::P999 => self.p999,
            Stat::Max => self.max,
        }
    }
}

/// Per-metric summaries, serialised as a JSON object in the contract's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics(pub Vec<(String, MetricSummary)>);

impl Metrics {
    /// The summary of `metric`, if present.
    pub fn get(&self, metric: MetricName) -> Option<&MetricSummary> {
        self.0
            .iter()
            .find(|(n, _)| n == metric.as_str())
            .map(|(_, s)| s)
    }
}

impl Serialize for Metrics {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Metrics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Metrics;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of metric summaries")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Metrics, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, MetricSummary>()? {
                    out.push((k, v));
                }
                Ok(Metrics(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The warning of a live run stopped by Ctrl-C before every user came (such a run
/// does not pass).
pub const INTERRUPTED_WARNING: &str = "interrupted (Ctrl-C): arrivals stopped early, so the \
     figures cover part of the scenario and the run does not pass";

/// The warning of a live run stopped by Ctrl-C during its drain.
pub const INTERRUPTED_IN_DRAIN_WARNING: &str = "interrupted (Ctrl-C) during the drain: every \
     user came, but the run ended before its chats did (they count as still waiting or \
     still open), so the run does not pass";

/// Whether `warning` says the run was interrupted.
pub fn is_interrupted_warning(warning: &str) -> bool {
    warning == INTERRUPTED_WARNING || warning == INTERRUPTED_IN_DRAIN_WARNING
}

/// How much scenario time the run covered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Elapsed {
    /// Scenario seconds covered: arrivals plus drain, or less when the last user left
    /// before the drain was over.
    pub scenario_seconds: f64,
    /// Length of one interval of `timeseries.csv` and `histograms.hlog`, in scenario
    /// seconds (0 in summaries written before it was recorded).
    #[serde(default)]
    pub interval_seconds: f64,
}

/// Everything in a summary that depends on the wall clock, kept in one section so that
/// the rest of a virtual run's summary is byte-identical for the same seed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WallClock {
    /// When the run started (RFC 3339), if the driver tracks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Wall-clock seconds the run took.
    pub real_seconds: f64,
    /// What the machine did besides the run, on average over a live run: steal time
    /// and other processes' CPU (absent in virtual time, and where `/proc` cannot
    /// tell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interference: Option<crate::host::Interference>,
}

/// What the driver knows about the run besides the recorded data.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The scenario's name.
    pub scenario: String,
    /// The master seed actually used.
    pub seed: u64,
    /// Live or virtual.
    pub mode: Mode,
    /// Scenario time covered.
    pub elapsed: Elapsed,
    /// Start time and wall-clock duration.
    pub wall_clock: WallClock,
    /// The `--set` overrides applied, as given.
    pub overrides: Vec<String>,
    /// The scenario after overrides and defaults.
    pub resolved_scenario: serde_json::Value,
    /// Scenario seconds per real second (live mode): how much a real delay of the
    /// simulator's own weighs in the scenario-time figures.
    pub time_scale: f64,
}

impl RunInfo {
    /// A virtual run of the scenario `unit`: 600 s of scenario time in 1.5 s, seed 42,
    /// for tests that need a summary of crafted data.
    #[cfg(test)]
    pub(crate) fn unit() -> RunInfo {
        RunInfo {
            scenario: "unit".into(),
            seed: 42,
            mode: Mode::Virtual,
            elapsed: Elapsed {
                scenario_seconds: 600.0,
                interval_seconds: 2.0,
            },
            wall_clock: WallClock {
                started_at: None,
                real_seconds: 1.5,
                interference: None,
            },
            overrides: Vec::new(),
            resolved_scenario: serde_json::json!({"name": "unit"}),
            time_scale: 1.0,
        }
    }

    /// The run information for `scenario` (after overrides), with `overrides` as given
    /// on the command line; `elapsed` and `started_at` are left for the driver.
    pub fn for_scenario(scenario: &Scenario, mode: Mode, overrides: &[Override]) -> RunInfo {
        RunInfo {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            mode,
            elapsed: Elapsed::default(),
            wall_clock: WallClock::default(),
            overrides: overrides.iter().map(ToString::to_string).collect(),
            resolved_scenario: scenario.resolved(),
            time_scale: scenario.time_scale,
        }
    }
}

/// Everything `summary.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The scenario's name.
    pub scenario: String,
    /// The master seed.
    pub seed: u64,
    /// Live or virtual.
    pub mode: Mode,
    /// True when every threshold passed.
    pub passed: bool,
    /// Scenario time covered.
    pub elapsed: Elapsed,
    /// The service-level target in milliseconds.
    pub service_level_target_ms: f64,
    /// Chats, tickets, messages, articles and errors by code.
    #[serde(flatten)]
    pub counters: Counters,
    /// Statistics per metric, in milliseconds.
    pub metrics: Metrics,
    /// Chats accepted within the target ÷ chats offered.
    pub service_level: Option<f64>,
    /// Chats abandoned ÷ chats offered.
    pub abandon_rate: Option<f64>,
    /// Busy ÷ offered agent slot time.
    pub occupancy: Option<f64>,
    /// Jain's index of per-agent occupancy.
    pub fairness: Option<f64>,
    /// Per-agent work.
    pub agents: BTreeMap<String, AgentWork>,
    /// The same chat figures for each support queue its users asked (absent in
    /// summaries written before they were kept).
    #[serde(default)]
    pub queues: BTreeMap<String, QueueSummary>,
    /// Each threshold with its observed value and verdict.
    pub thresholds: Vec<ThresholdResult>,
    /// The `--set` overrides applied.
    #[serde(default)]
    pub overrides: Vec<String>,
    /// The scenario as run (after overrides, with defaults filled in).
    pub resolved_scenario: serde_json::Value,
    /// Wall-clock facts (start, real duration): the only part that differs between two
    /// virtual runs of the same scenario and seed.
    #[serde(default)]
    pub wall_clock: WallClock,
    /// Routing invariants checked at the end of the run (`docs/checker.md`); `None`
    /// when the run kept no history. Any violation fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariants: Option<crate::checker::Invariants>,
    /// Doubts about the figures themselves: e.g. the load generator ran its actions
    /// late against their schedule (`scheduler_lag`), so it, not the server, may have
    /// been the bottleneck. Empty (and absent from the JSON) when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Summary {
    /// Summarises a merged recorder. Thresholds are evaluated separately with
    /// [`Summary::apply_thresholds`].
    pub fn build(info: RunInfo, recorder: &mut Recorder) -> Result<Summary, MetricsError> {
        let mut metrics = Vec::with_capacity(MetricName::ALL.len());
        for m in MetricName::ALL {
            let exact = recorder.exact(m);
            metrics.push((
                m.as_str().to_string(),
                MetricSummary::from_histogram(recorder.histogram(m)?, Some(exact)),
            ));
        }
        let queues = recorder.queue_summaries()?;
        let c = &recorder.counters;
        let offered = c.chats.offered as f64;
        let agents = recorder.agents().clone();
        let metrics = Metrics(metrics);
        let warnings = lag_warning(&metrics, info.time_scale, recorder.service_level_target())
            .into_iter()
            .chain(compressed_warning(&info, c.chats.lost))
            .chain(undelivered_warning(
                &metrics,
                c.messages.undelivered_at_end,
                recorder.oldest_undelivered(),
            ))
            .chain(still_waiting_warning(
                &metrics,
                c.chats.queued_at_end,
                recorder.longest_wait_at_end(),
                recorder.service_level_target(),
            ))
            .collect();
        Ok(Summary {
            scenario: info.scenario,
            seed: info.seed,
            mode: info.mode,
            passed: true,
            elapsed: info.elapsed,
            service_level_target_ms: recorder.service_level_target().as_micros() as f64 / 1000.0,
            counters: c.clone(),
            metrics,
            service_level: rates::ratio(recorder.accepted_within_target() as f64, offered),
            abandon_rate: rates::ratio(c.chats.abandoned as f64, offered),
            occupancy: rates::occupancy(&agents),
            fairness: rates::fairness(&agents),
            agents,
            queues,
            thresholds: Vec::new(),
            overrides: info.overrides,
            resolved_scenario: info.resolved_scenario,
            wall_clock: info.wall_clock,
            invariants: None,
            warnings,
        })
    }

    /// The observed value a threshold subject refers to, in the threshold's unit.
    pub fn value(&self, subject: &Subject) -> Option<f64> {
        match subject {
            Subject::Metric(m, stat) => self.metrics.get(*m).and_then(|s| s.get(*stat)),
            Subject::Rate(r) => self.rate(*r),
            Subject::Counter(name) => self.counters.get(name).map(|v| v as f64),
            Subject::Queue(queue, figure) => {
                // A declared queue nobody asked has no figures at all, counts included:
                // `chats.lost == 0` of a queue no user came to is no evidence.
                let q = self.queues.get(queue)?;
                match figure {
                    QueueFigure::ServiceLevel => q.service_level,
                    QueueFigure::AbandonRate => q.abandon_rate,
                    QueueFigure::AcceptWait(stat) => q.accept_wait.get(*stat),
                    QueueFigure::Chats(outcome) => Some(q.chats.get(outcome)? as f64),
                }
            }
        }
    }

    /// One of the rates.
    pub fn rate(&self, r: RateName) -> Option<f64> {
        match r {
            RateName::ServiceLevel => self.service_level,
            RateName::AbandonRate => self.abandon_rate,
            RateName::Occupancy => self.occupancy,
            RateName::Fairness => self.fairness,
        }
    }

    /// Evaluates `thresholds`, stores the results and sets [`Summary::passed`].
    pub fn apply_thresholds(&mut self, thresholds: &[Threshold]) {
        self.thresholds = thresholds
            .iter()
            .map(|t| ThresholdResult::evaluate(t, self))
            .collect();
        self.passed = self.thresholds.iter().all(|t| t.pass);
    }
}

/// `scheduler_lag` p99 above which the load generator is reported as overloaded, ms.
pub const SCHEDULER_LAG_P99_WARN_MS: f64 = 10.0;

/// Share of the service-level target that `scheduler_lag` p99, in scenario time (real
/// lag × `time_scale`), may reach before the scenario-time figures are in doubt.
pub const SCHEDULER_LAG_SHARE_OF_TARGET: f64 = 0.05;

/// Below this much real time, a live run with lost chats was too compressed to tell
/// a lost chat from a late one.
const COMPRESSED_RUN_REAL_SECONDS: f64 = 10.0;

/// The warning for a live run so compressed by `time_scale` that its lost chats may
/// only have been late: a run of a few real seconds ends before replies that take a
/// few milliseconds, and each of those is `time_scale` times longer in the scenario.
fn compressed_warning(info: &RunInfo, lost: u64) -> Option<String> {
    let real = info.elapsed.scenario_seconds / info.time_scale;
    (info.mode == Mode::Live && lost > 0 && real < COMPRESSED_RUN_REAL_SECONDS).then(|| {
        format!(
            "{lost} chat(s) counted lost in a run of {real:.2} s of real time (time_scale \
             {}): compressed this far, a chat the server answered a little late counts as \
             lost; lower time_scale before reading `lost` as the server's doing",
            info.time_scale
        )
    })
}

/// The warning for users still waiting for an agent when the run ended, when one of
/// them had already waited past the service-level target or past `accept_wait`'s p95:
/// the metric is taken when an agent joins, so their waits (which would only grow) are
/// not in it and its figures look better than the run was (the service level counts
/// them against it all the same). A few users who arrived moments before the end are
/// not worth a word.
fn still_waiting_warning(
    metrics: &Metrics,
    count: u64,
    longest: Option<Duration>,
    target: Duration,
) -> Option<String> {
    let longest = longest.filter(|_| count > 0)?;
    let longest_ms = longest.as_secs_f64() * 1000.0;
    let p95 = metrics.get(MetricName::AcceptWait).and_then(|m| m.p95);
    // Past the tail of the waits that were sampled, when there is one (a p95 of 0: all
    // answered at once, and a user who arrived a moment before the end is no news).
    let past_tail = p95.is_none_or(|p95| p95 > 0.0 && longest_ms > p95);
    if longest <= target && !past_tail {
        return None;
    }
    let p95 = p95.map_or_else(
        || "no sample at all".to_string(),
        |p95| format!("a p95 of {:.1} s", p95 / 1000.0),
    );
    Some(format!(
        "{count} user(s) still waited for an agent when the run ended, the longest for \
         {:.1} s: `accept_wait` ({p95}) has no sample of them, as it is taken when an \
         agent joins; a longer `drain` lets them be answered or give up",
        longest_ms / 1000.0
    ))
}

/// The warning for messages sent and not seen by the other side when a live run ended,
/// when one of them is older than the run's `message_latency` p99: the percentiles have
/// no sample of them (a latency is taken when a message arrives), so a server that
/// stalls near the end would otherwise look better than it was. A few messages younger
/// than that, on their way at the last instant, are not worth a word.
fn undelivered_warning(metrics: &Metrics, count: u64, oldest: Option<Duration>) -> Option<String> {
    let oldest_ms = oldest.filter(|_| count > 0)?.as_secs_f64() * 1000.0;
    let p99 = metrics.get(MetricName::MessageLatency).and_then(|m| m.p99);
    if p99.is_some_and(|p99| oldest_ms <= p99) {
        return None;
    }
    let p99 = p99.map_or_else(
        || "no sample at all".to_string(),
        |p99| format!("a p99 of {p99:.3} ms"),
    );
    Some(format!(
        "{count} message(s) sent were not seen by the other side when the run ended, the \
         oldest sent {oldest_ms:.3} ms of real time before the end: `message_latency` \
         ({p99}) has no sample of them; `messages.undelivered_at_end` counts them and \
         can take a threshold"
    ))
}

/// The warning for a load generator that fell behind its own schedule, if it did:
/// by more than [`SCHEDULER_LAG_P99_WARN_MS`] of real time, or by enough that,
/// multiplied by `time_scale`, the lag is a noticeable share of the service-level
/// target (every real millisecond late is `time_scale` milliseconds of `accept_wait`).
fn lag_warning(metrics: &Metrics, time_scale: f64, target: Duration) -> Option<String> {
    let lag = metrics.get(MetricName::SchedulerLag)?;
    let p99 = lag.p99?;
    let scenario_ms = p99 * time_scale;
    let target_ms = target.as_secs_f64() * 1000.0;
    let stretches = target_ms > 0.0 && scenario_ms > SCHEDULER_LAG_SHARE_OF_TARGET * target_ms;
    if p99 <= SCHEDULER_LAG_P99_WARN_MS && !stretches {
        return None;
    }
    let figures = format!(
        "scheduler_lag p99 {p99:.1} ms (p50 {:.1} ms, max {:.1} ms)",
        lag.p50.unwrap_or(0.0),
        lag.max.unwrap_or(0.0)
    );
    let scaled = format!(
        "at time_scale {time_scale} that is {:.2} s of scenario time, {:.0}% of the \
         service-level target ({:.0} s): accept_wait and service_level include it",
        scenario_ms / 1000.0,
        100.0 * scenario_ms / target_ms,
        target_ms / 1000.0
    );
    let text = match (p99 > SCHEDULER_LAG_P99_WARN_MS, stretches) {
        (true, also) => format!(
            "load generator overloaded: {figures}, over {SCHEDULER_LAG_P99_WARN_MS} ms: the \
             simulator ran its actions late, so its latencies and rates partly measure \
             itself, not the server{}; lower time_scale or the load, or run it on another \
             machine",
            if also {
                format!("; {scaled}")
            } else {
                String::new()
            }
        ),
        (false, _) => format!(
            "time_scale magnifies the simulator's own lateness: {figures}; {scaled}; lower \
             time_scale"
        ),
    };
    Some(text)
}
