//! `switchboard-bench`: the reference server's relay against bare baselines, in one run.
//!
//! Starts a bare tokio-tungstenite echo server, a bare relay (the echo's plumbing with
//! the relay's shape: each frame forwarded to a partner connection and answered) and
//! then the reference server (each in-process on `127.0.0.1:0`, in a runtime of its
//! own) and drives all three with the same open-model load client ([`load`]). A ramp of increasing offered rates finds each
//! target's saturation: the highest offered rate it **kept up with** — no connection
//! failed, every message of the step came back, and no queue built up (the later
//! half's median latency within [`GROWTH_LIMIT`] × the earlier half's + 1 ms, and below
//! [`STANDING_QUEUE_MS`]). Between the last rate kept
//! up with and the first one that was not, a few bisection steps narrow the figure,
//! each on a fresh instance warmed up at the last rate kept up with. Then, on a fresh
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
mod load;
mod targets;

use anyhow::bail;
use clap::Parser;
use load::{Client, Conn, MAX_STEPS, Measured, StepCounts};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_sim::host::{self, Interference};

/// Relay vs bare echo: messages/s at saturation and latency at 25/50/75% of it.
#[derive(Parser, Debug, Clone)]
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

/// The relay's latency target: p99 within this many ms at 50% of its saturation.
const P99_TARGET_MS: f64 = 5.0;

/// A step kept up only if its later half's median latency is within this factor of its
/// earlier half's (plus 1 ms, for latencies near the timer's resolution)…
const GROWTH_LIMIT: f64 = 2.0;

/// … and below this many ms: a standing queue longer than that means the target runs
/// at the edge of its capacity, even if the queue is not growing.
const STANDING_QUEUE_MS: f64 = 50.0;

/// The client counts as the bottleneck when its threads used this share of their cores.
const CLIENT_BOUND_SHARE: f64 = 0.9;

/// One step's figures.
#[derive(Serialize, Debug, Clone)]
struct Step {
    offered: f64,
    /// The step's messages that came back before it ended, per second of the step.
    delivered: f64,
    /// Connections that failed during the step or its drain.
    errors: u64,
    /// Messages the step's schedule held, that left, and that came back.
    scheduled: u64,
    sent: u64,
    received: u64,
    /// How long after the step's end its last message came back (`None`: not within
    /// the drain time).
    drained_ms: Option<f64>,
    /// Median latency of the messages scheduled in the step's first and second half.
    early_p50_ms: f64,
    late_p50_ms: f64,
    /// Whether the target kept up: everything came back and latency did not grow.
    kept_up: bool,
    count: u64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    /// The client's own lateness: how long after their schedule messages left.
    send_lag_p99_ms: f64,
    /// Cores the load client's threads used during the step: near its thread count,
    /// the client (not the target) is the bottleneck.
    client_cores: Option<f64>,
    /// Cores the target's threads used during the step.
    target_cores: Option<f64>,
    /// Whether the client's threads were at a full core (at least
    /// [`CLIENT_BOUND_SHARE`] of them): the step measured the client as much as the
    /// target.
    client_bound: bool,
    /// What else took CPU during the step: steal time, other processes.
    interference: Option<Interference>,
    /// Whether that was enough to change the figures ([`host::DISTURBED_CORES`]).
    disturbed: bool,
    /// Cores' worth of time the run's own threads waited for a CPU (not counted as
    /// interference: see [`cpu::CpuSample::waited_cores_since`]).
    waited_cores: Option<f64>,
}

impl Step {
    /// Why the step did not keep up, if it did not.
    fn shortfall(&self) -> Option<String> {
        if self.kept_up {
            None
        } else if self.errors > 0 {
            Some(format!("{} connections failed", self.errors))
        } else if self.sent < self.scheduled {
            Some(format!("{} never sent", self.scheduled - self.sent))
        } else if self.received < self.sent {
            Some(format!("{} not back", self.sent - self.received))
        } else if self.drained_ms.is_none() {
            Some("not drained in time".to_string())
        } else if self.late_p50_ms > STANDING_QUEUE_MS {
            Some(format!(
                "standing queue: median {:.2} ms in the later half",
                self.late_p50_ms
            ))
        } else {
            Some(format!(
                "latency grew: median {:.2} -> {:.2} ms",
                self.early_p50_ms, self.late_p50_ms
            ))
        }
    }
}

/// A target's figures.
#[derive(Serialize, Debug, Clone)]
struct Result {
    target: String,
    connections: usize,
    /// Highest offered rate kept up with, messages/s.
    saturation: f64,
    /// Whether a step fell behind (otherwise `saturation` is a lower bound).
    saturated: bool,
    /// Whether the client was at a full core in the lowest step that fell behind: then
    /// the saturation is (at least partly) the client's.
    saturation_client_bound: bool,
    /// Whether the highest step kept up with or the lowest that fell behind was
    /// disturbed from outside the run (see [`Step::disturbed`]).
    saturation_disturbed: bool,
    /// Highest rate of stamped frames any step delivered, kept up with or not (the
    /// figure a looser rule would call saturation).
    peak_delivered: f64,
    /// The ramp, then the bisection steps.
    ramp: Vec<Step>,
    /// Steps at 25%, 50% and 75% of saturation.
    at_fraction: Vec<(f64, Step)>,
    /// Highest ramp rate kept up with and p99 within [`P99_TARGET_MS`]: the throughput
    /// at that latency, beside the saturation figure.
    rate_within_p99_target: Option<f64>,
    sent: u64,
    received: u64,
    errors: u64,
}

#[derive(Serialize, Debug)]
struct Report {
    server_threads: usize,
    client_threads: usize,
    results: Vec<Result>,
    relay_vs_echo_throughput: Option<f64>,
    /// What relaying costs over echoing, on the same plumbing.
    forward_vs_echo_throughput: Option<f64>,
    /// What the reference server's own work costs over the bare relay.
    relay_vs_forward_throughput: Option<f64>,
    /// The relay's CPU per message against each baseline's, at the ramp rates both
    /// kept up with.
    cpu_per_message: Vec<CpuPerMessage>,
    relay_p99_ms_at_half: Option<f64>,
    target_throughput_ratio_met: Option<bool>,
    target_p99_met: Option<bool>,
}

/// A baseline's and the relay's CPU per message at one offered rate: what each message
/// costs the server, independent of which side limits the saturation.
#[derive(Serialize, Debug, Clone, PartialEq)]
struct CpuPerMessage {
    /// `echo` or `forward`.
    baseline: String,
    rate: f64,
    baseline_us: f64,
    relay_us: f64,
    /// `baseline_us / relay_us`: the share of the baseline's throughput the relay
    /// would reach if both were bound by their own CPU at these costs.
    relay_vs_baseline: f64,
}

/// CPU per message of a baseline and the relay at the ramp rates both kept up with.
fn cpu_per_message(name: &str, baseline: &[Step], relay: &[Step]) -> Vec<CpuPerMessage> {
    let per_message = |s: &Step| {
        s.target_cores
            .filter(|_| s.kept_up && s.offered > 0.0)
            .map(|cores| cores * 1e6 / s.offered)
    };
    baseline
        .iter()
        .filter_map(|b| {
            let r = relay.iter().find(|r| (r.offered - b.offered).abs() < 0.5)?;
            let (baseline_us, relay_us) = (per_message(b)?, per_message(r)?);
            (relay_us > 0.0).then(|| CpuPerMessage {
                baseline: name.to_string(),
                rate: b.offered,
                baseline_us,
                relay_us,
                relay_vs_baseline: baseline_us / relay_us,
            })
        })
        .collect()
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
    // Ramp and bisection, three latency steps, and a warm-up per instance (the first,
    // one after each step that fell behind, one for the latency steps).
    if args.max_steps + 2 * args.refine + 5 > MAX_STEPS {
        bail!(
            "--max-steps + 2 × --refine must be at most {}",
            MAX_STEPS - 5
        );
    }
    let which = targets_to_run(&args.only)?;
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
    let ratio = |top: Option<&Result>, base: Option<&Result>| match (top, base) {
        (Some(t), Some(b)) if b.saturation > 0.0 => Some(t.saturation / b.saturation),
        _ => None,
    };
    let half = relay.and_then(|r| {
        r.at_fraction
            .iter()
            .find(|(f, _)| (*f - 0.5).abs() < 1e-9)
            .map(|(_, s)| s.p99_ms)
    });
    let mut cpu = Vec::new();
    if let Some(r) = relay {
        for b in [echo, forward].into_iter().flatten() {
            cpu.extend(cpu_per_message(&b.target, &b.ramp, &r.ramp));
        }
    }
    let relay_vs_echo = ratio(relay, echo);
    let report = Report {
        server_threads,
        client_threads,
        relay_vs_echo_throughput: relay_vs_echo,
        forward_vs_echo_throughput: ratio(forward, echo),
        relay_vs_forward_throughput: ratio(relay, forward),
        cpu_per_message: cpu,
        relay_p99_ms_at_half: half,
        target_throughput_ratio_met: relay_vs_echo.map(|r| r >= 0.6),
        target_p99_met: half.map(|p| p <= P99_TARGET_MS),
        results,
    };
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}

/// A target and the client driving it.
struct Run {
    target: targets::Target,
    client: Client,
}

impl Run {
    /// Starts `name` and connects the client to it.
    async fn start(name: &str, args: &Args, server_threads: usize) -> anyhow::Result<Run> {
        let (target, conns): (targets::Target, Vec<Conn>) = match name {
            "echo" | "forward" => {
                let t = if name == "echo" {
                    targets::start_echo(server_threads)?
                } else {
                    targets::start_forward(server_threads)?
                };
                let c = targets::plain_conns(t.addr, 2 * args.pairs).await?;
                (t, c)
            }
            _ => {
                let t = targets::start_relay(server_threads, args.pairs)?;
                let c = targets::relay_conns(t.addr, args.pairs).await?;
                (t, c)
            }
        };
        let client = Client::start(conns)?;
        eprintln!(
            "[{name}] {} connections on {}",
            client.connections(),
            target.addr
        );
        Ok(Run { target, client })
    }

    /// Offers `rate` for `secs` as step `step` and returns its figures (`client_threads`:
    /// the client runtime's worker threads, to tell a client at a full core).
    async fn step(
        &self,
        step: usize,
        rate: f64,
        secs: f64,
        args: &Args,
        client_threads: usize,
    ) -> Step {
        let m = self.client.run_step(step, rate, secs, drain(args)).await;
        let counts = self.client.shared.step(step);
        figures(counts, rate, secs, m, client_threads)
    }

    /// Sent, received, errors.
    fn totals(&self) -> (u64, u64, u64) {
        let sh = &self.client.shared;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        (get(&sh.sent), get(&sh.received), get(&sh.errors))
    }

    fn stop(self) {
        self.client.stop();
        drop(self.target);
    }
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

fn drain(args: &Args) -> Duration {
    Duration::from_secs_f64(args.drain_secs)
}

/// Runs of one target, one after the other, with their totals summed.
struct Runs<'a> {
    name: &'a str,
    args: &'a Args,
    server_threads: usize,
    client_threads: usize,
    current: Option<Run>,
    totals: (u64, u64, u64),
    /// The next step's index.
    next_step: usize,
}

impl Runs<'_> {
    /// Runs the next step at `rate` for `secs` and returns its figures. A fresh
    /// instance is started first if there is none, and warmed up for a second at
    /// `warm_up` messages/s (connections, allocator, caches, socket buffers; not
    /// reported) so that a step on it starts as one on a running instance does.
    async fn step(&mut self, rate: f64, secs: f64, warm_up: f64) -> anyhow::Result<Step> {
        if self.current.is_none() {
            let run = Run::start(self.name, self.args, self.server_threads).await?;
            let warm = self.take_step();
            let s = run
                .step(
                    warm,
                    warm_up,
                    self.args.step_secs.min(1.0),
                    self.args,
                    self.client_threads,
                )
                .await;
            if s.errors > 0 {
                // Its connections' share of every later step would go unsent.
                anyhow::bail!(
                    "[{}] {} connections failed while warming up at {warm_up:.0}/s",
                    self.name,
                    s.errors
                );
            }
            if let Some(why) = s.shortfall() {
                eprintln!(
                    "[{}] warm-up at {warm_up:.0}/s fell behind ({why})",
                    self.name
                );
            }
            self.current = Some(run);
        }
        let step = self.take_step();
        let run = self.current.as_ref().expect("started above");
        let s = run
            .step(step, rate, secs, self.args, self.client_threads)
            .await;
        if s.errors > 0 {
            // An instance that lost connections offers less than it is told to: the
            // next step starts a fresh one.
            self.restart();
        }
        Ok(s)
    }

    fn take_step(&mut self) -> usize {
        self.next_step += 1;
        self.next_step - 1
    }

    /// Stops the running instance: the next step starts a fresh one.
    fn restart(&mut self) {
        if let Some(run) = self.current.take() {
            let (s, r, e) = run.totals();
            self.totals = (self.totals.0 + s, self.totals.1 + r, self.totals.2 + e);
            run.stop();
        }
    }
}

/// Ramps `name` until a step falls behind, bisects between the last rate kept up
/// with and that one, then measures latency at fractions of the saturation. Every
/// step after one that fell behind runs on a fresh instance: overload leaves a backlog,
/// grown buffers and a Desk full of transcripts that must not count against the next
/// figures.
async fn bench_target(
    name: &str,
    args: &Args,
    server_threads: usize,
    client_threads: usize,
) -> anyhow::Result<Result> {
    let mut runs = Runs {
        name,
        args,
        server_threads,
        client_threads,
        current: None,
        totals: (0, 0, 0),
        next_step: 0,
    };
    let mut ramp: Vec<Step> = Vec::new();
    // The highest rate kept up with, and the lowest that was not.
    let mut kept: Option<f64> = None;
    let mut fell: Option<(f64, bool)> = None;
    let mut rate = args.start_rate;
    let mut bisections = 0;
    loop {
        // A fresh instance warms up at the last rate kept up with, as the ramp did.
        let warm_up = kept.unwrap_or(args.start_rate);
        let s = runs.step(rate, args.step_secs, warm_up).await?;
        log_step(name, &s);
        if s.kept_up {
            kept = Some(rate);
        } else {
            fell = Some((rate, s.client_bound));
            runs.restart();
        }
        ramp.push(s);
        rate = match (kept, fell) {
            (_, None) if ramp.len() < args.max_steps => rate * args.growth,
            (Some(lo), Some((hi, _))) if bisections < args.refine => {
                bisections += 1;
                (lo * hi).sqrt()
            }
            _ => break,
        };
    }
    runs.restart();
    let saturation = kept.unwrap_or(0.0);
    let deciding = |s: &&Step| Some(s.offered) == kept || Some(s.offered) == fell.map(|f| f.0);
    let saturation_disturbed = ramp.iter().filter(deciding).any(|s| s.disturbed);
    let mut at_fraction = Vec::new();
    if saturation > 0.0 {
        for f in [0.25, 0.5, 0.75] {
            // Warmed up at the first latency step's rate.
            let s = runs
                .step(saturation * f, args.measure_secs, saturation * 0.25)
                .await?;
            eprintln!(
                "[{name}] {:>3.0}% of saturation: {:>9.0}/s p50 {:.2} p99 {:.2} p999 {:.2} ms (send lag p99 {:.2} ms; cores: client {}, target {}){}{}",
                f * 100.0,
                s.delivered,
                s.p50_ms,
                s.p99_ms,
                s.p999_ms,
                s.send_lag_p99_ms,
                cores(s.client_cores),
                cores(s.target_cores),
                s.shortfall()
                    .map_or(String::new(), |why| format!(" [fell behind: {why}]")),
                disturbance(&s)
            );
            at_fraction.push((f, s));
        }
    } else {
        eprintln!("[{name}] the first step fell behind: lower --start-rate");
    }
    runs.restart();
    let (sent, received, errors) = runs.totals;
    let rate_within_p99_target = ramp
        .iter()
        .filter(|s| s.kept_up && s.p99_ms <= P99_TARGET_MS)
        .map(|s| s.offered)
        .reduce(f64::max);
    Ok(Result {
        target: name.to_string(),
        connections: 2 * args.pairs,
        saturation,
        saturated: fell.is_some(),
        saturation_client_bound: fell.is_some_and(|(_, client)| client),
        saturation_disturbed,
        peak_delivered: ramp.iter().map(|s| s.delivered).fold(0.0, f64::max),
        ramp,
        at_fraction,
        rate_within_p99_target,
        sent,
        received,
        errors,
    })
}

fn log_step(name: &str, s: &Step) {
    eprintln!(
        "[{name}] offered {:>9.0}/s delivered {:>9.0}/s p99 {:>8.2} ms, median {:.2} -> {:.2} ms, drained {} (send lag p99 {:.2} ms; cores: client {}{}, target {}): {}{}",
        s.offered,
        s.delivered,
        s.p99_ms,
        s.early_p50_ms,
        s.late_p50_ms,
        s.drained_ms
            .map_or_else(|| "no".to_string(), |ms| format!("in {ms:.0} ms")),
        s.send_lag_p99_ms,
        cores(s.client_cores),
        if s.client_bound { " (full)" } else { "" },
        cores(s.target_cores),
        s.shortfall().map_or_else(
            || "kept up".to_string(),
            |why| format!("fell behind, {why}")
        ),
        disturbance(s)
    );
}

/// A warning for a step that something outside the run took CPU from, or nothing.
fn disturbance(s: &Step) -> String {
    match s.interference {
        Some(i) if s.disturbed => format!(
            " [DISTURBED: {:.2} cores taken: steal {:.2}, other processes {:.2}]",
            i.taken_cores(),
            i.stolen_cores,
            i.others_cores
        ),
        _ => String::new(),
    }
}

/// A step's figures from its counts (histograms in µs).
fn figures(c: StepCounts, offered: f64, secs: f64, m: Measured, client_threads: usize) -> Step {
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let (early, late) = (ms(&c.early, 0.5), ms(&c.late, 0.5));
    let drained_ms = m.drained.map(|d| d.as_secs_f64() * 1000.0);
    let kept_up = m.errors == 0
        && drained_ms.is_some()
        && c.sent == c.scheduled
        && c.received >= c.sent
        && late <= GROWTH_LIMIT * early + 1.0
        && late <= STANDING_QUEUE_MS;
    Step {
        offered,
        delivered: c.received_in_step as f64 / secs,
        errors: m.errors,
        scheduled: c.scheduled,
        sent: c.sent,
        received: c.received,
        drained_ms,
        early_p50_ms: early,
        late_p50_ms: late,
        kept_up,
        count: c.latency.len(),
        p50_ms: ms(&c.latency, 0.5),
        p99_ms: ms(&c.latency, 0.99),
        p999_ms: ms(&c.latency, 0.999),
        max_ms: c.latency.max() as f64 / 1000.0,
        send_lag_p99_ms: ms(&c.send_lag, 0.99),
        client_cores: m.client_cores,
        target_cores: m.target_cores,
        client_bound: m
            .client_cores
            .is_some_and(|used| used >= CLIENT_BOUND_SHARE * client_threads as f64),
        interference: m.interference,
        disturbed: m.interference.is_some_and(|i| i.disturbed()),
        waited_cores: m.waited_cores,
    }
}

/// A CPU figure for the console: cores with two decimals, `?` without `/proc`.
fn cores(c: Option<f64>) -> String {
    c.map_or_else(|| "?".to_string(), |c| format!("{c:.2}"))
}

fn print_report(r: &Report) {
    println!();
    println!(
        "{:<7} {:>6} {:>14} {:>6} {:>11} {:>9} {:>9} {:>9} {:>12} {:>12}",
        "target",
        "conns",
        "saturation/s",
        "load",
        "delivered/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "client cores",
        "target cores"
    );
    for res in &r.results {
        let sat = format!(
            "{}{:.0}{}{}",
            if res.saturated { "" } else { ">=" },
            res.saturation,
            if res.saturation_client_bound { "*" } else { "" },
            if res.saturation_disturbed { "!" } else { "" }
        );
        for (f, s) in &res.at_fraction {
            println!(
                "{:<7} {:>6} {:>14} {:>5.0}% {:>11.0} {:>9.2} {:>9.2} {:>9.2} {:>12} {:>12}",
                res.target,
                res.connections,
                sat,
                f * 100.0,
                s.delivered,
                s.p50_ms,
                s.p99_ms,
                s.p999_ms,
                format!(
                    "{}{}",
                    cores(s.client_cores),
                    if s.client_bound { "*" } else { "" }
                ),
                format!(
                    "{}{}",
                    cores(s.target_cores),
                    if s.disturbed { "!" } else { "" }
                )
            );
        }
        println!(
            "{:<7} sent {} received {} errors {}; highest delivered rate in any step {:.0}/s",
            res.target, res.sent, res.received, res.errors, res.peak_delivered
        );
        if let Some(rate) = res.rate_within_p99_target {
            println!(
                "{:<7} highest ramp rate with p99 <= {P99_TARGET_MS} ms: {rate:.0}/s",
                res.target
            );
        }
    }
    if r.results.iter().any(|res| {
        res.saturation_client_bound || res.at_fraction.iter().any(|(_, s)| s.client_bound)
    }) {
        println!(
            "* the load client's threads were at a full core: the figure describes the client as much as the target"
        );
    }
    if r.results
        .iter()
        .any(|res| res.saturation_disturbed || res.at_fraction.iter().any(|(_, s)| s.disturbed))
    {
        println!(
            "! DISTURBED: something outside the run (steal time, other processes) took at least {} core during the step: run again on a quieter machine",
            host::DISTURBED_CORES
        );
    }
    if let Some(x) = r.relay_vs_echo_throughput {
        println!(
            "relay / echo throughput: {:.2} (target >= 0.60: {})",
            x,
            if x >= 0.6 { "met" } else { "NOT met" }
        );
    }
    if let Some(x) = r.forward_vs_echo_throughput {
        println!("forward / echo throughput: {x:.2} (the cost of relaying itself)");
    }
    if let Some(x) = r.relay_vs_forward_throughput {
        println!("relay / forward throughput: {x:.2} (the cost of the reference server's work)");
    }
    for baseline in ["echo", "forward"] {
        let shares: Vec<String> = r
            .cpu_per_message
            .iter()
            .filter(|c| c.baseline == baseline)
            .map(|c| format!("{:.2} at {:.0}/s", c.relay_vs_baseline, c.rate))
            .collect();
        if !shares.is_empty() {
            println!(
                "target CPU per message, {baseline} / relay, at the ramp rates both kept up with: {}",
                shares.join(", ")
            );
        }
    }
    if let Some(p) = r.relay_p99_ms_at_half {
        println!(
            "relay p99 at 50% of its saturation: {:.2} ms (target <= {P99_TARGET_MS} ms: {})",
            p,
            if p <= P99_TARGET_MS { "met" } else { "NOT met" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Interference, Measured, Step, StepCounts, cpu_per_message, disturbance, figures,
        targets_to_run,
    };
    use hdrhistogram::Histogram;
    use std::time::Duration;

    /// A step's counts: `n` messages sent and back (all within the step), the first
    /// half at `early_ms`, the second at `late_ms`.
    fn counts(n: u64, early_ms: u64, late_ms: u64) -> StepCounts {
        let mut early = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        let mut late = early.clone();
        early.record_n(early_ms * 1000, n / 2).unwrap();
        late.record_n(late_ms * 1000, n - n / 2).unwrap();
        let mut latency = early.clone();
        latency.add(&late).unwrap();
        StepCounts {
            scheduled: n,
            sent: n,
            received: n,
            received_in_step: n,
            latency,
            early,
            late,
            send_lag: Histogram::new(3).unwrap(),
        }
    }

    fn measured(drained: Option<u64>, client: f64, target: f64) -> Measured {
        Measured {
            errors: 0,
            drained: drained.map(Duration::from_millis),
            client_cores: Some(client),
            target_cores: Some(target),
            interference: None,
            waited_cores: None,
        }
    }

    /// A 1 s step offered at 1,000/s, measured by a one-thread client.
    fn step(c: StepCounts, m: Measured) -> Step {
        figures(c, 1000.0, 1.0, m, 1)
    }

    #[test]
    fn a_step_that_lost_a_tenth_of_a_core_to_outside_work_is_marked_disturbed() {
        let with = |others_cores: f64| {
            let m = Measured {
                interference: Some(Interference {
                    stolen_cores: 0.01,
                    others_cores,
                }),
                ..measured(Some(5), 0.5, 0.5)
            };
            step(counts(100, 4, 7), m)
        };
        let quiet = with(0.03);
        assert!(!quiet.disturbed && disturbance(&quiet).is_empty());
        let busy = with(0.3);
        assert!(
            busy.disturbed && busy.kept_up,
            "disturbed is a warning, not a verdict"
        );
        assert!(
            disturbance(&busy).contains("DISTURBED: 0.31 cores taken"),
            "{}",
            disturbance(&busy)
        );
        let unknown = step(counts(100, 4, 7), measured(Some(5), 0.5, 0.5));
        assert!(!unknown.disturbed);
    }

    #[test]
    fn a_step_keeps_up_when_all_came_back_and_no_queue_built_up() {
        let ok = step(counts(100, 4, 7), measured(Some(5), 0.5, 0.5));
        assert!(ok.kept_up && ok.shortfall().is_none());
        // Near the timer's resolution a millisecond more is not growth.
        assert!(step(counts(100, 0, 1), measured(Some(1), 0.5, 0.5)).kept_up);
        // Growing beyond twice the earlier half's median (plus 1 ms) is a building queue.
        let grew = step(counts(100, 4, 10), measured(Some(9), 0.5, 0.5));
        assert!(!grew.kept_up);
        assert!(grew.shortfall().unwrap().starts_with("latency grew"));
        // A queue that built up early and stays is not keeping up either.
        let standing = step(counts(100, 60, 70), measured(Some(70), 0.5, 0.5));
        assert!(standing.shortfall().unwrap().starts_with("standing queue"));
        // Not drained in time.
        let mut lost = counts(100, 4, 4);
        lost.received = 97;
        let lost = step(lost, measured(None, 0.5, 0.5));
        assert_eq!(lost.shortfall().as_deref(), Some("3 not back"));
        let slow = step(counts(100, 4, 4), measured(None, 0.5, 0.5));
        assert_eq!(slow.shortfall().as_deref(), Some("not drained in time"));
        // The client fell a whole step behind.
        let mut unsent = counts(100, 4, 4);
        unsent.scheduled = 120;
        let unsent = step(unsent, measured(Some(1), 0.5, 0.5));
        assert_eq!(unsent.shortfall().as_deref(), Some("20 never sent"));
        // A connection failed: whatever else happened, that is what the step reports.
        let mut failed = measured(Some(1), 0.5, 0.5);
        failed.errors = 2;
        let failed = step(counts(100, 4, 4), failed);
        assert_eq!(failed.shortfall().as_deref(), Some("2 connections failed"));
    }

    #[test]
    fn delivered_counts_what_came_back_within_the_step() {
        let mut c = counts(3000, 1, 1);
        c.received_in_step = 2970;
        let s = figures(c, 1000.0, 3.0, measured(Some(2), 0.5, 0.5), 1);
        assert!((s.delivered - 990.0).abs() < 1e-9);
        assert!(s.kept_up, "late arrivals are latency, not a shortfall");
    }

    #[test]
    fn a_client_at_a_full_core_per_thread_is_marked() {
        let bound = |cores, threads| {
            figures(
                counts(10, 1, 1),
                10.0,
                1.0,
                measured(Some(1), cores, 0.1),
                threads,
            )
            .client_bound
        };
        assert!(bound(0.95, 1));
        assert!(!bound(0.85, 1));
        assert!(!bound(1.5, 2));
        assert!(bound(1.85, 2));
    }

    #[test]
    fn cpu_per_message_compares_rates_both_kept_up_with() {
        let at = |offered: f64, target: f64, kept: bool| -> Step {
            let mut s = figures(
                counts(10, 1, 1),
                offered,
                1.0,
                measured(Some(1), 0.2, target),
                1,
            );
            s.kept_up = kept;
            s
        };
        let echo = [
            at(1000.0, 0.02, true),
            at(2000.0, 0.03, true),
            at(4000.0, 0.05, true),
        ];
        let relay = [
            at(1000.0, 0.04, true),
            at(2000.0, 0.09, false),
            at(3000.0, 0.1, true),
        ];
        let c = cpu_per_message("echo", &echo, &relay);
        // 2,000/s: the relay fell behind; 3,000 and 4,000/s: only one target ran them.
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].baseline.as_str(), c[0].rate), ("echo", 1000.0));
        assert!((c[0].baseline_us - 20.0).abs() < 1e-9);
        assert!((c[0].relay_us - 40.0).abs() < 1e-9);
        assert!((c[0].relay_vs_baseline - 0.5).abs() < 1e-9);
    }

    #[test]
    fn only_names_targets_and_they_run_in_a_fixed_order() {
        assert_eq!(targets_to_run("relay, echo").unwrap(), ["echo", "relay"]);
        assert_eq!(targets_to_run("forward").unwrap(), ["forward"]);
        let bad = targets_to_run("echo,both").unwrap_err().to_string();
        assert!(bad.contains("`both`"), "{bad}");
        assert!(targets_to_run("").is_err());
    }
}
