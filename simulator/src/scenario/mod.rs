//! Scenario files: what to simulate (queues, agent groups, user streams, routing),
//! for how long, and what counts as passing.
//!
//! - [`model`]: the data model serde reads (unknown fields refused).
//! - [`load`]: reading a file with `--set` overrides into a valid [`Scenario`], or
//!   [`Diagnostic`]s naming file, line, column and field.
//! - [`validate`]: cross-field rules.
//! - [`overrides`]: `--set key=value`.
//! - [`location`]: field paths, spans and line/column.
//!
//! The reference for the format is `docs/scenarios.md`.

pub mod error;
pub mod load;
pub mod location;
pub mod model;
pub mod overrides;
pub mod validate;

pub use error::{Diagnostic, Origin, ScenarioError};
pub use load::{load, parse};
pub use model::{
    AgentGroup, FaultSpec, QueueSpec, RoutingSpec, Scenario, Thresholds, TicketSpec, TransferSpec,
    UserStream,
};
pub use overrides::{Override, valid_keys};

use crate::dist::ArrivalSchedule;
use crate::seed::{derive_seed, rng_for};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::time::Duration;
use switchboard_server::domain::RoutingConfig;

impl Scenario {
    /// Reads and validates the file at `path` with `overrides` applied.
    pub fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
        load(path, overrides)
    }

    /// Parses and validates scenario text; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        parse(text, file, &[])
    }

    /// What the scenario probably does not mean, though valid (see
    /// [`validate::advisories`]).
    pub fn advisories(&self) -> Vec<String> {
        validate::advisories(self)
    }

    /// What a virtual run of the scenario ignores (see
    /// [`validate::unmodelled_in_virtual_time`]).
    pub fn unmodelled_in_virtual_time(&self) -> Vec<String> {
        validate::unmodelled_in_virtual_time(self)
    }

    /// The scenario as virtual time runs it: without the transport faults it does not
    /// model. A stall nobody waits for would still take draws from its agent's
    /// generator and shift every later one (accept delays, the chat pulled, flips,
    /// reconnects), so a setting that changes nothing must not be drawn at all.
    pub fn in_virtual_time(&self) -> Scenario {
        let mut s = self.clone();
        s.faults.outbound_queue = None;
        s.faults.slow_consumer_probability = 0.0;
        s
    }

    /// The Desk's routing configuration.
    pub fn routing_config(&self) -> RoutingConfig {
        self.routing.to_config()
    }

    /// Arrivals plus drain: the longest the run lasts, in scenario time.
    pub fn horizon(&self) -> Duration {
        self.duration.saturating_add(self.drain)
    }

    /// Agents over all groups.
    pub fn agent_count(&self) -> u64 {
        self.agents.iter().map(|g| u64::from(g.count)).sum()
    }

    /// The expected number of users over all streams.
    pub fn expected_users(&self) -> f64 {
        self.users
            .iter()
            .map(|u| u.arrival.expected_count(self.duration))
            .sum()
    }

    /// The name of agent `i` (from 0) of `group`: `tier1-1`, `tier1-2`, …
    pub fn agent_name(group: &AgentGroup, i: u32) -> String {
        format!("{}-{}", group.group, u64::from(i) + 1)
    }

    /// The arrival times of user stream `stream` (scenario time since start), drawn
    /// from the scenario's seed; `None` if there is no such stream.
    pub fn arrival_schedule(&self, stream: usize) -> Option<ArrivalSchedule<ChaCha8Rng>> {
        let u = self.users.get(stream)?;
        let rng = rng_for(self.seed, &format!("users/{}/arrivals", u.name()), 0);
        Some(ArrivalSchedule::new(&u.arrival, self.duration, rng))
    }

    /// The generator of user `n` (in arrival order) of stream `stream`.
    pub fn user_rng(&self, stream: usize, n: u64) -> ChaCha8Rng {
        let name = self.users.get(stream).map_or("?", |u| u.name());
        rng_for(self.seed, &format!("users/{name}"), n)
    }

    /// The generator of agent `i` of group `group`.
    pub fn agent_rng(&self, group: usize, i: u32) -> ChaCha8Rng {
        let name = self.agents.get(group).map_or("?", |g| g.group.as_str());
        rng_for(self.seed, &format!("agents/{name}"), u64::from(i))
    }

    /// A generator for anything else (the Desk's `random` policy, …), by purpose.
    pub fn rng(&self, purpose: &str) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(derive_seed(self.seed, purpose, 0))
    }

    /// The agent groups (their indexes) a chat asked in `queue` can reach: those
    /// serving the queue; those a planned transfer of theirs leads to (by name, or
    /// serving the queue transferred to: only the first agent plans a transfer, so one
    /// step); and, with `faults.transfer_close_race`, wherever a transfer racing the
    /// user's close leads from any group reached (the group's transfer target, planned
    /// or not, else its first queue), step after step.
    pub fn groups_reached_from(&self, queue: &str) -> Vec<usize> {
        let serves = |g: &AgentGroup, q: &str| g.queues.iter().any(|x| x == q);
        let led_to = |to_group: Option<&str>, to_queue: Option<&str>, h: &AgentGroup| {
            to_group == Some(h.group.as_str()) || to_queue.is_some_and(|q| serves(h, q))
        };
        let mut reached: Vec<bool> = self.agents.iter().map(|g| serves(g, queue)).collect();
        let first: Vec<usize> = (0..self.agents.len()).filter(|&i| reached[i]).collect();
        for &i in &first {
            let Some(t) = self.agents[i]
                .transfer
                .as_ref()
                .filter(|t| t.probability > 0.0)
            else {
                continue;
            };
            for (j, h) in self.agents.iter().enumerate() {
                reached[j] |= led_to(t.to_agent_group.as_deref(), t.to_queue.as_deref(), h);
            }
        }
        if self.faults.transfer_close_race > 0.0 {
            loop {
                let mut grew = false;
                for i in 0..self.agents.len() {
                    if !reached[i] {
                        continue;
                    }
                    let g = &self.agents[i];
                    let (to_group, to_queue) = match &g.transfer {
                        Some(t) => (t.to_agent_group.as_deref(), t.to_queue.as_deref()),
                        None => (None, g.queues.first().map(String::as_str)),
                    };
                    for (j, h) in self.agents.iter().enumerate() {
                        if !reached[j] && led_to(to_group, to_queue, h) {
                            reached[j] = true;
                            grew = true;
                        }
                    }
                }
                if !grew {
                    break;
                }
            }
        }
        (0..self.agents.len()).filter(|&i| reached[i]).collect()
    }

    /// The scenario as run, for `summary.json`: overrides applied, defaults and the
    /// derived `auto_accept` filled in.
    pub fn resolved(&self) -> serde_json::Value {
        let mut s = self.clone();
        s.routing.auto_accept = Some(self.routing.auto_accept());
        serde_json::to_value(&s).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests;
