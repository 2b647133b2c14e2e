//! CPU time of this process's threads, grouped by thread name, read from
//! `/proc/self/task/*/schedstat`, and what else took CPU from them (steal time and
//! other processes, [`switchboard_sim::host`]) (Linux; elsewhere every figure is
//! absent).
//!
//! The load client and the target share the machine, so a latency figure only
//! describes the target while the client has CPU to spare. Sampling both sides' threads
//! around each step shows which one was busy: a client near one full core per worker
//! thread is measuring itself. And a figure only describes this process while nothing
//! else took its CPU: the hypervisor (steal time, on a virtual machine) or other
//! processes ([`switchboard_sim::host`]).

use std::collections::HashMap;
use std::time::Instant;
use switchboard_sim::host::{HostSample, Interference, numbered};

/// Nanoseconds on CPU and waiting for a CPU of every thread (by id, with its name),
/// and what the machine did besides this process, at one instant.
pub struct CpuSample {
    at: Instant,
    threads: HashMap<u64, Thread>,
    host: HostSample,
}

struct Thread {
    name: String,
    /// Time on a CPU.
    ran_ns: u64,
    /// Time ready to run but waiting for a CPU.
    waited_ns: u64,
}

impl CpuSample {
    /// Reads every thread's CPU time now; `None` where `/proc` cannot tell.
    pub fn now() -> Option<CpuSample> {
        // The machine's figures first: the threads' are read right after `at`.
        let host = HostSample::now();
        let at = Instant::now();
        let mut threads = HashMap::new();
        for (tid, path) in numbered(std::path::Path::new("/proc/self/task"))? {
            // A thread may end between listing and reading: skip it.
            let (Ok(name), Ok(stat)) = (
                std::fs::read_to_string(path.join("comm")),
                std::fs::read_to_string(path.join("schedstat")),
            ) else {
                continue;
            };
            // `schedstat`: time on CPU, time waiting on a run queue, timeslices.
            let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().ok());
            let (Some(Some(ran_ns)), Some(Some(waited_ns))) = (fields.next(), fields.next()) else {
                continue;
            };
            threads.insert(
                tid,
                Thread {
                    name: name.trim().to_string(),
                    ran_ns,
                    waited_ns,
                },
            );
        }
        Some(CpuSample { at, threads, host })
    }

    fn wall_secs(&self, earlier: &CpuSample) -> f64 {
        self.at.saturating_duration_since(earlier.at).as_secs_f64()
    }

    /// Nanoseconds `field` of the threads `pick` accepts grew by since `earlier` (a
    /// thread that started in between counted from zero).
    fn grown_ns(
        &self,
        earlier: &CpuSample,
        pick: impl Fn(&Thread) -> bool,
        field: impl Fn(&Thread) -> u64,
    ) -> u64 {
        self.threads
            .iter()
            .filter(|(_, t)| pick(t))
            .map(|(tid, t)| {
                let then = earlier.threads.get(tid).map_or(0, &field);
                field(t).saturating_sub(then)
            })
            .sum()
    }

    /// What the machine did besides this process between `earlier` and this sample;
    /// `None` where `/proc` cannot tell.
    pub fn interference_since(&self, earlier: &CpuSample) -> Option<Interference> {
        self.host.interference_since(&earlier.host)
    }

    /// Cores' worth of time this process's threads were ready to run but waited for a
    /// CPU. Reported, not counted as interference: with as many threads as cores it is
    /// mostly the scheduler running a woken thread on its waker's core until the waker
    /// sleeps (0.1–0.4 core at low rates on a quiet machine), the run's own doing.
    pub fn waited_cores_since(&self, earlier: &CpuSample) -> f64 {
        let wall = self.wall_secs(earlier);
        if wall <= 0.0 {
            return 0.0;
        }
        self.grown_ns(earlier, |_| true, |t| t.waited_ns) as f64 / 1e9 / wall
    }

    /// Cores the threads named `name` used on average between `earlier` and this
    /// sample (1.0 = one core busy all the time): each thread's own difference, a
    /// thread that started in between counted from zero. A thread that ended in
    /// between is missing from this sample, and so is its last stretch of CPU.
    pub fn cores_since(&self, earlier: &CpuSample, name: &str) -> f64 {
        let wall = self.wall_secs(earlier);
        if wall <= 0.0 {
            return 0.0;
        }
        let ns = self.grown_ns(earlier, |t| t.name == name, |t| t.ran_ns);
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
