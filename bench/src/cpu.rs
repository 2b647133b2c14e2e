//! CPU time of this process's threads, grouped by thread name, read from
//! `/proc/self/task/*/schedstat` (Linux; elsewhere every figure is absent).
//!
//! The load client and the target share the machine, so a latency figure only
//! describes the target while the client has CPU to spare. Sampling both sides' threads
//! around each step shows which one was busy: a client near one full core per worker
//! thread is measuring itself.

use std::collections::HashMap;
use std::time::Instant;

/// Nanoseconds on CPU of every thread (by id, with its name), at one instant.
pub struct CpuSample {
    at: Instant,
    threads: HashMap<u64, (String, u64)>,
}

impl CpuSample {
    /// Reads every thread's CPU time now; `None` where `/proc` cannot tell.
    pub fn now() -> Option<CpuSample> {
        let at = Instant::now();
        let mut threads = HashMap::new();
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            let path = task.path();
            // A thread may end between listing and reading: skip it.
            let (Ok(name), Ok(stat)) = (
                std::fs::read_to_string(path.join("comm")),
                std::fs::read_to_string(path.join("schedstat")),
            ) else {
                continue;
            };
            let Some(ns) = stat
                .split_whitespace()
                .next()
                .and_then(|f| f.parse::<u64>().ok())
            else {
                continue;
            };
            threads.insert(tid, (name.trim().to_string(), ns));
        }
        Some(CpuSample { at, threads })
    }

    /// Cores the threads named `name` used on average between `earlier` and this
    /// sample (1.0 = one core busy all the time): each thread's own difference, a
    /// thread that started in between counted from zero. A thread that ended in
    /// between is missing from this sample, and so is its last stretch of CPU.
    pub fn cores_since(&self, earlier: &CpuSample, name: &str) -> f64 {
        let wall = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        let ns: u64 = self
            .threads
            .iter()
            .filter(|(_, (n, _))| n == name)
            .map(|(tid, (_, now))| {
                let then = earlier.threads.get(tid).map_or(0, |(_, t)| *t);
                now.saturating_sub(then)
            })
            .sum();
        ns as f64 / 1e9 / wall
    }
}

#[cfg(test)]
mod tests {
    use super::CpuSample;

    #[test]
    fn a_busy_thread_shows_up_by_name() {
        let Some(before) = CpuSample::now() else {
            return; // No /proc here: nothing to check.
        };
        // The thread spins until both samples are taken, however the machine schedules it.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinning = std::sync::Arc::clone(&stop);
        let spin = std::thread::Builder::new()
            .name("cpu-test-spin".into())
            .spawn(move || {
                let mut x = 0u64;
                while !spinning.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(150));
        let after = CpuSample::now().expect("proc was readable a moment ago");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spin.join().expect("spin thread");
        let cores = after.cores_since(&before, "cpu-test-spin");
        assert!(cores > 0.0 && cores <= 1.05, "{cores}");
        assert_eq!(after.cores_since(&before, "no-such-thread"), 0.0);
    }
}
