//! The console's view of the figures: a line per step as it ends, then the table, the
//! ratios and the targets' verdicts.

use crate::figures::{P99_TARGET_MS, Report, Step};
use switchboard_sim::host;

pub fn log_step(name: &str, s: &Step) {
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
pub fn disturbance(s: &Step) -> String {
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

/// A CPU figure for the console: cores with two decimals, `?` without `/proc`.
pub fn cores(c: Option<f64>) -> String {
    c.map_or_else(|| "?".to_string(), |c| format!("{c:.2}"))
}

pub fn print_report(r: &Report) {
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
                "{:<7} {:>6} {:>14} {:>5.0}% {:>11} {:>9.2} {:>9.2} {:>9.2} {:>12} {:>12}",
                res.target,
                res.connections,
                sat,
                f * 100.0,
                format!("{:.0}{}", s.delivered, if s.kept_up { "" } else { "~" }),
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
        .any(|res| res.at_fraction.iter().any(|(_, s)| !s.kept_up))
    {
        println!(
            "~ the latency step did not keep up (a queue built up, or messages came back late or not at all: its percentiles leave those out)"
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
            match r.target_throughput_ratio_met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "undecided",
            }
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
            match (r.target_p99_met, p <= P99_TARGET_MS) {
                (Some(true), _) => "met",
                (Some(false), true) => "NOT met: the step did not keep up",
                (Some(false), false) => "NOT met",
                (None, _) => "undecided",
            }
        );
    }
    for why in &r.undecided {
        println!("undecided: {why}");
    }
}
