//! `switchboard-bench`: relay vs bare echo, in one run.
//!
//! Starts a bare tokio-tungstenite echo server and then the reference server (each
//! in-process on `127.0.0.1:0`, in a runtime of its own) and drives both with the same
//! open-model load client ([`load`]): a ramp of increasing offered rates finds each
//! target's saturation (the highest delivered rate; a step is saturated when less than
//! 90% of what was offered arrives), then steps at 25%, 50% and 75% of that saturation
//! measure latency (p50/p99/p999 from the scheduled send time, HDR histograms).
//! Prints a table and the ratios relay ÷ echo, and can write the figures as JSON.
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
use load::{Client, Conn, MAX_STEPS, Measured};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Relay vs bare echo: messages/s at saturation and latency at 25/50/75% of it.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
struct Args {
    /// Chats (user + agent connection each) on the relay; the echo gets as many
    /// connections (2 × pairs).
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
    /// Which targets: echo, relay or both.
    #[arg(long, default_value = "both")]
    only: String,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The relay's latency target: p99 within this many ms at 50% of its saturation.
const P99_TARGET_MS: f64 = 5.0;

/// One step's figures.
#[derive(Serialize, Debug, Clone)]
struct Step {
    offered: f64,
    delivered: f64,
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
}

/// A target's figures.
#[derive(Serialize, Debug, Clone)]
struct Result {
    target: String,
    connections: usize,
    /// Highest delivered rate, messages/s.
    saturation: f64,
    /// Whether a ramp step actually saturated (otherwise `saturation` is a lower bound).
    saturated: bool,
    ramp: Vec<Step>,
    /// Steps at 25%, 50% and 75% of saturation.
    at_fraction: Vec<(f64, Step)>,
    /// Highest rate the ramp delivered in full (≥ 90% of the offer) with p99 within
    /// [`P99_TARGET_MS`]: the throughput at that latency, beside the saturation figure.
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
    relay_p99_ms_at_half: Option<f64>,
    target_throughput_ratio_met: Option<bool>,
    target_p99_met: Option<bool>,
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
    if args.max_steps + 5 > MAX_STEPS {
        bail!("--max-steps must be at most {}", MAX_STEPS - 5);
    }
    let which: Vec<&str> = match args.only.as_str() {
        "both" => vec!["echo", "relay"],
        "echo" => vec!["echo"],
        "relay" => vec!["relay"],
        other => bail!("--only must be echo, relay or both, not `{other}`"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .thread_name(load::CLIENT_THREADS)
        .enable_all()
        .build()?;
    let mut results = Vec::new();
    eprintln!("threads: {server_threads} per target, {client_threads} for the client");
    for t in which {
        results.push(rt.block_on(bench_target(t, &args, server_threads))?);
    }
    let echo = results.iter().find(|r| r.target == "echo");
    let relay = results.iter().find(|r| r.target == "relay");
    let ratio = match (echo, relay) {
        (Some(e), Some(r)) if e.saturation > 0.0 => Some(r.saturation / e.saturation),
        _ => None,
    };
    let half = relay.and_then(|r| {
        r.at_fraction
            .iter()
            .find(|(f, _)| (*f - 0.5).abs() < 1e-9)
            .map(|(_, s)| s.p99_ms)
    });
    let report = Report {
        server_threads,
        client_threads,
        relay_vs_echo_throughput: ratio,
        relay_p99_ms_at_half: half,
        target_throughput_ratio_met: ratio.map(|r| r >= 0.6),
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
    /// Starts `name` and connects the client to it; step 0 warms both up (connections,
    /// allocator, caches) and is not reported.
    async fn start(name: &str, args: &Args, server_threads: usize) -> anyhow::Result<Run> {
        let (target, conns): (targets::Target, Vec<Conn>) = match name {
            "echo" => {
                let t = targets::start_echo(server_threads)?;
                let c = targets::echo_conns(t.addr, 2 * args.pairs).await?;
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
        client
            .run_step(0, args.start_rate, args.step_secs.min(1.0), drain(args))
            .await;
        Ok(Run { target, client })
    }

    /// Offers `rate` for `secs` as step `step` and returns its figures.
    async fn step(&self, step: usize, rate: f64, secs: f64, args: &Args) -> Step {
        let m = self.client.run_step(step, rate, secs, drain(args)).await;
        figures(&self.client, step, rate, m)
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

fn drain(args: &Args) -> Duration {
    Duration::from_secs_f64(args.drain_secs)
}

/// Ramps `name` to saturation, then measures latency at fractions of it on a fresh
/// instance: the ramp ends in overload, whose aftermath (grown buffers, a Desk full of
/// transcripts) must not count against the latency steps.
async fn bench_target(name: &str, args: &Args, server_threads: usize) -> anyhow::Result<Result> {
    let run = Run::start(name, args, server_threads).await?;
    let connections = run.client.connections();
    let mut step = 1;
    let mut rate = args.start_rate;
    let mut ramp = Vec::new();
    let mut saturated = false;
    for _ in 0..args.max_steps {
        let s = run.step(step, rate, args.step_secs, args).await;
        eprintln!(
            "[{name}] offered {:>9.0}/s delivered {:>9.0}/s p99 {:>8.2} ms (send lag p99 {:.2} ms; cores: client {}, target {})",
            s.offered,
            s.delivered,
            s.p99_ms,
            s.send_lag_p99_ms,
            cores(s.client_cores),
            cores(s.target_cores)
        );
        let delivered = s.delivered;
        ramp.push(s);
        step += 1;
        if delivered < 0.9 * rate {
            saturated = true;
            break;
        }
        rate *= args.growth;
    }
    let (mut sent, mut received, mut errors) = run.totals();
    run.stop();
    let saturation = ramp.iter().map(|s| s.delivered).fold(0.0, f64::max);
    let run = Run::start(name, args, server_threads).await?;
    let mut at_fraction = Vec::new();
    for f in [0.25, 0.5, 0.75] {
        let r = saturation * f;
        let s = run.step(step, r, args.measure_secs, args).await;
        eprintln!(
            "[{name}] {:>3.0}% of saturation: {:>9.0}/s p50 {:.2} p99 {:.2} p999 {:.2} ms (send lag p99 {:.2} ms; cores: client {}, target {})",
            f * 100.0,
            s.delivered,
            s.p50_ms,
            s.p99_ms,
            s.p999_ms,
            s.send_lag_p99_ms,
            cores(s.client_cores),
            cores(s.target_cores)
        );
        at_fraction.push((f, s));
        step += 1;
    }
    let (s, r, e) = run.totals();
    (sent, received, errors) = (sent + s, received + r, errors + e);
    run.stop();
    let rate_within_p99_target = ramp
        .iter()
        .filter(|s| s.delivered >= 0.9 * s.offered && s.p99_ms <= P99_TARGET_MS)
        .map(|s| s.delivered)
        .reduce(f64::max);
    Ok(Result {
        target: name.to_string(),
        connections,
        saturation,
        saturated,
        ramp,
        at_fraction,
        rate_within_p99_target,
        sent,
        received,
        errors,
    })
}

fn figures(client: &Client, step: usize, offered: f64, m: Measured) -> Step {
    let h = client.shared.histogram(step);
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Step {
        offered,
        delivered: m.delivered,
        client_cores: m.client_cores,
        target_cores: m.target_cores,
        count: h.len(),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: h.max() as f64 / 1000.0,
        send_lag_p99_ms: client.shared.send_lag(step).value_at_quantile(0.99) as f64 / 1000.0,
    }
}

/// A CPU figure for the console: cores with two decimals, `?` without `/proc`.
fn cores(c: Option<f64>) -> String {
    c.map_or_else(|| "?".to_string(), |c| format!("{c:.2}"))
}

fn print_report(r: &Report) {
    println!();
    println!(
        "{:<6} {:>6} {:>14} {:>6} {:>11} {:>9} {:>9} {:>9} {:>12} {:>12}",
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
            "{}{:.0}",
            if res.saturated { "" } else { ">=" },
            res.saturation
        );
        for (f, s) in &res.at_fraction {
            println!(
                "{:<6} {:>6} {:>14} {:>5.0}% {:>11.0} {:>9.2} {:>9.2} {:>9.2} {:>12} {:>12}",
                res.target,
                res.connections,
                sat,
                f * 100.0,
                s.delivered,
                s.p50_ms,
                s.p99_ms,
                s.p999_ms,
                cores(s.client_cores),
                cores(s.target_cores)
            );
        }
        println!(
            "{:<6} sent {} received {} errors {}",
            res.target, res.sent, res.received, res.errors
        );
        if let Some(rate) = res.rate_within_p99_target {
            println!(
                "{:<6} highest ramp rate with p99 <= {P99_TARGET_MS} ms: {rate:.0}/s",
                res.target
            );
        }
    }
    if let Some(x) = r.relay_vs_echo_throughput {
        println!(
            "relay / echo throughput: {:.2} (target >= 0.60: {})",
            x,
            if x >= 0.6 { "met" } else { "NOT met" }
        );
    }
    if let Some(p) = r.relay_p99_ms_at_half {
        println!(
            "relay p99 at 50% of its saturation: {:.2} ms (target <= {P99_TARGET_MS} ms: {})",
            p,
            if p <= P99_TARGET_MS { "met" } else { "NOT met" }
        );
    }
}
