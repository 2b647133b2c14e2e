//! What the console shows while a live run goes on: lock-free counters every task
//! updates, and a progress bar (indicatif) redrawn a few times a second. Quiet when
//! stderr is not a terminal.

use super::clock::RunClock;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared by every task of a run.
pub struct Live {
    /// Users connected and not done.
    pub users_active: AtomicU64,
    /// Users who asked for a chat.
    pub offered: AtomicU64,
    /// Chats an agent joined.
    pub accepted: AtomicU64,
    /// Chats abandoned.
    pub abandoned: AtomicU64,
    /// Message latencies, log2 buckets of microseconds (for a rough p99 on screen; the
    /// report uses the exact HDR histograms).
    latency: [AtomicU64; 40],
}

impl Default for Live {
    fn default() -> Self {
        Live {
            users_active: AtomicU64::new(0),
            offered: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Live {
    /// Notes one message latency.
    pub fn latency(&self, micros: u64) {
        let b = (64 - micros.leading_zeros()) as usize;
        self.latency[b.min(39)].fetch_add(1, Ordering::Relaxed);
    }

    /// Upper bound of the bucket holding the 99th percentile, in milliseconds.
    pub fn p99_ms(&self) -> Option<f64> {
        let counts: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let mut seen = 0;
        for (b, n) in counts.iter().enumerate() {
            seen += n;
            if seen * 100 >= total * 99 {
                return Some((1u64 << b) as f64 / 1000.0);
            }
        }
        None
    }

    /// Chats waiting for an agent, as the users see it.
    pub fn waiting(&self) -> u64 {
        let o = self.offered.load(Ordering::Relaxed);
        o.saturating_sub(
            self.accepted.load(Ordering::Relaxed) + self.abandoned.load(Ordering::Relaxed),
        )
    }
}

/// Draws the bar until the returned handle is stopped.
pub fn show(live: Arc<Live>, clock: RunClock, real_total: Duration, name: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr_with_hz(4)
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(real_total.as_millis() as u64), target);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(name.to_string());
    let b = bar.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        while !b.is_finished() {
            tick.tick().await;
            let sim = clock.now().as_secs();
            let p99 = live
                .p99_ms()
                .map_or("-".to_string(), |v| format!("{v:.1}ms"));
            b.set_position(b.elapsed().as_millis() as u64);
            b.set_message(format!(
                "sim {:02}:{:02}:{:02} users {} waiting {} accepted {} abandoned {} msg p99≤{}",
                sim / 3600,
                sim / 60 % 60,
                sim % 60,
                live.users_active.load(Ordering::Relaxed),
                live.waiting(),
                live.accepted.load(Ordering::Relaxed),
                live.abandoned.load(Ordering::Relaxed),
                p99
            ));
        }
    });
    bar
}
