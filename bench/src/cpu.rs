//! CPU time of this process's threads, grouped by thread name, read from
//! `/proc/self/task/*/schedstat`, and what else took CPU from them, read from
//! `/proc/stat` (Linux; elsewhere every figure is absent).
//!
//! The load client and the target share the machine, so a latency figure only
//! describes the target while the client has CPU to spare. Sampling both sides' threads
//! around each step shows which one was busy: a client near one full core per worker
//! thread is measuring itself. And a figure only describes this process while nothing
//! else took its CPU: the hypervisor (steal time, on a virtual machine), other
//! processes, or this process's own threads queueing for a core ([`Interference`]).

use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// Cores' worth of interference at or above which a step counts as disturbed: a tenth
/// of a core taken from a process that runs one thread per core changes its figures
/// by more than runs on a quiet machine differ.
pub const DISTURBED_CORES: f64 = 0.1;

/// `/proc/stat` counts in USER_HZ ticks, 100 per second on every Linux platform.
const NS_PER_TICK: f64 = 1e7;

/// Nanoseconds on CPU and waiting for a CPU of every thread (by id, with its name),
/// and the machine's CPU accounting, at one instant.
pub struct CpuSample {
    at: Instant,
    threads: HashMap<u64, Thread>,
    machine: Option<MachineTicks>,
}

struct Thread {
    name: String,
    /// Time on a CPU.
    ran_ns: u64,
    /// Time ready to run but waiting for a CPU.
    waited_ns: u64,
}

/// The machine's CPU time so far, from the first line of `/proc/stat`.
#[derive(Clone, Copy)]
struct MachineTicks {
    /// user + nice + system + irq + softirq (guest time is inside user).
    busy: u64,
    /// Time the hypervisor ran something else while this machine's CPUs wanted to run.
    steal: u64,
}

impl MachineTicks {
    fn read() -> Option<MachineTicks> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        MachineTicks::parse(stat.lines().next()?)
    }

    /// `cpu  user nice system idle iowait irq softirq steal …`
    fn parse(line: &str) -> Option<MachineTicks> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let v: Vec<u64> = fields.map_while(|f| f.parse().ok()).collect();
        let field = |i: usize| v.get(i).copied();
        Some(MachineTicks {
            busy: field(0)? + field(1)? + field(2)? + field(5)? + field(6)?,
            steal: field(7)?,
        })
    }
}

/// What took CPU from this process during an interval, in cores (1.0 = one core for
/// the whole interval).
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Interference {
    /// Steal time: the hypervisor ran other guests on this machine's CPUs.
    pub stolen_cores: f64,
    /// CPU that other processes on this machine used (the machine's busy time less this
    /// process's; the machine's is counted in 10 ms ticks, so a few hundredths of a
    /// core either way are sampling).
    pub others_cores: f64,
    /// Time this process's threads were ready to run but waited for a CPU.
    pub waited_cores: f64,
}

impl Interference {
    /// All of it together.
    pub fn total_cores(&self) -> f64 {
        self.stolen_cores + self.others_cores + self.waited_cores
    }

    /// Whether it was enough to change the figures ([`DISTURBED_CORES`]).
    pub fn disturbed(&self) -> bool {
        self.total_cores() >= DISTURBED_CORES
    }
}

impl CpuSample {
    /// Reads every thread's CPU time now; `None` where `/proc` cannot tell.
    pub fn now() -> Option<CpuSample> {
        let at = Instant::now();
        let machine = MachineTicks::read();
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
        Some(CpuSample {
            at,
            threads,
            machine,
        })
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

    /// What took CPU from this process between `earlier` and this sample; `None` where
    /// `/proc/stat` cannot tell.
    pub fn interference_since(&self, earlier: &CpuSample) -> Option<Interference> {
        let wall = self.wall_secs(earlier);
        let (now, then) = (self.machine?, earlier.machine?);
        if wall <= 0.0 {
            return None;
        }
        let cores = |ns: f64| ns / 1e9 / wall;
        let busy_ns = now.busy.saturating_sub(then.busy) as f64 * NS_PER_TICK;
        let own_ns = self.grown_ns(earlier, |_| true, |t| t.ran_ns) as f64;
        Some(Interference {
            stolen_cores: cores(now.steal.saturating_sub(then.steal) as f64 * NS_PER_TICK),
            others_cores: cores((busy_ns - own_ns).max(0.0)),
            waited_cores: cores(self.grown_ns(earlier, |_| true, |t| t.waited_ns) as f64),
        })
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
    use super::{CpuSample, Interference, MachineTicks};

    #[test]
    fn the_machine_line_of_proc_stat_gives_busy_and_steal_ticks() {
        let t = MachineTicks::parse("cpu  100 2 30 900 5 1 7 11 0 0").expect("parsed");
        // user + nice + system + irq + softirq; idle and iowait are not busy.
        assert_eq!((t.busy, t.steal), (140, 11));
        assert!(MachineTicks::parse("cpu0 1 2 3 4 5 6 7 8").is_none());
        assert!(MachineTicks::parse("cpu  1 2 3").is_none(), "too short");
    }

    #[test]
    fn interference_adds_up_and_a_tenth_of_a_core_disturbs() {
        let i = Interference {
            stolen_cores: 0.02,
            others_cores: 0.05,
            waited_cores: 0.01,
        };
        assert!(!i.disturbed());
        let i = Interference {
            others_cores: 0.08,
            ..i
        };
        assert!((i.total_cores() - 0.11).abs() < 1e-9 && i.disturbed());
    }

    #[test]
    fn another_process_spinning_shows_up_as_interference() {
        let Some(before) = CpuSample::now().filter(|s| s.machine.is_some()) else {
            return; // No /proc here: nothing to check.
        };
        let Ok(mut spin) = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
        else {
            return; // No shell to spin with.
        };
        std::thread::sleep(std::time::Duration::from_millis(500));
        let after = CpuSample::now().expect("proc was readable a moment ago");
        let _ = spin.kill();
        let _ = spin.wait();
        let i = after.interference_since(&before).expect("machine ticks");
        // The shell had a core to itself at most; tick sampling and a busy machine
        // move the figure, not below a few tenths.
        assert!(i.others_cores > 0.2 && i.disturbed(), "{i:?}");
    }

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
