//! CPU time of this process's threads, grouped by thread name, read from
//! `/proc/self/task/*/schedstat`, and what else took CPU from them, read from
//! `/proc/stat` (Linux; elsewhere every figure is absent).
//!
//! The load client and the target share the machine, so a latency figure only
//! describes the target while the client has CPU to spare. Sampling both sides' threads
//! around each step shows which one was busy: a client near one full core per worker
//! thread is measuring itself. And a figure only describes this process while nothing
//! else took its CPU: the hypervisor (steal time, on a virtual machine) or other
//! processes ([`Interference`]).

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
    /// The machine's steal time, in ticks.
    steal: Option<u64>,
    /// Other user-space processes' CPU, in ticks.
    others: Option<HashMap<u32, u64>>,
}

struct Thread {
    name: String,
    /// Time on a CPU.
    ran_ns: u64,
    /// Time ready to run but waiting for a CPU.
    waited_ns: u64,
}

/// The machine's steal time so far, from the first line of `/proc/stat`
/// (`cpu  user nice system idle iowait irq softirq steal …`), in ticks.
fn read_steal() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    steal_ticks(stat.lines().next()?)
}

fn steal_ticks(line: &str) -> Option<u64> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    fields.nth(7)?.parse().ok()
}

/// CPU ticks (user + system) of every other user-space process, by pid. Kernel
/// threads are left out: the ones busy during a run mostly carry its own network
/// traffic (`ksoftirqd`). So is network work the kernel does on an idle core, which
/// `/proc/stat` counts as busy but no process owns: the machine's busy time less this
/// process's would call that interference.
fn read_others() -> Option<HashMap<u32, u64>> {
    let me = std::process::id();
    let mut others = HashMap::new();
    for (pid, path) in numbered(std::path::Path::new("/proc"))? {
        if pid == me {
            continue;
        }
        // A process may end between listing and reading: skip it.
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        if let Some(ticks) = user_process_ticks(pid, &stat) {
            others.insert(pid, ticks);
        }
    }
    Some(others)
}

/// The entries of `dir` named by a number (processes in `/proc`, threads in a
/// process's `task`), with their paths.
fn numbered<N: std::str::FromStr>(
    dir: &std::path::Path,
) -> Option<impl Iterator<Item = (N, std::path::PathBuf)>> {
    let entries = std::fs::read_dir(dir).ok()?.flatten();
    Some(entries.filter_map(|e| {
        let n = e.file_name().to_str()?.parse().ok()?;
        Some((n, e.path()))
    }))
}

/// user + system ticks from a `/proc/<pid>/stat` line, unless the process is a kernel
/// thread (`kthreadd`, pid 2, and its children).
fn user_process_ticks(pid: u32, stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ppid: u32 = fields.get(1)?.parse().ok()?;
    if pid == 2 || ppid == 2 {
        return None;
    }
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// What took CPU from this process during an interval, in cores (1.0 = one core for
/// the whole interval).
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Interference {
    /// Steal time: the hypervisor ran other guests on this machine's CPUs.
    pub stolen_cores: f64,
    /// CPU that other user-space processes on this machine used (counted in 10 ms
    /// ticks: a few hundredths of a core either way are sampling).
    pub others_cores: f64,
    /// Time this process's threads were ready to run but waited for a CPU. Reported,
    /// not counted as taken: with as many threads as cores it is mostly the scheduler
    /// running a woken thread on its waker's core until the waker sleeps (0.1–0.4 core
    /// at low rates on a quiet machine), which is the run's own doing.
    pub waited_cores: f64,
}

impl Interference {
    /// What was taken from outside the run: steal time and other processes.
    pub fn taken_cores(&self) -> f64 {
        self.stolen_cores + self.others_cores
    }

    /// Whether that was enough to change the figures ([`DISTURBED_CORES`]).
    pub fn disturbed(&self) -> bool {
        self.taken_cores() >= DISTURBED_CORES
    }
}

impl CpuSample {
    /// Reads every thread's CPU time now; `None` where `/proc` cannot tell.
    pub fn now() -> Option<CpuSample> {
        let at = Instant::now();
        let steal = read_steal();
        let others = read_others();
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
        Some(CpuSample {
            at,
            threads,
            steal,
            others,
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
        let (steal, steal0) = (self.steal?, earlier.steal?);
        let (others, others0) = (self.others.as_ref()?, earlier.others.as_ref()?);
        if wall <= 0.0 {
            return None;
        }
        let cores = |ns: f64| ns / 1e9 / wall;
        // A process that started in between counts from zero; one that ended in
        // between is missing, and so is its last stretch of CPU.
        let others_ticks: u64 = others
            .iter()
            .map(|(pid, t)| t.saturating_sub(others0.get(pid).copied().unwrap_or(0)))
            .sum();
        Some(Interference {
            stolen_cores: cores(steal.saturating_sub(steal0) as f64 * NS_PER_TICK),
            others_cores: cores(others_ticks as f64 * NS_PER_TICK),
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
    use super::{CpuSample, Interference, steal_ticks, user_process_ticks};

    #[test]
    fn steal_is_the_eighth_figure_of_the_machine_line() {
        assert_eq!(steal_ticks("cpu  100 2 30 900 5 1 7 11 0 0"), Some(11));
        assert_eq!(steal_ticks("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(steal_ticks("cpu  1 2 3"), None, "too short");
    }

    #[test]
    fn a_process_line_gives_user_plus_system_ticks_and_kernel_threads_none() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime …; the name may hold spaces and parentheses.
        let line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 10 0 0 0 70 30 0 0 20 0";
        assert_eq!(user_process_ticks(4242, line), Some(100));
        let kworker = "77 (kworker/0:1) I 2 0 0 0 -1 69238880 0 0 0 0 5 9 0 0 20 0";
        assert_eq!(user_process_ticks(77, kworker), None);
        assert_eq!(user_process_ticks(4242, "4242 (x) S"), None, "too short");
    }

    #[test]
    fn a_tenth_of_a_core_taken_from_outside_disturbs() {
        let i = Interference {
            stolen_cores: 0.02,
            others_cores: 0.05,
            // The run's own threads queueing for a core: not taken from outside.
            waited_cores: 0.5,
        };
        assert!(!i.disturbed());
        let i = Interference {
            others_cores: 0.09,
            ..i
        };
        assert!((i.taken_cores() - 0.11).abs() < 1e-9 && i.disturbed());
    }

    #[test]
    fn another_process_spinning_shows_up_as_interference() {
        let Some(before) = CpuSample::now().filter(|s| s.others.is_some()) else {
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
        let i = after.interference_since(&before).expect("proc figures");
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
