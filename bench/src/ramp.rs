//! Finding a target's saturation (a ramp of offered rates, then bisection, each step
//! after one that fell behind on a fresh instance) and its latency at fractions of it.

use crate::Args;
use crate::figures::{P99_TARGET_MS, Step, TargetResult, figures};
use crate::load::{Client, Conn};
use crate::print::{cores, disturbance, log_step};
use crate::targets;
use std::time::Duration;

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
pub async fn bench_target(
    name: &str,
    args: &Args,
    server_threads: usize,
    client_threads: usize,
) -> anyhow::Result<TargetResult> {
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
            if !s.kept_up {
                // Its backlog must not count against the next step: a fresh instance.
                runs.restart();
            }
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
    Ok(TargetResult {
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
