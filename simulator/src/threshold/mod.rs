//! Pass/fail conditions over a run's summary, written in a scenario's `[thresholds]`:
//! `"accept_wait.p95" = "< 60s"`, `"abandon_rate" = "< 5%"`, `"chats.lost" = "== 0"`.
//!
//! A threshold names a metric statistic (`<metric>.<stat>`), a rate
//! (`service_level`, `abandon_rate`, `occupancy`, `fairness`) or a counter
//! (`chats.offered`, `errors`, `errors.<code>`, …), or one of those for one support
//! queue's users (`queues.<queue>.service_level`, `queues.<queue>.accept_wait.p95`,
//! `queues.<queue>.chats.abandoned`, …), an operator (`<`, `<=`, `>`, `>=`,
//! `==`) and a value whose unit must fit: durations (`60s`, `25ms`) for time
//! statistics, a percentage (`5%`) or fraction (`0.05`) for rates, a plain number for
//! counts. Parsing is in [`parse`], evaluation against a summary in [`eval`].

pub mod eval;
pub mod parse;

pub use eval::ThresholdResult;
pub use parse::{Op, QueueFigure, Subject, Threshold, ValueUnit};
