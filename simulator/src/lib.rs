//! Switchboard simulator: scenario files, distributions, metrics and reports for
//! load-testing live-chat routing.
//!
//! A run: [`run`] drives one scenario, from the loaded file to the report folder.
//!
//! - [`cast`]: turns a scenario into the Desk's set-up and the participants' plans.
//! - [`behaviour`]: the virtual users and agents, state machines both modes drive.
//! - [`live`]: live mode, one tokio task and WebSocket per participant.
//! - [`virtual_time`]: virtual time, a discrete-event loop against the Desk itself.
//! - [`history`]: what every participant sent and received (`history.jsonl`).
//! - [`checker`]: the routing invariants over the history and the server's journal.
//! - [`console`]: the end-of-run summary printed on the console.
//!
//! What they rest on:
//!
//! - [`scenario`]: the scenario file format, its validation and `--set` overrides.
//! - [`dist`]: distributions, rates and arrival schedules, sampled from seeded RNGs.
//! - [`seed`]: per-participant seeds derived from one master seed.
//! - [`metrics`]: metric names, per-task HDR recorders, counters, rates and summaries.
//! - [`threshold`]: pass/fail conditions over a summary.
//! - [`report`]: time series, HDR interval log, plots and the HTML report of a run.
//! - [`folder`]: report folders, claimed fresh and taken back when a run fails.
//! - [`compare`]: variants × replications on common random numbers.
//! - [`erlang`]: Erlang C / Erlang A and the analytic yardstick of Markovian runs.
//! - [`event_queue`]: timed events in order, for virtual time and live tasks' timers.
//! - [`host`]: what the machine did besides a run (steal time, other processes).

pub mod behaviour;
pub mod cast;
pub mod checker;
pub mod compare;
pub mod console;
pub mod dist;
pub mod erlang;
pub mod event_queue;
pub mod folder;
pub mod history;
pub mod host;
pub mod live;
pub mod metrics;
pub mod report;
pub mod run;
pub mod scenario;
pub mod seed;
pub mod threshold;
pub mod virtual_time;
