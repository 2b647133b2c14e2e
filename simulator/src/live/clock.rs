//! The live run's clock: real time since the run started, and scenario time (real time
//! multiplied by `time_scale`), so an hour of business can run in a minute.

use std::time::{Duration, Instant};

/// Shared by every task of a live run.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    start: Instant,
    time_scale: f64,
}

impl RunClock {
    /// A clock starting now.
    pub fn start(time_scale: f64) -> RunClock {
        RunClock {
            start: Instant::now(),
            time_scale: if time_scale > 0.0 { time_scale } else { 1.0 },
        }
    }

    /// Scenario time now.
    pub fn now(&self) -> Duration {
        self.to_scenario(self.start.elapsed())
    }

    /// Real time since the start, in microseconds (message stamps).
    pub fn real_micros(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Microseconds from the start to `at` (0 if before it).
    pub fn micros_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX)
    }

    /// The scenario time at which real instant `at` falls.
    pub fn scenario_at(&self, at: Instant) -> Duration {
        self.to_scenario(at.saturating_duration_since(self.start))
    }

    /// The real instant at which scenario time `t` falls.
    pub fn instant_of(&self, t: Duration) -> Instant {
        self.start + self.to_real(t)
    }

    /// A scenario duration in real time.
    pub fn to_real(&self, scenario: Duration) -> Duration {
        // Saturating: a huge duration or a tiny scale is "never", not a panic.
        Duration::try_from_secs_f64(scenario.as_secs_f64() / self.time_scale)
            .unwrap_or(Duration::MAX)
    }

    /// A real duration in scenario time.
    pub fn to_scenario(&self, real: Duration) -> Duration {
        Duration::try_from_secs_f64(real.as_secs_f64() * self.time_scale).unwrap_or(Duration::MAX)
    }
}
