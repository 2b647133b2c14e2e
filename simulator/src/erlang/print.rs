//! The text `switchboard erlang` prints: the figures for the given staffing and a
//! staffing table around the fewest agents that reach the goal.

use super::staffing::{agents_needed, search_limit, staffing_table};
use super::{ErlangError, Model};
use std::fmt::Write;

/// What the `erlang` subcommand was asked.
#[derive(Clone, Copy, Debug)]
pub struct Question {
    /// Arrivals per second.
    pub rate: f64,
    /// Mean handle time, seconds.
    pub handle_time: f64,
    /// Agents.
    pub agents: u64,
    /// Chats per agent at once (auto-accept "Available for N").
    pub slots: u64,
    /// Mean patience, seconds (Erlang A), or none (Erlang C).
    pub patience: Option<f64>,
    /// Service-level target, seconds.
    pub target: f64,
    /// Service-level goal for the staffing table, 0..1.
    pub goal: f64,
}

/// The figures and the staffing table, as text.
pub fn answer(q: &Question) -> Result<String, ErlangError> {
    if q.slots == 0 || q.agents == 0 {
        return Err(ErlangError::Invalid(
            "agents and slots must be at least 1".into(),
        ));
    }
    let most = u64::from(switchboard_server::domain::config::MAX_AVAILABLE_FOR);
    if q.slots > most {
        return Err(ErlangError::Invalid(format!(
            "slots are the chats an agent holds at once (\"Available for N\", R2): 1 to \
             {most}, got {}",
            q.slots
        )));
    }
    if !(0.0..1.0).contains(&q.goal) {
        return Err(ErlangError::Invalid(
            "the goal is a share from 0% up to, not including, 100% (no finite staff \
             answers every chat within the target)"
                .into(),
        ));
    }
    let model = Model::new(q.rate, q.handle_time, q.agents * q.slots, q.patience)?;
    let mut s = String::new();
    let kind = match q.patience {
        None => "Erlang C (M/M/c, nobody abandons)".to_string(),
        Some(p) => format!("Erlang A (M/M/c+M, exponential patience, mean {p}s)"),
    };
    let _ = writeln!(s, "{kind}");
    let _ = writeln!(
        s,
        "  arrivals {:.2}/h, mean handle time {}s: offered load {:.3} Erlangs",
        q.rate * 3600.0,
        q.handle_time,
        model.offered_load()
    );
    let _ = writeln!(
        s,
        "  {} agents x {} slot{} = {} servers, target {}s\n",
        q.agents,
        q.slots,
        if q.slots == 1 { "" } else { "s" },
        model.servers,
        q.target
    );
    match model.solve(q.target) {
        Ok(f) => {
            let _ = writeln!(s, "  probability of waiting     {:>9.2}%", f.p_wait * 100.0);
            // Labels are 27 wide, whatever the target's digits.
            let label = format!("service level (<= {}s)", q.target);
            let _ = writeln!(s, "  {label:<27}{:>9.2}%", f.service_level * 100.0);
            let _ = writeln!(
                s,
                "  average speed of answer    {:>9.2}s",
                f.mean_wait_answered
            );
            let _ = writeln!(s, "  mean wait (all chats)      {:>9.2}s", f.mean_wait_all);
            let _ = writeln!(
                s,
                "  abandon rate               {:>9.2}%",
                f.abandon_rate * 100.0
            );
            let _ = writeln!(
                s,
                "  occupancy                  {:>9.2}%",
                f.occupancy * 100.0
            );
        }
        Err(e @ ErlangError::Unstable { .. }) => {
            let _ = writeln!(s, "  {e}");
        }
        Err(e) => return Err(e),
    }
    let limit = search_limit(&model, q.slots);
    let needed = agents_needed(&model, q.slots, q.target, q.goal, limit)?;
    let _ = writeln!(
        s,
        "\nStaffing for {}% within {}s: {}",
        goal_percent(q.goal),
        q.target,
        match needed {
            Some(n) => format!("{n} agents ({} servers)", n * q.slots),
            None => format!("not found within {limit} agents (the search stops there)"),
        }
    );
    let _ = writeln!(
        s,
        "  {:>7} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "agents", "servers", "P(wait)", "SL", "ASA", "abandon", "occupancy"
    );
    for r in staffing_table(&model, q.slots, q.target, q.goal, 12)? {
        let f = r.figures;
        let mark = if Some(r.agents) == needed { " <" } else { "" };
        let _ = writeln!(
            s,
            "  {:>7} {:>8} {:>9.2}% {:>9.2}% {:>9.2}s {:>9.2}% {:>9.2}%{mark}",
            r.agents,
            r.servers,
            f.p_wait * 100.0,
            f.service_level * 100.0,
            f.mean_wait_answered,
            f.abandon_rate * 100.0,
            f.occupancy * 100.0
        );
    }
    Ok(s)
}

/// A goal as a percentage with the decimals it was given (99.9, not 100; 80, not
/// 80.0000).
fn goal_percent(goal: f64) -> String {
    let text = format!("{:.6}", goal * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
