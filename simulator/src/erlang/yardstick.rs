//! The analytic yardstick of a run: when a scenario is Markovian — Poisson arrivals,
//! exponential handle time, exponential or no patience, one queue, agents with the same
//! handle-time law under auto-accept (none accepting by hand), no transfers, no injected
//! faults — it is an M/M/c (+M) queue with
//! `c` = Σ count × available_for, and Erlang C / Erlang A give its steady-state
//! figures. `analytic.json` (beside `summary.json`) holds them next to the simulated
//! ones, or says why the formulas do not apply.

use super::{ErlangError, Figures, Model};
use crate::dist::{Arrival, Shape};
use crate::metrics::{MetricName, Summary};
use crate::scenario::Scenario;
use serde::Serialize;
use std::path::Path;

/// A scenario recognised as an M/M/c (+M) queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Markovian {
    /// Kendall notation: `M/M/c` or `M/M/c+M`.
    pub kendall: &'static str,
    /// The queue's parameters.
    pub model: Model,
    /// Agents serving the queue.
    pub agents: u64,
    /// The service-level target, seconds.
    pub target: f64,
}

/// Whether `scenario` is Markovian; if not, every reason why.
pub fn markovian(scenario: &Scenario) -> Result<Markovian, Vec<String>> {
    let mut why = Vec::new();
    if !scenario.routing.auto_accept() {
        why.push(
            "auto-accept is off: agents pull chats after their own reaction delay".to_string(),
        );
    }
    let mut queues: Vec<&str> = scenario.users.iter().map(|u| u.queue.as_str()).collect();
    queues.sort_unstable();
    queues.dedup();
    if queues.len() != 1 {
        why.push(format!(
            "users ask {} queues; the formulas describe one",
            queues.len()
        ));
    }
    let mut rate = 0.0;
    for u in &scenario.users {
        match &u.arrival {
            Arrival::Poisson(r) => rate += r.per_second(),
            other => why.push(format!(
                "users `{}` arrive as `{other}`, not a steady Poisson process",
                u.name()
            )),
        }
    }
    let mut patience: Option<Option<f64>> = None;
    for u in &scenario.users {
        let p = match &u.patience {
            None => None,
            Some(d) => match d.dist().shape() {
                Shape::Exp { mean } => Some(mean),
                _ => {
                    why.push(format!(
                        "users `{}` have patience `{d}`, not exponential",
                        u.name()
                    ));
                    continue;
                }
            },
        };
        match patience {
            None => patience = Some(p),
            Some(q) if q != p => why.push(
                "user streams have different patience: no single abandonment rate".to_string(),
            ),
            Some(_) => {}
        }
    }
    let queue = queues.first().copied().unwrap_or("");
    let serving: Vec<_> = scenario
        .agents
        .iter()
        .filter(|g| g.queues.iter().any(|q| q == queue))
        .collect();
    if serving.is_empty() {
        why.push(format!("no agent group serves queue `{queue}`"));
    }
    let mut handle: Option<f64> = None;
    let mut agents = 0u64;
    let mut servers = 0u64;
    for g in &serving {
        agents += u64::from(g.count);
        servers += u64::from(g.count) * u64::from(g.available_for);
        match &g.handle_time {
            None => why.push(format!(
                "agents `{}` have no handle_time: chat length follows the conversation, not an exponential law",
                g.group
            )),
            Some(d) => match d.dist().shape() {
                Shape::Exp { mean } => {
                    if handle.is_some_and(|h| h != mean) {
                        why.push("agent groups have different mean handle times".to_string());
                    }
                    handle = Some(mean);
                }
                _ => why.push(format!(
                    "agents `{}` have handle_time `{d}`, not exponential",
                    g.group
                )),
            },
        }
        if g.transfer.as_ref().is_some_and(|t| t.probability > 0.0) {
            why.push(format!("agents `{}` transfer chats", g.group));
        }
        if g.manual_accept {
            why.push(format!(
                "agents `{}` accept by hand (manual_accept): they pull chats after their own reaction delay",
                g.group
            ));
        }
    }
    let f = &scenario.faults;
    let injected: Vec<&str> = [
        ("drop_probability", f.drop_probability > 0.0),
        ("abandon_on_join", f.abandon_on_join > 0.0),
        ("accept_burst", f.accept_burst),
        ("transfer_close_race", f.transfer_close_race > 0.0),
        (
            "availability_flip_every",
            f.availability_flip_every.is_some(),
        ),
        (
            "slow_consumer_probability",
            f.slow_consumer_probability > 0.0,
        ),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    if !injected.is_empty() {
        why.push(format!(
            "faults are injected ({}): the formulas assume none",
            injected.join(", ")
        ));
    }
    if !why.is_empty() {
        return Err(why);
    }
    let patience = patience.flatten();
    let model = Model::new(rate, handle.unwrap_or(0.0), servers, patience)
        .map_err(|e| vec![e.to_string()])?;
    Ok(Markovian {
        kendall: if patience.is_some() {
            "M/M/c+M"
        } else {
            "M/M/c"
        },
        model,
        agents,
        target: scenario.service_level_target.as_secs_f64(),
    })
}

/// The simulated figures the analytic ones are compared with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Simulated {
    /// Chats offered.
    pub offered: u64,
    /// Accepted within the target ÷ offered.
    pub service_level: Option<f64>,
    /// Abandoned ÷ offered.
    pub abandon_rate: Option<f64>,
    /// Mean accept_wait of accepted chats, seconds.
    pub mean_wait_answered: Option<f64>,
    /// Busy ÷ offered slot time over the whole run (drain included).
    pub occupancy: Option<f64>,
}

/// What `analytic.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analytic {
    /// Whether the scenario is Markovian and the figures could be computed.
    pub applies: bool,
    /// Why not, when it does not apply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The queue the scenario was recognised as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<Markovian>,
    /// Steady-state figures from Erlang C / Erlang A.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytic: Option<Figures>,
    /// The steady-state occupancy diluted over the run (arrivals for `duration`, then
    /// the drain with none): what the run's occupancy should approach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytic_occupancy_over_run: Option<f64>,
    /// The run's figures.
    pub simulated: Simulated,
    /// How to read the comparison.
    pub note: &'static str,
}

const NOTE: &str = "Analytic figures are steady-state; the run starts empty and ends with a drain, so expect small differences on short runs. Occupancy compares with analytic_occupancy_over_run.";

impl Analytic {
    /// The analytic figures of `scenario` beside the simulated ones of `summary`.
    pub fn of(scenario: &Scenario, summary: &Summary) -> Analytic {
        let simulated = Simulated {
            offered: summary.counters.chats.offered,
            service_level: summary.service_level,
            abandon_rate: summary.abandon_rate,
            mean_wait_answered: summary
                .metrics
                .get(MetricName::AcceptWait)
                .and_then(|m| m.mean)
                .map(|ms| ms / 1000.0),
            occupancy: summary.occupancy,
        };
        let (queue, figures, reasons) = match markovian(scenario) {
            Err(reasons) => (None, None, reasons),
            Ok(m) => match m.model.solve(m.target) {
                Ok(f) => (Some(m), Some(f), Vec::new()),
                Err(e @ ErlangError::Unstable { .. }) => (Some(m), None, vec![e.to_string()]),
                Err(e) => (Some(m), None, vec![e.to_string()]),
            },
        };
        // The run's own length: it ends at the horizon or, once arrivals are over, when
        // the last user leaves (or sooner if it was interrupted). A summary that does
        // not say (no elapsed time) is taken to have run to the horizon.
        let ran = match summary.elapsed.scenario_seconds {
            s if s > 0.0 => s,
            _ => scenario.horizon().as_secs_f64(),
        };
        let arriving = scenario.duration.as_secs_f64().min(ran);
        Analytic {
            applies: figures.is_some(),
            reasons,
            queue,
            analytic_occupancy_over_run: figures
                .filter(|_| ran > 0.0)
                .map(|f| f.occupancy * arriving / ran),
            analytic: figures,
            simulated,
            note: NOTE,
        }
    }

    /// Writes `analytic.json` into `out`.
    pub fn write(&self, out: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(out.join("analytic.json"), text + "\n")
    }

    /// The console table: analytic beside simulated, or why there is none.
    pub fn render(&self) -> String {
        let (Some(q), Some(f)) = (&self.queue, &self.analytic) else {
            let mut s = String::from("Erlang yardstick: the formulas do not apply:\n");
            for r in &self.reasons {
                s.push_str(&format!("  - {r}\n"));
            }
            return s;
        };
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", v * 100.0));
        let secs = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}s"));
        let sim = &self.simulated;
        let mut s = format!(
            "Erlang yardstick ({}, c = {} servers, a = {:.2} Erlangs, target {}s):\n",
            q.kendall, q.model.servers, f.offered_load, q.target
        );
        s.push_str(&format!(
            "  {:<22}{:>12}{:>12}\n",
            "", "analytic", "simulated"
        ));
        let mut row = |name: &str, a: String, b: String| {
            s.push_str(&format!("  {name:<22}{a:>12}{b:>12}\n"));
        };
        row(
            "service_level",
            pct(Some(f.service_level)),
            pct(sim.service_level),
        );
        row(
            "abandon_rate",
            pct(Some(f.abandon_rate)),
            pct(sim.abandon_rate),
        );
        row(
            "accept_wait mean",
            secs(Some(f.mean_wait_answered)),
            secs(sim.mean_wait_answered),
        );
        row(
            "occupancy (over run)",
            pct(self.analytic_occupancy_over_run),
            pct(sim.occupancy),
        );
        row("P(wait)", pct(Some(f.p_wait)), "-".into());
        s
    }
}
