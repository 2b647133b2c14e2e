//! The end-of-run summary printed on the console: the latency table, the counters, the
//! rates, the same by queue when users asked more than one, and each threshold's
//! verdict.

use crate::metrics::{MetricName, Summary};
use std::fmt::Write as _;

/// Milliseconds to about four significant figures, for a table read at a glance
/// (`summary.json` and `report.html` have them to the microsecond); below a
/// millisecond to the microsecond, so a small latency does not print as 0.
fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 10_000.0 => format!("{:.1}s", v / 1000.0),
        Some(v) if v >= 100.0 => format!("{v:.0}ms"),
        Some(v) if v >= 1.0 => format!("{v:.2}ms"),
        Some(v) => format!("{v:.3}ms"),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), percent)
}

/// A share as a percentage with one decimal, more where one would round it to a whole
/// percentage it is not: 5,917 of 5,918 is 99.98%, not 100.0%, and 19 of 381 is 4.99%,
/// not 5.0% beside a threshold `< 5%` it meets. The console and `report.html` print
/// shares this way.
pub fn percent(v: f64) -> String {
    let p = v * 100.0;
    let whole = p.round();
    let mut decimals = 1;
    while decimals < 6 {
        let text = format!("{p:.decimals$}");
        if p == whole || text != format!("{whole:.decimals$}") {
            break;
        }
        decimals += 1;
    }
    format!("{p:.decimals$}%")
}

/// The summary as text.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let c = &s.counters;
    let _ = writeln!(
        out,
        "\n{} ({} mode, seed {}): {:.0}s of scenario time in {:.1}s",
        s.scenario, s.mode, s.seed, s.elapsed.scenario_seconds, s.wall_clock.real_seconds
    );
    let _ = writeln!(
        out,
        "chats: offered {} accepted {} abandoned {} transferred {} closed {} lost {} still waiting {} still open {}",
        c.chats.offered,
        c.chats.accepted,
        c.chats.abandoned,
        c.chats.transferred,
        c.chats.closed,
        c.chats.lost,
        c.chats.queued_at_end,
        c.chats.active_at_end
    );
    let tickets = c.tickets.incidents + c.tickets.work_orders;
    let _ = writeln!(
        out,
        "tickets {tickets} (incidents {} work orders {}; from a template {} of the {tickets}, drafts confirmed {}); articles shared {} pinned {}; messages {}{}",
        c.tickets.incidents,
        c.tickets.work_orders,
        c.tickets.from_template,
        c.tickets.drafts_confirmed,
        c.articles.shared,
        c.articles.pinned,
        c.messages.sent,
        match c.messages.undelivered_at_end {
            0 => String::new(),
            n => format!(" ({n} not seen by the other side at the end)"),
        }
    );
    let _ = writeln!(
        out,
        "service level {} (within {}), abandon rate {}, occupancy {}, fairness {}",
        pct(s.service_level),
        ms(Some(s.service_level_target_ms)),
        pct(s.abandon_rate),
        pct(s.occupancy),
        s.fairness.map_or("-".into(), |f| format!("{f:.3}"))
    );
    let _ = writeln!(
        out,
        "\n{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "metric", "count", "mean", "p50", "p95", "p99", "p99.9", "max"
    );
    for m in MetricName::ALL {
        let Some(v) = s.metrics.get(m) else { continue };
        if v.count == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            m.as_str(),
            v.count,
            ms(v.mean),
            ms(v.p50),
            ms(v.p95),
            ms(v.p99),
            ms(v.p999),
            ms(v.max)
        );
    }
    if s.queues.len() > 1 {
        render_queues(&mut out, s);
    }
    if !c.errors.is_empty() {
        let list: Vec<String> = c.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "\nerrors: {}", list.join(", "));
    }
    for w in &s.warnings {
        let _ = writeln!(out, "\nWARNING: {w}");
    }
    if !s.thresholds.is_empty() {
        let _ = writeln!(out, "\nthresholds:");
        for t in &s.thresholds {
            let observed = match (&t.not_applicable, t.observed) {
                (Some(why), _) => format!("not applicable: {why}"),
                (None, None) => match &t.no_data {
                    Some(why) => format!("no data: {why}"),
                    None => "no data".into(),
                },
                (None, Some(_)) => format!("observed {}", t.observed_text()),
            };
            let _ = writeln!(out, "  {:<4} {}  ({observed})", t.verdict(), t.expression);
        }
    }
    if let Some(inv) = &s.invariants {
        let _ = writeln!(out, "\n{}", inv.line());
    }
    out
}

/// The run's verdict in one line, last on the console: what made it fail, or that it
/// passed (and whether warnings above qualify that).
pub fn verdict(s: &Summary) -> String {
    if s.passed {
        return match s.warnings.len() {
            0 => "PASSED".to_string(),
            n => format!(
                "PASSED, with {n} warning{} above",
                if n == 1 { "" } else { "s" }
            ),
        };
    }
    let mut why = Vec::new();
    let failed = s
        .thresholds
        .iter()
        .filter(|t| t.verdict() == "FAIL")
        .count();
    if failed > 0 {
        why.push(format!(
            "{failed} of {} thresholds failed",
            s.thresholds.len()
        ));
    }
    if let Some(inv) = s.invariants.as_ref().filter(|i| i.violations > 0) {
        why.push(format!("{} routing invariant violations", inv.violations));
    }
    if s.warnings
        .iter()
        .any(|w| crate::metrics::summary::is_interrupted_warning(w))
    {
        why.push("interrupted before its end".to_string());
    }
    if why.is_empty() {
        why.push("see above".to_string());
    }
    format!("FAILED: {}", why.join("; "))
}

/// One line per queue: what its users met. The desk's totals can pass while one queue
/// fails.
fn render_queues(out: &mut String, s: &Summary) {
    let width = s.queues.keys().map(String::len).max().unwrap_or(5).max(5);
    let _ = writeln!(
        out,
        "\n{:<width$} {:>8} {:>8} {:>9} {:>8} {:>8} {:>13} {:>13} {:>10} {:>10} {:>10}",
        "queue",
        "offered",
        "accepted",
        "abandoned",
        "lost",
        "waiting",
        "service level",
        "abandon rate",
        "wait p50",
        "wait p95",
        "wait max"
    );
    for (name, q) in &s.queues {
        let _ = writeln!(
            out,
            "{name:<width$} {:>8} {:>8} {:>9} {:>8} {:>8} {:>13} {:>13} {:>10} {:>10} {:>10}",
            q.chats.offered,
            q.chats.accepted,
            q.chats.abandoned,
            q.chats.lost,
            q.chats.queued_at_end,
            pct(q.service_level),
            pct(q.abandon_rate),
            ms(q.accept_wait.p50),
            ms(q.accept_wait.p95),
            ms(q.accept_wait.max)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ChatOutcome, Recorder, RunInfo};
    use std::time::Duration;

    #[test]
    fn the_verdict_says_what_failed() {
        let mut r = Recorder::new(Duration::from_secs(60));
        r.count_chat("desk", ChatOutcome::Offered);
        r.count_chat("desk", ChatOutcome::Lost);
        let mut s = Summary::build(RunInfo::unit(), &mut r).expect("summary");
        s.warnings.clear();
        assert_eq!(verdict(&s), "PASSED");
        s.warnings.push("something to know".into());
        assert_eq!(verdict(&s), "PASSED, with 1 warning above");
        let t = |k: &str, c: &str| crate::threshold::Threshold::parse(k, c).unwrap();
        s.apply_thresholds(&[t("chats.lost", "== 0"), t("chats.offered", "== 1")]);
        assert_eq!(verdict(&s), "FAILED: 1 of 2 thresholds failed");
        s.warnings
            .push(crate::metrics::summary::INTERRUPTED_WARNING.to_string());
        assert_eq!(
            verdict(&s),
            "FAILED: 1 of 2 thresholds failed; interrupted before its end"
        );
    }

    #[test]
    fn a_share_that_is_not_whole_does_not_print_as_whole() {
        assert_eq!(pct(Some(1.0)), "100.0%");
        assert_eq!(pct(Some(5917.0 / 5918.0)), "99.98%");
        assert_eq!(pct(Some(0.0)), "0.0%");
        assert_eq!(pct(Some(0.0004)), "0.04%");
        assert_eq!(pct(Some(0.954)), "95.4%");
        // Nor as a whole percentage it is not (beside a threshold `< 5%` it meets).
        assert_eq!(pct(Some(19.0 / 381.0)), "4.99%");
        assert_eq!(pct(Some(0.05)), "5.0%");
        assert_eq!(pct(Some(0.2497)), "24.97%");
        assert_eq!(pct(None), "-");
    }

    #[test]
    fn each_queue_row_adds_up_to_what_was_offered() {
        let mut r = Recorder::new(Duration::from_secs(60));
        for (queue, outcome) in [
            ("desk", ChatOutcome::Accepted),
            ("desk", ChatOutcome::Abandoned),
            ("desk", ChatOutcome::QueuedAtEnd),
            ("desk", ChatOutcome::QueuedAtEnd),
            ("network", ChatOutcome::Lost),
        ] {
            r.count_chat(queue, ChatOutcome::Offered);
            r.count_chat(queue, outcome);
        }
        r.record_accept_wait("desk", Duration::from_secs(5));
        let text = render(&Summary::build(RunInfo::unit(), &mut r).expect("summary"));
        let row = |name: &str| -> Vec<String> {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no row for {name} in\n{text}"));
            line.split_whitespace()
                .skip(1)
                .take(5)
                .map(String::from)
                .collect()
        };
        assert!(
            text.contains("offered accepted abandoned     lost  waiting"),
            "{text}"
        );
        // offered = accepted + abandoned + lost + still waiting
        assert_eq!(row("desk"), ["4", "1", "1", "0", "2"]);
        assert_eq!(row("network"), ["1", "0", "0", "1", "0"]);
    }
}
