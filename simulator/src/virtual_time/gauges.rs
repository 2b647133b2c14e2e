//! Sampling the Desk's gauges (queue depth, active chats, agents available, free
//! slots) at every interval boundary of virtual time, for `timeseries.csv`.

use super::VirtualRun;
use crate::metrics::Gauges;
use std::time::Duration;

impl VirtualRun {
    /// Samples the Desk at every interval boundary before `upto`. Called before the
    /// events at `upto` are processed, so a sample at a boundary is the state once
    /// everything that happens at that instant has happened: the first, at 0, has the
    /// agents who sign in at 0 signed in.
    pub(super) fn sample_gauges(&mut self, upto: Duration) {
        let len = self.rec.interval();
        while self.gauge_at < upto {
            let g = gauges(&self.desk);
            self.rec.gauges(self.gauge_at, g);
            self.gauge_at += len;
        }
    }
}

/// The Desk's gauges now.
pub(super) fn gauges(desk: &switchboard_server::domain::Desk) -> Gauges {
    let stats = desk.stats();
    let by_state = |s: &str| stats.chats_by_state.get(s).copied().unwrap_or(0) as u64;
    Gauges {
        // Waiting in a queue, or transferred (to a queue, an agent or a group) and not
        // yet taken.
        queued: by_state("queued") + by_state("transferred"),
        active_chats: by_state("active"),
        agents_available: stats
            .agents_by_status
            .get("available")
            .copied()
            .unwrap_or(0) as u64,
        free_slots: stats.free_slots as u64,
    }
}
