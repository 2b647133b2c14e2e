//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, nothing
//! fetched): the run's identity, the threshold verdicts, the latency table, rates,
//! plots, counters and errors by code.

use super::plots::Plot;
use crate::metrics::counters::Counters;
use crate::metrics::names::Stat;
use crate::metrics::summary::{Mode, Summary};
use std::fmt::Write as _;

const CSS: &str = r#"
*{box-sizing:border-box}
body{font-family:"DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f4f5f7;color:#1f2328;line-height:1.45}
main{max-width:1080px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
h3{font-size:16px;margin:22px 0 4px}
.sub{color:#57606a;margin:0 0 14px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:14px 18px;margin:10px 0}
.verdict{display:inline-block;font-weight:bold;padding:6px 14px;border-radius:6px;color:#fff;font-size:18px}
.ok{background:#1a7f37}.bad{background:#cf222e}.na{background:#8c959f}
.badge{display:inline-block;min-width:46px;text-align:center;font-weight:bold;font-size:12px;padding:2px 6px;border-radius:4px;color:#fff}
table{border-collapse:collapse;width:100%;font-size:14px;background:#fff}
th,td{padding:5px 10px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}
th{background:#f6f8fa;font-weight:600}
th:first-child,td:first-child{text-align:left}
td.l,th.l{text-align:left;white-space:normal}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}
dl.facts dt{color:#57606a}dl.facts dd{margin:0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.stat{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px}
.stat b{display:block;font-size:22px}.stat span{color:#57606a;font-size:13px}
figure{margin:0}
figure svg{width:100%;height:auto;display:block}
figcaption{color:#57606a;font-size:13px;margin-top:4px}
.muted{color:#8c959f}
code{font-size:13px}
"#;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), crate::console::percent)
}

/// Milliseconds to the microsecond the histograms record: the report rounds nothing
/// away (2338.921, not 2339; 0.004, not 0.00).
fn num(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

/// The SVG for inlining: without its XML prolog and namespace declarations (HTML
/// parsers put `<svg>` in the SVG namespace by themselves), so the page holds no URL
/// at all.
fn inline_svg(svg: &str) -> String {
    let body = svg.find("<svg").map_or(svg, |i| &svg[i..]);
    body.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
        .replacen(" xmlns:xlink=\"http://www.w3.org/1999/xlink\"", "", 1)
}

/// The page for `summary` with the rendered plots (`(plot, svg text)`).
pub fn page(
    summary: &Summary,
    plots: &[(Plot, String)],
    intervals: usize,
    interval_s: f64,
) -> String {
    let s = summary;
    let mut h = String::with_capacity(256 * 1024);
    let title = format!("{} — Switchboard report", s.scenario);
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body><main>",
        esc(&title)
    );
    let description = s
        .resolved_scenario
        .get("description")
        .and_then(|d| d.as_str())
        .unwrap_or("");
    let _ = writeln!(
        h,
        "<h1>{}</h1><p class=\"sub\">{}</p>",
        esc(&s.scenario),
        esc(description)
    );
    let (cls, text) = if s.passed {
        ("ok", "PASSED")
    } else {
        ("bad", "FAILED")
    };
    let failed = s.thresholds.iter().filter(|t| !t.pass).count();
    let violated = s.invariants.as_ref().is_some_and(|i| i.violations > 0);
    let interrupted = s
        .warnings
        .iter()
        .any(|w| crate::metrics::summary::is_interrupted_warning(w));
    let unreadable = s
        .warnings
        .iter()
        .any(|w| w.starts_with(crate::checker::UNREADABLE_WARNING));
    let other = match (violated, interrupted, unreadable) {
        (true, _, _) => " — a routing invariant was violated (see <code>invariants.json</code>)",
        (false, true, _) => " — the run was interrupted before the end of its scenario",
        (false, false, true) => " — the routing checker could not read the run's records",
        (false, false, false) => "",
    };
    let _ = writeln!(
        h,
        "<div class=\"card\"><span class=\"verdict {cls}\">{text}</span> &nbsp; {failed} of {} thresholds failed{other}</div>",
        s.thresholds.len()
    );
    if let Some(inv) = &s.invariants {
        let _ = writeln!(h, "<div class=\"card\">{}</div>", esc(&inv.line()));
    }

    for w in &s.warnings {
        let _ = writeln!(
            h,
            "<div class=\"card\" style=\"border-color:#bf8700;background:#fff8c5\"><b>Warning</b>: {}</div>",
            esc(w)
        );
    }
    h.push_str("<h2>Run</h2><div class=\"card\"><dl class=\"facts\">");
    let policy = s
        .resolved_scenario
        .pointer("/routing/policy")
        .and_then(|v| v.as_str())
        .unwrap_or("–");
    let facts = [
        ("scenario", esc(&s.scenario)),
        ("mode", s.mode.to_string()),
        ("seed", s.seed.to_string()),
        ("routing policy", esc(policy)),
        (
            "scenario time",
            format!("{:.0} s", s.elapsed.scenario_seconds),
        ),
        (
            "wall clock",
            format!(
                "{:.1} s{}",
                s.wall_clock.real_seconds,
                s.wall_clock
                    .started_at
                    .as_deref()
                    .map_or(String::new(), |t| format!(", started {}", esc(t)))
            ),
        ),
        (
            "machine besides the run",
            s.wall_clock.interference.map_or_else(
                || match s.mode {
                    Mode::Virtual => "not applicable (virtual time)".to_string(),
                    Mode::Live => "not measured (no /proc)".to_string(),
                },
                |i| {
                    format!(
                        "steal time {:.2}, other processes {:.2} cores on average",
                        i.stolen_cores, i.others_cores
                    )
                },
            ),
        ),
        (
            "intervals",
            format!("{intervals} × {} s of scenario time", chart_num(interval_s)),
        ),
        (
            "overrides",
            if s.overrides.is_empty() {
                "none".into()
            } else {
                esc(&s.overrides.join(", "))
            },
        ),
    ];
    for (k, v) in facts {
        let _ = write!(h, "<dt>{k}</dt><dd>{v}</dd>");
    }
    h.push_str("</dl></div>\n");

    h.push_str("<h2>Thresholds</h2>");
    if s.thresholds.is_empty() {
        h.push_str("<p class=\"muted\">The scenario sets no thresholds.</p>");
    } else {
        h.push_str("<table><tr><th>verdict</th><th class=\"l\">threshold</th><th>observed</th><th class=\"l\">note</th></tr>");
        for t in &s.thresholds {
            let cls = match t.verdict() {
                "PASS" => "ok",
                "FAIL" => "bad",
                _ => "na",
            };
            let observed = esc(&t.observed_text());
            let _ = write!(
                h,
                "<tr><td><span class=\"badge {cls}\">{}</span></td><td class=\"l\"><code>{}</code></td><td>{observed}</td><td class=\"l\">{}</td></tr>",
                t.verdict(),
                esc(&t.expression),
                esc(t
                    .not_applicable
                    .as_deref()
                    .or(t.no_data.as_deref())
                    .unwrap_or(""))
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Rates</h2><div class=\"grid\">");
    let target = chart_num(s.service_level_target_ms / 1000.0);
    for (label, v) in [
        (
            format!("service level (≤ {target} s)"),
            pct(s.service_level),
        ),
        ("abandon rate".into(), pct(s.abandon_rate)),
        ("occupancy".into(), pct(s.occupancy)),
        (
            "fairness (Jain)".into(),
            s.fairness.map_or("–".into(), |f| format!("{f:.3}")),
        ),
    ] {
        let _ = write!(
            h,
            "<div class=\"stat\"><b>{v}</b><span>{}</span></div>",
            esc(&label)
        );
    }
    h.push_str("</div>\n");

    if s.queues.len() > 1 {
        by_queue(&mut h, s);
    }

    h.push_str("<h2>Latencies (ms)</h2><table><tr><th>metric</th>");
    for st in Stat::ALL {
        let _ = write!(h, "<th>{}</th>", st.as_str());
    }
    h.push_str("</tr>");
    for (name, m) in &s.metrics.0 {
        let _ = write!(h, "<tr><td>{}</td>", esc(name));
        for st in Stat::ALL {
            let v = m.get(st);
            let cell = if st == Stat::Count {
                m.count.to_string()
            } else {
                num(v)
            };
            let _ = write!(h, "<td>{cell}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>\n");

    h.push_str("<h2>Plots</h2>");
    for (p, svg) in plots {
        let _ = writeln!(
            h,
            "<h3>{}</h3><figure class=\"card\">{}<figcaption>{} <span class=\"muted\">({}.svg, {}.png)</span></figcaption></figure>",
            esc(p.heading),
            inline_svg(svg),
            esc(&p.caption),
            p.name,
            p.name
        );
    }

    h.push_str("<h2>Counters</h2><table><tr><th>counter</th><th>value</th></tr>");
    for name in Counters::NAMES {
        if let Some(v) = s.counters.get(name) {
            let _ = write!(h, "<tr><td>{name}</td><td>{v}</td></tr>");
        }
    }
    h.push_str("</table>\n<h2>Errors by code</h2>");
    if s.counters.errors.is_empty() {
        h.push_str("<p class=\"muted\">No errors.</p>");
    } else {
        h.push_str("<table><tr><th>code</th><th>count</th></tr>");
        for (code, n) in &s.counters.errors {
            let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(code));
        }
        h.push_str("</table>");
    }
    h.push_str("\n<h2>Files</h2><p class=\"sub\">This folder also holds <code>summary.json</code>, <code>summary.csv</code>, <code>timeseries.csv</code>, <code>histograms.hlog</code> and each plot as SVG and PNG. <code>switchboard report &lt;folder&gt;</code> regenerates the plots and this page from them.</p>");
    h.push_str("</main></body></html>\n");
    h
}

/// What each queue's users met: the desk's totals can pass while one queue fails.
fn by_queue(h: &mut String, s: &Summary) {
    h.push_str("<h2>By queue</h2><table><tr><th class=\"l\">queue</th><th>offered</th><th>accepted</th><th>abandoned</th><th>lost</th><th>still waiting</th><th>service level</th><th>abandon rate</th><th>accept_wait p50 (ms)</th><th>p95</th><th>max</th></tr>");
    for (name, q) in &s.queues {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            q.chats.offered,
            q.chats.accepted,
            q.chats.abandoned,
            q.chats.lost,
            q.chats.queued_at_end,
            pct(q.service_level),
            pct(q.abandon_rate),
            num(q.accept_wait.p50),
            num(q.accept_wait.p95),
            num(q.accept_wait.max),
        );
    }
    h.push_str("</table>\n");
}

fn chart_num(v: f64) -> String {
    super::chart::tick(v)
}

#[cfg(test)]
mod tests {
    use super::pct;

    #[test]
    fn a_share_short_of_whole_is_not_shown_as_whole() {
        assert_eq!(pct(Some(0.9996)), "99.96%");
        assert_eq!(pct(Some(0.0004)), "0.04%");
        assert_eq!(pct(Some(0.5)), "50.0%");
        assert_eq!(pct(None), "–");
    }
}
