//! Erlang C and Erlang A: the queueing-theory yardstick for capacity questions.
//!
//! - [`erlang_c`]: M/M/c — Poisson arrivals, exponential handle times, `c` servers,
//!   nobody leaves the queue. Probability of waiting, average speed of answer and the
//!   service level within a target, in closed form over the Erlang B recursion (no
//!   factorials, no powers: stable for thousands of servers).
//! - [`erlang_a`]: M/M/c+M — the same with exponential patience (Palm's model):
//!   probability of waiting, abandon rate, mean wait and the service level, from the
//!   stationary law of the birth-death chain solved in log space and the tagged
//!   customer's absorbing chain solved by uniformisation.
//! - [`staffing`]: how many agents a target service level needs.
//! - [`yardstick`]: when a scenario is Markovian, the analytic figures beside a run's
//!   simulated ones (`analytic.json`); otherwise why the formulas do not apply.
//!
//! Units: rates per second, durations in seconds. An agent "Available for N" under
//! auto-accept is N servers.

pub mod erlang_a;
pub mod erlang_c;
pub mod print;
pub mod staffing;
pub mod yardstick;

pub use erlang_a::erlang_a;
pub use erlang_c::{erlang_b, erlang_c};
pub use staffing::{StaffingRow, staffing_table};
pub use yardstick::{Analytic, Markovian, markovian};

use serde::Serialize;
use thiserror::Error;

/// Why the formulas cannot give an answer.
#[derive(Debug, Error, PartialEq)]
pub enum ErlangError {
    /// A parameter is out of range.
    #[error("{0}")]
    Invalid(String),
    /// Without abandonment the queue grows without bound.
    #[error(
        "offered load {load:.2} Erlangs needs more than {servers} servers: without abandonment the queue grows without bound"
    )]
    Unstable {
        /// Offered load in Erlangs.
        load: f64,
        /// Servers available.
        servers: u64,
    },
    /// The chain needed more states than the solver allows.
    #[error("the queue is too long to solve ({0} states)")]
    TooLarge(usize),
}

/// A Markovian contact centre: M/M/c, or M/M/c+M with `patience`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Model {
    /// Arrivals per second.
    pub arrival_rate: f64,
    /// Mean handle time, seconds.
    pub handle_time: f64,
    /// Servers (agents × slots).
    pub servers: u64,
    /// Mean patience, seconds; `None`: nobody abandons.
    pub patience: Option<f64>,
}

/// The analytic figures of a [`Model`] for a service-level target.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Figures {
    /// Offered load a = λ × mean handle time, in Erlangs.
    pub offered_load: f64,
    /// Probability that an arriving chat waits (all servers busy).
    pub p_wait: f64,
    /// Share of chats that abandon.
    pub abandon_rate: f64,
    /// Mean wait of the chats that are answered ("average speed of answer"), seconds.
    pub mean_wait_answered: f64,
    /// Mean wait of all chats (answered or abandoned), seconds.
    pub mean_wait_all: f64,
    /// Share of all chats answered within the target (abandoned chats count against).
    pub service_level: f64,
    /// Busy servers ÷ servers.
    pub occupancy: f64,
}

impl Model {
    /// Checks the parameters.
    pub fn new(
        arrival_rate: f64,
        handle_time: f64,
        servers: u64,
        patience: Option<f64>,
    ) -> Result<Model, ErlangError> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(arrival_rate) {
            return Err(ErlangError::Invalid(format!(
                "the arrival rate must be positive, not {arrival_rate}"
            )));
        }
        if !positive(handle_time) {
            return Err(ErlangError::Invalid(format!(
                "the mean handle time must be positive, not {handle_time}"
            )));
        }
        if servers == 0 {
            return Err(ErlangError::Invalid(
                "there must be at least one server".into(),
            ));
        }
        if let Some(p) = patience
            && !positive(p)
        {
            return Err(ErlangError::Invalid(format!(
                "the mean patience must be positive, not {p}"
            )));
        }
        Ok(Model {
            arrival_rate,
            handle_time,
            servers,
            patience,
        })
    }

    /// Offered load in Erlangs.
    pub fn offered_load(&self) -> f64 {
        self.arrival_rate * self.handle_time
    }

    /// The same model with `servers` servers.
    pub fn with_servers(&self, servers: u64) -> Model {
        Model { servers, ..*self }
    }

    /// Solves the model: Erlang C without patience, Erlang A with it.
    pub fn solve(&self, target: f64) -> Result<Figures, ErlangError> {
        match self.patience {
            None => erlang_c::figures(self, target),
            Some(_) => erlang_a::figures(self, target),
        }
    }
}

#[cfg(test)]
mod tests;
