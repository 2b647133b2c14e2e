//! What a run measures and how it is reported.
//!
//! - [`names`]: the metric, statistic and rate names (a contract).
//! - [`recorder`]: per-task [`Recorder`]s (HDR histograms in µs, counters, agent
//!   work), merged at the end without a lock per sample.
//! - [`interval`]: per-interval counts, samples and gauges (time series, HDR log).
//! - [`counters`]: chats by outcome, tickets, messages, articles, errors by code.
//! - [`rates`]: service level, abandon rate, occupancy, fairness.
//! - [`queues`]: the same figures by support queue.
//! - [`summary`]: the end-of-run [`Summary`] (`summary.json`).
//! - [`write`]: writing `summary.json` and `summary.csv`.

pub mod counters;
pub mod interval;
pub mod names;
pub mod queues;
pub mod rates;
pub mod recorder;
pub mod summary;
pub mod write;

pub use counters::Counters;
pub use interval::{Gauges, Timeline, default_interval, live_interval};
pub use names::{Clock, MetricName, RateName, Stat};
pub use queues::{ChatOutcome, QueueSummary};
pub use recorder::{AgentWork, Exact, MetricsError, Recorder};
pub use summary::{Elapsed, MetricSummary, Mode, RunInfo, Summary, WallClock};
pub use write::{CSV_HEADER, WriteError, read_summary, to_csv, write_summary};

#[cfg(test)]
mod tests;
