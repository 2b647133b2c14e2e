//! Staffing: how many agents (each "Available for `slots`") a service-level goal
//! needs, and the figures around that answer.

use super::{ErlangError, Figures, Model};
use serde::Serialize;

/// One line of a staffing table.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StaffingRow {
    /// Agents.
    pub agents: u64,
    /// Servers: agents × slots.
    pub servers: u64,
    /// The figures with that many agents.
    pub figures: Figures,
}

/// How far past the load the search for a goal goes. With a goal under 100% enough
/// agents always reach it (waits shrink to nothing), and square-root staffing puts the
/// answer a few times √load past the load: for 50 million Erlangs about 10,000 agents.
const SEARCH_SPAN: u64 = 100_000;

/// The most agents [`agents_needed`] tries for `model`: past the load, in agents, by
/// [`SEARCH_SPAN`]. (With patience the search starts below the load, but a goal
/// counts the abandoned against it, so it needs at least the goal's share of the load
/// in servers: the limit cannot start from the search's start.)
pub fn search_limit(model: &Model, slots: u64) -> u64 {
    let slots = slots.max(1);
    let load_in_agents = (model.offered_load() / slots as f64).ceil() as u64;
    first_agents(model, slots).max(load_in_agents) + SEARCH_SPAN
}

/// The fewest agents (of `slots` servers each) whose service level within `target`
/// seconds reaches `goal` (0..1), searching up to `limit` agents.
pub fn agents_needed(
    model: &Model,
    slots: u64,
    target: f64,
    goal: f64,
    limit: u64,
) -> Result<Option<u64>, ErlangError> {
    let meets = |agents: u64| -> Result<bool, ErlangError> {
        match model.with_servers(agents * slots).solve(target) {
            Ok(f) => Ok(f.service_level >= goal),
            Err(ErlangError::Unstable { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    };
    // The service level grows with the staffing: gallop up, then bisect.
    let mut lo = first_agents(model, slots);
    if meets(lo)? {
        // Already enough (with patience, fewer agents than the load can meet a modest
        // goal): bisect down instead. No agents never meet it.
        return bisect(0, lo, meets).map(Some);
    }
    let mut step = 1;
    let mut hi = lo + step;
    while !meets(hi)? {
        if hi >= limit {
            return Ok(None);
        }
        lo = hi;
        step *= 2;
        hi = (lo + step).min(limit);
    }
    bisect(lo, hi, meets).map(Some)
}

/// The fewest agents in `(short, enough]` that `meets`, given that `short` agents do
/// not and `enough` do (the service level grows with the staffing).
fn bisect(
    mut short: u64,
    mut enough: u64,
    meets: impl Fn(u64) -> Result<bool, ErlangError>,
) -> Result<u64, ErlangError> {
    while enough - short > 1 {
        let mid = short + (enough - short) / 2;
        if meets(mid)? {
            enough = mid;
        } else {
            short = mid;
        }
    }
    Ok(enough)
}

/// The smallest staffing worth showing: just stable without abandonment, and about
/// 70% of the load with it.
fn first_agents(model: &Model, slots: u64) -> u64 {
    let per_agent = model.offered_load() / slots.max(1) as f64;
    let n = match model.patience {
        None => per_agent.floor() + 1.0,
        Some(_) => (per_agent * 0.7).floor(),
    };
    (n as u64).max(1)
}

/// A staffing table: from the smallest sensible staffing to a couple of agents past
/// the one that reaches `goal` (at most `rows` lines).
pub fn staffing_table(
    model: &Model,
    slots: u64,
    target: f64,
    goal: f64,
    rows: usize,
) -> Result<Vec<StaffingRow>, ErlangError> {
    let slots = slots.max(1);
    let needed = agents_needed(model, slots, target, goal, search_limit(model, slots))?;
    let smallest = first_agents(model, slots).min(needed.unwrap_or(u64::MAX));
    let last = needed.map_or(smallest + rows as u64, |n| n + 2);
    let first = last.saturating_sub(rows as u64 - 1).max(smallest);
    let mut out = Vec::new();
    for agents in first..=last {
        let servers = agents * slots;
        match model.with_servers(servers).solve(target) {
            Ok(figures) => out.push(StaffingRow {
                agents,
                servers,
                figures,
            }),
            Err(ErlangError::Unstable { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
