//! Throughput of virtual time: runs a scenario with the virtual driver alone (no
//! report files) and prints events/s, commands/s and chats/s with the peak memory.
//!
//! ```text
//! cargo run --release -p switchboard-sim --example virtual_time_bench -- \
//!     scenarios/contact-centre-day.toml [KEY=VALUE …]
//! ```

use anyhow::{Context, Result};
use std::time::Instant;
use switchboard_sim::erlang::Analytic;
use switchboard_sim::metrics::{Elapsed, Mode, RunInfo, Summary};
use switchboard_sim::scenario::{Override, Scenario};
use switchboard_sim::virtual_time::VirtualRun;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .context("usage: virtual_time_bench SCENARIO [KEY=VALUE …]")?;
    let overrides: Vec<Override> = args
        .map(|a| a.parse().map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    let scenario = Scenario::load(file.as_ref(), &overrides).map_err(|e| anyhow::anyhow!("{e}"))?;
    let wall = Instant::now();
    let (mut rec, stats, _desk) = VirtualRun::new(&scenario)?.run();
    let secs = wall.elapsed().as_secs_f64();
    let chats = rec.counters.chats.offered;
    let messages = rec.counters.messages.sent;
    println!(
        "{}: {} chats, {} messages, {} events, {} desk commands in {secs:.2}s wall",
        scenario.name, chats, messages, stats.events, stats.commands
    );
    println!(
        "  {:.0} events/s, {:.0} commands/s, {:.0} chats/s, peak RSS {:.0} MB",
        stats.events as f64 / secs,
        stats.commands as f64 / secs,
        chats as f64 / secs,
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    let mut info = RunInfo::for_scenario(&scenario, Mode::Virtual, &overrides);
    info.elapsed = Elapsed {
        scenario_seconds: stats.end.as_secs_f64(),
        interval_seconds: rec.interval().as_secs_f64(),
    };
    let summary = Summary::build(info, &mut rec)?;
    print!("{}", Analytic::of(&scenario, &summary).render());
    Ok(())
}
