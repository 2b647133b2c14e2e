//! Erlang B and Erlang C (M/M/c) through the Erlang B recursion
//! `B(0) = 1, B(k) = a·B(k-1) / (k + a·B(k-1))`, which only ever divides numbers
//! between 0 and 1 — no factorials or powers that overflow for large `c`.

use super::{ErlangError, Figures, Model};

/// Erlang B: the blocking probability of `servers` servers offered `load` Erlangs.
pub fn erlang_b(servers: u64, load: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=servers {
        b = load * b / (k as f64 + load * b);
    }
    b
}

/// Erlang C: the probability that an arrival waits, with `servers` servers offered
/// `load` Erlangs; `None` when `load >= servers` (no steady state).
pub fn erlang_c(servers: u64, load: f64) -> Option<f64> {
    let c = servers as f64;
    if load >= c {
        return None;
    }
    let b = erlang_b(servers, load);
    Some(c * b / (c - load * (1.0 - b)))
}

/// The M/M/c figures of `model` (its patience is ignored) for a target of `target`
/// seconds.
pub fn figures(model: &Model, target: f64) -> Result<Figures, ErlangError> {
    let a = model.offered_load();
    let p_wait = erlang_c(model.servers, a).ok_or(ErlangError::Unstable {
        load: a,
        servers: model.servers,
    })?;
    let mu = 1.0 / model.handle_time;
    // Waits are exponential with rate cμ - λ, given that the chat waits.
    let drain = model.servers as f64 * mu - model.arrival_rate;
    let asa = p_wait / drain;
    Ok(Figures {
        offered_load: a,
        p_wait,
        abandon_rate: 0.0,
        mean_wait_answered: asa,
        mean_wait_all: asa,
        service_level: 1.0 - p_wait * (-drain * target.max(0.0)).exp(),
        occupancy: a / model.servers as f64,
    })
}
