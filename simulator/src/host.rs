//! What the machine did besides the run: the CPU the hypervisor gave to other guests
//! (steal time, on a virtual machine) and the CPU other processes used, read from
//! `/proc` (Linux; elsewhere every figure is absent).
//!
//! A load test's figures describe the system under test only while nothing else takes
//! the CPU it runs on. Sampling these around a run (or a benchmark step) tells a quiet
//! machine from a busy one ([`Interference::disturbed`]).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Cores' worth of interference at or above which a run counts as disturbed: a tenth of
/// a core taken from a load test that keeps its cores busy changes its figures by more
/// than runs on a quiet machine differ.
pub const DISTURBED_CORES: f64 = 0.1;

/// `/proc` counts CPU in USER_HZ ticks, 100 per second on every Linux platform.
const NS_PER_TICK: f64 = 1e7;

/// The machine's steal time and every other user-space process's CPU, at one instant.
pub struct HostSample {
    at: Instant,
    /// The machine's steal time, in ticks.
    steal: Option<u64>,
    /// Other user-space processes' CPU, in ticks, by pid and start time (a pid the
    /// kernel gives again is another process).
    others: Option<HashMap<(u32, u64), u64>>,
}

impl HostSample {
    /// Reads the figures now; those `/proc` cannot give are absent.
    pub fn now() -> HostSample {
        HostSample {
            at: Instant::now(),
            steal: read_steal(),
            others: read_others(),
        }
    }

    /// What the machine did besides this process between `earlier` and this sample;
    /// `None` where `/proc` cannot tell.
    pub fn interference_since(&self, earlier: &HostSample) -> Option<Interference> {
        let wall = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        let (steal, steal0) = (self.steal?, earlier.steal?);
        let (others, others0) = (self.others.as_ref()?, earlier.others.as_ref()?);
        if wall <= 0.0 {
            return None;
        }
        let cores = |ticks: u64| ticks as f64 * NS_PER_TICK / 1e9 / wall;
        // A process that started in between counts from zero; one that ended in
        // between is missing, and so is its last stretch of CPU.
        let others_ticks: u64 = others
            .iter()
            .map(|(id, t)| t.saturating_sub(others0.get(id).copied().unwrap_or(0)))
            .sum();
        Some(Interference {
            stolen_cores: cores(steal.saturating_sub(steal0)),
            others_cores: cores(others_ticks),
        })
    }
}

/// What the machine did besides this process during an interval, in cores on average
/// (1.0 = one core for the whole interval).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Interference {
    /// Steal time: the hypervisor ran other guests on this machine's CPUs.
    pub stolen_cores: f64,
    /// CPU that other user-space processes on this machine used (counted in 10 ms
    /// ticks: a few hundredths of a core either way are sampling). A lower bound: a
    /// process that starts and ends between two samples is not seen, and one that
    /// ends is missing its last stretch (a shell loop running external commands, or
    /// a build's short compiler runs, count for less than they took).
    pub others_cores: f64,
}

impl Interference {
    /// Both together.
    pub fn taken_cores(&self) -> f64 {
        self.stolen_cores + self.others_cores
    }

    /// Whether that was enough to change the figures ([`DISTURBED_CORES`]).
    pub fn disturbed(&self) -> bool {
        self.taken_cores() >= DISTURBED_CORES
    }
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

/// CPU ticks (user + system) of every other user-space process, by pid and start
/// time. Kernel threads are left out: the ones busy during a load test mostly carry
/// its own network traffic (`ksoftirqd`). So is network work the kernel does on an
/// idle core, which `/proc/stat` counts as busy but no process owns: the machine's busy
/// time less this process's would call that interference. `None` when no other process
/// is visible (a `/proc` mounted with `hidepid`): that is not a quiet machine.
fn read_others() -> Option<HashMap<(u32, u64), u64>> {
    let me = std::process::id();
    let mut others = HashMap::new();
    for (pid, path) in numbered(Path::new("/proc"))? {
        if pid == me {
            continue;
        }
        // A process may end between listing and reading: skip it.
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        if let Some(p) = UserProcess::parse(&stat) {
            others.insert((pid, p.started), p.ticks);
        }
    }
    (!others.is_empty()).then_some(others)
}

/// The entries of `dir` named by a number (processes in `/proc`, threads in a
/// process's `task`), with their paths.
pub fn numbered<N: std::str::FromStr>(dir: &Path) -> Option<impl Iterator<Item = (N, PathBuf)>> {
    let entries = std::fs::read_dir(dir).ok()?.flatten();
    Some(entries.filter_map(|e| {
        let n = e.file_name().to_str()?.parse().ok()?;
        Some((n, e.path()))
    }))
}

/// The figures of a `/proc/<pid>/stat` line this module reads.
#[derive(Debug, PartialEq)]
struct UserProcess {
    /// user + system time, in ticks.
    ticks: u64,
    /// When it started, in ticks since boot.
    started: u64,
}

/// A kernel thread's `flags` (`PF_KTHREAD`).
const KERNEL_THREAD: u64 = 0x0020_0000;

impl UserProcess {
    /// The line's figures, unless it is a kernel thread's.
    fn parse(stat: &str) -> Option<UserProcess> {
        // The command name may hold spaces and parentheses: fields start after the
        // last ')', with the state at 0.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
        if number(6)? & KERNEL_THREAD != 0 {
            return None;
        }
        Some(UserProcess {
            ticks: number(11)? + number(12)?,
            started: number(19)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_figure_of_the_machine_line() {
        assert_eq!(steal_ticks("cpu  100 2 30 900 5 1 7 11 0 0"), Some(11));
        assert_eq!(steal_ticks("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(steal_ticks("cpu  1 2 3"), None, "too short");
    }

    #[test]
    fn a_process_line_gives_user_plus_system_ticks_and_kernel_threads_none() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime cutime cstime priority nice threads itrealvalue
        // starttime …; the name may hold spaces and parentheses.
        let line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 10 0 0 0 70 30 5 5 20 0 1 0 987 0";
        assert_eq!(
            UserProcess::parse(line),
            Some(UserProcess {
                ticks: 100,
                started: 987
            })
        );
        // A kernel thread is known by its flags (PF_KTHREAD), whatever its parent: in
        // a pid namespace pid 2 is an ordinary process.
        let kworker = "77 (kworker/0:1) I 2 0 0 0 -1 69238880 0 0 0 0 5 9 0 0 20 0 1 0 9 0";
        assert_eq!(UserProcess::parse(kworker), None);
        let child_of_2 = "78 (helper) S 2 0 0 0 -1 4194560 0 0 0 0 5 9 0 0 20 0 1 0 9 0";
        assert_eq!(UserProcess::parse(child_of_2).map(|p| p.ticks), Some(14));
        assert_eq!(UserProcess::parse("4242 (x) S"), None, "too short");
    }

    #[test]
    fn a_pid_given_again_is_another_process() {
        let at = |others: Vec<((u32, u64), u64)>| HostSample {
            at: Instant::now(),
            steal: Some(0),
            others: Some(others.into_iter().collect()),
        };
        let before = at(vec![((500, 10), 900)]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Pid 500 ended; a new process got its pid and has run 3 ticks since.
        let after = at(vec![((500, 4000), 3)]);
        let i = after.interference_since(&before).expect("figures");
        let ticks = i.others_cores * after.at.duration_since(before.at).as_secs_f64() * 100.0;
        assert!((ticks - 3.0).abs() < 1e-6, "{ticks}");
    }

    #[test]
    fn a_tenth_of_a_core_disturbs() {
        let i = Interference {
            stolen_cores: 0.02,
            others_cores: 0.05,
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
        let before = HostSample::now();
        if before.others.is_none() || before.steal.is_none() {
            return; // No /proc here: nothing to check.
        }
        let Ok(mut spin) = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
        else {
            return; // No shell to spin with.
        };
        std::thread::sleep(std::time::Duration::from_millis(500));
        let after = HostSample::now();
        let _ = spin.kill();
        let _ = spin.wait();
        let i = after.interference_since(&before).expect("proc figures");
        // The shell had a core to itself at most; tick sampling and a busy machine
        // move the figure, not below a few tenths.
        assert!(i.others_cores > 0.2 && i.disturbed(), "{i:?}");
    }
}
