//! `switchboard-bench`: the reference server's relay against bare baselines, in one run.
//!
//! Starts a bare tokio-tungstenite echo server, a bare relay (the echo's plumbing with
//! the relay's shape: each frame forwarded to a partner connection and answered) and
//! then the reference server (each in-process on `127.0.0.1:0`, in a runtime of its
//! own) and drives all three with the same open-model load client ([`load`]). A ramp
//! of increasing offered rates finds each target's saturation: the highest offered
//! rate it **kept up with** — no connection failed, every message of the step came
//! back, and no queue built up (the later half's median latency within twice the
//! earlier half's + 1 ms, and below 50 ms: [`figures`]). Between the last rate kept
//! up with and the first one that was not, a few bisection steps narrow the figure
//! (after a step that fell behind, the next runs on a fresh instance warmed up at the
//! last rate kept up with). Then, on a fresh
//! instance again, steps at 25%, 50% and 75% of that saturation measure latency
//! (p50/p99/p999 from the scheduled send time, HDR histograms). Steps where the load
//! client's own threads were at a full core are marked: their figures describe the
//! client as much as the target. Steps during which something outside the run (steal
//! time, other processes) took a tenth of a core are marked disturbed
//! ([`switchboard_sim::host`]). Prints a table and the throughput ratios relay ÷ echo
//! (the target), forward ÷ echo (what the shape of the traffic costs) and relay ÷
//! forward (what the reference server's own work costs), and can write the figures as
//! JSON.
//!
//! ```text
//! cargo run --release -p switchboard-bench -- --json target/bench.json
//! ```
//!
//! Exit code 0 whatever the figures: targets are reported, not enforced (a shared,
//! noisy machine cannot enforce them).

mod cpu;
mod figures;
mod load;
mod print;
mod ramp;
mod targets;

use anyhow::bail;
use clap::Parser;
use figures::{Report, TargetResult, cpu_per_message, meets_p99_target};
use load::MAX_STEPS;
use print::print_report;
use ramp::bench_target;
use std::path::PathBuf;
use switchboard_server::cli::raise_open_files_limit;
use switchboard_server::config::RESERVED_OPEN_FILES;

/// Relay vs bare echo: messages/s at saturation and latency at 25/50/75% of it.
#[derive(Parser, Debug, Clone, serde::Serialize)]
#[command(version, about)]
struct Args {
    /// Chats (user + agent connection each) on the relay; the echo and the bare relay
    /// get as many connections (2 × pairs).
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Seconds per ramp step.
    #[arg(long, default_value_t = 3.0)]
    step_secs: f64,
    /// Seconds per latency step (25/50/75% of saturation).
    #[arg(long, default_value_t = 5.0)]
    measure_secs: f64,
    /// Offered rate of the first ramp step, messages/s.
    #[arg(long, default_value_t = 2000.0)]
    start_rate: f64,
    /// Factor between ramp steps.
    #[arg(long, default_value_t = 1.4)]
    growth: f64,
    /// Most ramp steps.
    #[arg(long, default_value_t = 30)]
    max_steps: usize,
    /// Bisection steps between the last rate kept up with and the first one that was
    /// not (each on a fresh instance).
    #[arg(long, default_value_t = 3)]
    refine: usize,
    /// Longest wait after a step for messages still in flight, seconds.
    #[arg(long, default_value_t = 10.0)]
    drain_secs: f64,
    /// Worker threads of each target's runtime [default: half the cores, at least 1].
    #[arg(long)]
    server_threads: Option<usize>,
    /// Worker threads of the load client's runtime [default: the other cores, at
    /// least 1]. Server and client threads together should not exceed the cores:
    /// oversubscribed, they preempt each other and both figures get worse.
    #[arg(long)]
    client_threads: Option<usize>,
    /// Which targets, comma-separated: echo (bare echo), forward (bare relay), relay
    /// (the reference server).
    #[arg(long, default_value = "echo,forward,relay")]
    only: String,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Worker threads of the targets and of the client: the given ones, or the cores
/// split in two.
fn threads(args: &Args) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let server = args.server_threads.unwrap_or((cores / 2).max(1)).max(1);
    let client = args
        .client_threads
        .unwrap_or(cores.saturating_sub(server).max(1))
        .max(1);
    (server, client)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (server_threads, client_threads) = threads(&args);
    if args.growth <= 1.0 || args.start_rate <= 0.0 || args.pairs == 0 {
        bail!("--growth must be > 1, --start-rate and --pairs > 0");
    }
    for (flag, secs) in [
        ("--step-secs", args.step_secs),
        ("--measure-secs", args.measure_secs),
        ("--drain-secs", args.drain_secs),
    ] {
        if !(secs.is_finite() && secs > 0.0 && secs < 86_400.0) {
            bail!("{flag} must be a positive number of seconds below a day, not {secs}");
        }
    }
    // Ramp and bisection, three latency steps, and a warm-up per instance: the first,
    // one after each step that fell behind, one for the latency steps, and one after
    // each of the first two latency steps if it lost a connection.
    if args.max_steps + 2 * args.refine + 7 > MAX_STEPS {
        bail!(
            "--max-steps + 2 × --refine must be at most {}",
            MAX_STEPS - 7
        );
    }
    let which = targets_to_run(&args.only)?;
    // The client and each target share this process: a connection costs it two
    // descriptors.
    let needed = (args.pairs as u64)
        .saturating_mul(4)
        .saturating_add(RESERVED_OPEN_FILES);
    if let Some(limit) = raise_open_files_limit()
        && limit < needed
    {
        bail!(
            "--pairs {} needs about {needed} open files (client and target in this \
             process, two per connection) and the limit is {limit} even raised: lower \
             --pairs or raise the hard limit (`ulimit -Hn`)",
            args.pairs
        );
    }
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .thread_name(load::CLIENT_THREADS)
        .enable_all()
        .build()?;
    let mut results = Vec::new();
    eprintln!("threads: {server_threads} per target, {client_threads} for the client");
    for t in which {
        results.push(rt.block_on(bench_target(t, &args, server_threads, client_threads))?);
    }
    let find = |name| results.iter().find(|r| r.target == name);
    let (echo, forward, relay) = (find("echo"), find("forward"), find("relay"));
    let ratio = |top: Option<&TargetResult>, base: Option<&TargetResult>| match (top, base) {
        (Some(t), Some(b)) if b.saturation > 0.0 => Some(t.saturation / b.saturation),
        _ => None,
    };
    let half = relay.and_then(|r| {
        r.at_fraction
            .iter()
            .find(|(f, _)| (*f - 0.5).abs() < 1e-9)
            .map(|(_, s)| s)
    });
    let mut cpu = Vec::new();
    if let Some(r) = relay {
        for b in [echo, forward].into_iter().flatten() {
            cpu.extend(cpu_per_message(&b.target, &b.ramp, &r.ramp));
        }
    }
    let relay_vs_echo = ratio(relay, echo);
    // A verdict needs a real saturation (not a lower bound) on an undisturbed machine.
    let mut undecided = Vec::new();
    for r in [echo, relay].into_iter().flatten() {
        if !r.saturated {
            undecided.push(format!(
                "{} never fell behind: its saturation is only a lower bound (raise --max-steps)",
                r.target
            ));
        }
        if r.saturation_disturbed {
            undecided.push(format!(
                "{}'s saturation was decided by a disturbed step",
                r.target
            ));
        }
    }
    let decided =
        |r: Option<&TargetResult>| r.is_some_and(|r| r.saturated && !r.saturation_disturbed);
    if half.is_some_and(|s| s.disturbed) {
        undecided.push("the relay's 50% step was disturbed".to_string());
    }
    let report = Report {
        parameters: serde_json::to_value(&args)?,
        started_unix_s: started,
        server_threads,
        client_threads,
        relay_vs_echo_throughput: relay_vs_echo,
        forward_vs_echo_throughput: ratio(forward, echo),
        relay_vs_forward_throughput: ratio(relay, forward),
        cpu_per_message: cpu,
        relay_p99_ms_at_half: half.map(|s| s.p99_ms),
        target_throughput_ratio_met: relay_vs_echo
            .filter(|_| decided(echo) && decided(relay))
            .map(|r| r >= 0.6),
        target_p99_met: half
            .filter(|s| decided(relay) && !s.disturbed)
            .map(meets_p99_target),
        undecided,
        results,
    };
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}

/// The targets `--only` names, in the order they run (echo, forward, relay).
fn targets_to_run(only: &str) -> anyhow::Result<Vec<&'static str>> {
    const ALL: [&str; 3] = ["echo", "forward", "relay"];
    let named: Vec<&str> = only.split(',').map(str::trim).collect();
    if let Some(bad) = named.iter().find(|n| !ALL.contains(n)) {
        bail!("--only takes echo, forward and relay, comma-separated; `{bad}` is none of them");
    }
    Ok(ALL.into_iter().filter(|t| named.contains(t)).collect())
}

#[cfg(test)]
mod tests {
    use super::targets_to_run;

    #[test]
    fn only_names_targets_and_they_run_in_a_fixed_order() {
        assert_eq!(targets_to_run("relay, echo").unwrap(), ["echo", "relay"]);
        assert_eq!(targets_to_run("forward").unwrap(), ["forward"]);
        let bad = targets_to_run("echo,both").unwrap_err().to_string();
        assert!(bad.contains("`both`"), "{bad}");
        assert!(targets_to_run("").is_err());
    }
}
