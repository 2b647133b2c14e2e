//! `comparison.html`: a self-contained page (no scripts, no network) with the ranked
//! table and three inline SVG plots — accept_wait CDF per variant, service level
//! against capacity per policy, per-agent load spread per variant.

use super::execute::{Comparison, METRICS, MetricSpec, QUEUE_METRICS, cdf_quantiles};
use super::report::show;
use super::stats::Estimate;
use crate::report::html::esc;
use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// A plot area mapping data to pixels.
struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        let span = if self.x1 > self.x0 {
            self.x1 - self.x0
        } else {
            1.0
        };
        LEFT + (x - self.x0) / span * (W - LEFT - RIGHT)
    }
    fn py(&self, y: f64) -> f64 {
        let span = if self.y1 > self.y0 {
            self.y1 - self.y0
        } else {
            1.0
        };
        H - BOTTOM - (y - self.y0) / span * (H - TOP - BOTTOM)
    }

    /// Axes, numeric y ticks, and x ticks (numeric, or the given labels).
    fn axes(
        &self,
        s: &mut String,
        xlabel: &str,
        ylabel: &str,
        xticks: &[(f64, String)],
        yfmt: &dyn Fn(f64) -> String,
    ) {
        let _ = write!(
            s,
            r#"<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/><line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="black"/>"#,
            l = LEFT,
            r = W - RIGHT,
            t = TOP,
            b = H - BOTTOM
        );
        for i in 0..=4 {
            let y = self.y0 + (self.y1 - self.y0) * f64::from(i) / 4.0;
            let py = self.py(y);
            let _ = write!(
                s,
                r##"<line x1="{l}" y1="{py:.1}" x2="{r}" y2="{py:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end">{}</text>"##,
                esc(&yfmt(y)),
                l = LEFT,
                r = W - RIGHT,
                tx = LEFT - 4.0,
                ty = py + 4.0
            );
        }
        for (x, label) in xticks {
            let px = self.px(*x);
            let _ = write!(
                s,
                r#"<text x="{px:.1}" y="{y}" font-size="11" text-anchor="middle">{}</text>"#,
                esc(label),
                y = H - BOTTOM + 16.0
            );
        }
        let _ = write!(
            s,
            r#"<text x="{x}" y="{y}" font-size="12" text-anchor="middle">{}</text><text x="14" y="{ym}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {ym})">{}</text>"#,
            esc(xlabel),
            esc(ylabel),
            x = (LEFT + W - RIGHT) / 2.0,
            y = H - 10.0,
            ym = (TOP + H - BOTTOM) / 2.0
        );
    }
}

fn legend(s: &mut String, names: &[String]) {
    for (i, n) in names.iter().enumerate() {
        let y = TOP + 14.0 * i as f64;
        let c = COLOURS[i % COLOURS.len()];
        let _ = write!(
            s,
            r#"<rect x="{x}" y="{ry}" width="10" height="10" fill="{c}"/><text x="{tx}" y="{ty}" font-size="11">{}</text>"#,
            esc(n),
            x = W - RIGHT + 10.0,
            ry = y,
            tx = W - RIGHT + 24.0,
            ty = y + 9.0
        );
    }
}

fn svg_open(s: &mut String, title: &str) {
    let _ = write!(
        s,
        r#"<h2>{}</h2><svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">"#,
        esc(title)
    );
}

/// The service-level axis for values from `lo` to `hi`: a margin on each side, within
/// 0..=100%, and at least a point wide.
fn service_level_span(lo: f64, hi: f64) -> (f64, f64) {
    let y1 = (hi + 0.02).min(1.0);
    ((lo - 0.02).max(0.0).min(y1 - 0.01), y1)
}

/// Ticks at round values from 0 to `x1` (a step of 1, 2 or 5 times a power of ten,
/// about five of them), each labelled with the decimals its step needs.
fn round_ticks(x1: f64) -> Vec<(f64, String)> {
    if !(x1 > 0.0 && x1.is_finite()) {
        return vec![(0.0, "0".into())];
    }
    let rough = x1 / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&step| step >= rough)
        .unwrap_or(10.0 * power);
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    let count = (x1 / step + 1e-9).floor() as u32;
    (0..=count)
        .map(|i| {
            let x = f64::from(i) * step;
            (x, format!("{x:.decimals$}"))
        })
        .collect()
}

/// The accept_wait CDF of each variant (quantiles averaged over replications).
fn cdf_plot(c: &Comparison, s: &mut String) {
    svg_open(s, "accept_wait CDF per variant");
    let qs = cdf_quantiles();
    let curves: Vec<Vec<f64>> = c
        .variants
        .iter()
        .map(|v| {
            let runs: Vec<&Vec<f64>> = v
                .runs
                .iter()
                .map(|r| &r.cdf)
                .filter(|c| !c.is_empty())
                .collect();
            if runs.is_empty() {
                return Vec::new();
            }
            (0..qs.len())
                .map(|k| runs.iter().map(|r| r[k]).sum::<f64>() / runs.len() as f64)
                .collect()
        })
        .collect();
    // Up to the largest p99: the last percent would squash the rest.
    let p99 = qs.iter().position(|&q| q >= 0.99).unwrap_or(qs.len() - 1);
    let xmax = curves
        .iter()
        .filter_map(|c| c.get(p99))
        .fold(0.0f64, |a, &b| a.max(b))
        .max(0.01);
    let f = Frame {
        x0: 0.0,
        x1: xmax,
        y0: 0.0,
        y1: 1.0,
    };
    f.axes(
        s,
        "accept_wait (s)",
        "share of accepted chats",
        &round_ticks(xmax),
        &|y| format!("{:.0}%", y * 100.0),
    );
    for (i, curve) in curves.iter().enumerate() {
        if curve.is_empty() {
            continue;
        }
        let mut d = String::new();
        let mut last_y = 0.0;
        for (k, (&q, &x)) in qs.iter().zip(curve).enumerate() {
            if x > xmax {
                break;
            }
            // A step function: rise at x to q.
            let _ = write!(
                d,
                "{}{:.1},{:.1} L{:.1},{:.1} ",
                if k == 0 { "M" } else { "L" },
                f.px(x),
                f.py(last_y),
                f.px(x),
                f.py(q)
            );
            last_y = q;
        }
        let _ = write!(d, "L{:.1},{:.1}", f.px(xmax), f.py(last_y));
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            COLOURS[i % COLOURS.len()]
        );
    }
    legend(
        s,
        &c.variants
            .iter()
            .map(|v| v.name.clone())
            .collect::<Vec<_>>(),
    );
    s.push_str("</svg>");
}

/// Service level against the first varied key that is not the policy, one line per
/// policy (and other keys); with 95% interval bars.
fn service_level_plot(c: &Comparison, s: &mut String) {
    let policy_key = "routing.policy";
    // A comparison varies at least one key; without one there is no axis to draw.
    let Some(x_key) = c
        .keys
        .iter()
        .find(|k| *k != policy_key)
        .or(c.keys.first())
        .cloned()
    else {
        return;
    };
    let x_values: Vec<String> = {
        let mut seen = Vec::new();
        for v in &c.variants {
            if let Some((_, val)) = v.values.iter().find(|(k, _)| *k == x_key)
                && !seen.contains(val)
            {
                seen.push(val.clone());
            }
        }
        seen
    };
    let series_of = |v: &super::execute::VariantResult| -> String {
        let rest: Vec<String> = v
            .values
            .iter()
            .filter(|(k, _)| *k != x_key)
            .map(|(k, val)| {
                if k == policy_key {
                    val.clone()
                } else {
                    format!("{k}={val}")
                }
            })
            .collect();
        if rest.is_empty() {
            "all".into()
        } else {
            rest.join(", ")
        }
    };
    let mut series: Vec<String> = Vec::new();
    for v in &c.variants {
        let n = series_of(v);
        if !series.contains(&n) {
            series.push(n);
        }
    }
    svg_open(s, &format!("service level vs {x_key} per policy"));
    let ests: Vec<_> = c.variants.iter().map(|v| v.estimate(0)).collect();
    let lo = ests
        .iter()
        .flatten()
        .map(|e| {
            if e.half_width.is_finite() {
                METRICS[0].clip(e.low())
            } else {
                e.mean
            }
        })
        .fold(1.0f64, f64::min);
    let hi = ests
        .iter()
        .flatten()
        .map(|e| {
            if e.half_width.is_finite() {
                METRICS[0].clip(e.high())
            } else {
                e.mean
            }
        })
        .fold(0.0f64, f64::max);
    let (y0, y1) = service_level_span(lo, hi);
    let f = Frame {
        x0: -0.5,
        x1: x_values.len() as f64 - 0.5,
        y0,
        y1,
    };
    let ticks: Vec<(f64, String)> = x_values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64, v.clone()))
        .collect();
    f.axes(s, &x_key, "service level", &ticks, &|y| {
        format!("{:.1}%", y * 100.0)
    });
    for (si, name) in series.iter().enumerate() {
        let colour = COLOURS[si % COLOURS.len()];
        let offset = (si as f64 - (series.len() as f64 - 1.0) / 2.0) * 0.04;
        let mut pts = Vec::new();
        for (v, e) in c.variants.iter().zip(&ests) {
            let (Some(e), true) = (e, series_of(v) == *name) else {
                continue;
            };
            let Some(xi) = v
                .values
                .iter()
                .find(|(k, _)| *k == x_key)
                .and_then(|(_, val)| x_values.iter().position(|x| x == val))
            else {
                continue;
            };
            let x = f.px(xi as f64 + offset);
            pts.push(format!("{x:.1},{:.1}", f.py(e.mean)));
            if e.half_width.is_finite() {
                let _ = write!(
                    s,
                    r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{colour}"/>"#,
                    f.py(METRICS[0].clip(e.low())),
                    f.py(METRICS[0].clip(e.high()))
                );
            }
            let _ = write!(
                s,
                r#"<circle cx="{x:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                f.py(e.mean)
            );
        }
        // A line says the points are in an order; policies on the axis are not.
        if x_key != policy_key {
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#,
                pts.join(" ")
            );
        }
    }
    legend(s, &series);
    s.push_str("</svg>");
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    let next = sorted.get(i + 1).copied().unwrap_or(sorted[i]);
    sorted[i] + (next - sorted[i]) * frac
}

/// Per-agent occupancy spread per variant (all replications pooled): box and whiskers.
fn load_plot(c: &Comparison, s: &mut String) {
    svg_open(
        s,
        "per-agent load spread per variant (occupancy of each agent)",
    );
    let f = Frame {
        x0: -0.5,
        x1: c.variants.len() as f64 - 0.5,
        y0: 0.0,
        y1: 1.0,
    };
    let ticks: Vec<(f64, String)> = (0..c.variants.len())
        .map(|i| (i as f64, format!("#{}", i + 1)))
        .collect();
    f.axes(s, "variant", "agent occupancy", &ticks, &|y| {
        format!("{:.0}%", y * 100.0)
    });
    let half = ((W - LEFT - RIGHT) / c.variants.len().max(1) as f64 * 0.3).min(30.0);
    for (i, v) in c.variants.iter().enumerate() {
        let mut loads: Vec<f64> = v
            .runs
            .iter()
            .flat_map(|r| r.agent_loads.iter().copied())
            .filter(|x| x.is_finite())
            .collect();
        if loads.is_empty() {
            continue;
        }
        loads.sort_by(f64::total_cmp);
        let [mn, q1, md, q3, mx] = [0.0, 0.25, 0.5, 0.75, 1.0].map(|q| f.py(quantile(&loads, q)));
        let x = f.px(i as f64);
        let colour = COLOURS[i % COLOURS.len()];
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" y1="{mn:.1}" x2="{x:.1}" y2="{mx:.1}" stroke="{colour}"/><rect x="{:.1}" y="{q3:.1}" width="{:.1}" height="{:.1}" fill="{colour}" fill-opacity="0.3" stroke="{colour}"/><line x1="{:.1}" y1="{md:.1}" x2="{:.1}" y2="{md:.1}" stroke="{colour}" stroke-width="2"/>"#,
            x - half,
            2.0 * half,
            (q1 - q3).max(0.5),
            x - half,
            x + half
        );
    }
    legend(
        s,
        &c.variants
            .iter()
            .enumerate()
            .map(|(i, v)| format!("#{} {}", i + 1, v.name))
            .collect::<Vec<_>>(),
    );
    s.push_str("</svg>");
}

/// A mean with its 95% interval, the interval's ends within what the metric can take.
fn interval(spec: &MetricSpec, e: Option<Estimate>) -> String {
    match e {
        None => "-".into(),
        Some(e) if e.half_width.is_finite() => format!(
            "{} [{} – {}]",
            show(spec, e.mean),
            show(spec, spec.clip(e.low())),
            show(spec, spec.clip(e.high()))
        ),
        Some(e) => show(spec, e.mean),
    }
}

/// Each queue's figures per variant, in rank order, when users asked several queues.
fn by_queue(c: &Comparison, s: &mut String) {
    let queues = c.queues();
    if queues.is_empty() {
        return;
    }
    s.push_str("<h2>By queue</h2><p>Variants in the overall ranking's order: a queue's best need not be first.</p><table><tr><th>queue</th><th>variant</th>");
    for m in &QUEUE_METRICS {
        let _ = write!(s, "<th>{}</th>", m.name);
    }
    s.push_str("</tr>");
    for q in &queues {
        for &i in &c.ranking() {
            let v = &c.variants[i];
            let _ = write!(
                s,
                "<tr><td>{}</td><td>#{} {}</td>",
                esc(q),
                i + 1,
                esc(&v.name)
            );
            for (m, spec) in QUEUE_METRICS.iter().enumerate() {
                let _ = write!(
                    s,
                    "<td>{}</td>",
                    esc(&interval(spec, v.queue_estimate(q, m)))
                );
            }
            s.push_str("</tr>");
        }
    }
    s.push_str("</table>");
}

/// The whole page.
pub fn to_html(c: &Comparison) -> String {
    let mut s = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Switchboard comparison</title><style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>",
    );
    let _ = write!(
        s,
        "<h1>Comparison of <code>{}</code></h1><p>{} mode, {} replications per variant on common random numbers (replication <i>i</i> uses master seed {} + <i>i</i> in every variant). Values are means with 95% Student-t intervals over replications.</p>",
        esc(&c.scenario),
        c.mode,
        c.replications,
        c.seed
    );
    if let Some(why) = &c.stopped {
        let _ = write!(s, "<p><b>Stopped early</b> at {}</p>", esc(why));
    }
    s.push_str("<table><tr><th>rank</th><th>variant</th>");
    for m in &METRICS {
        let _ = write!(s, "<th>{}</th>", m.name);
    }
    if !c.thresholds.is_empty() {
        s.push_str("<th>runs meeting every threshold</th>");
    }
    s.push_str("</tr>");
    for (rank, &i) in c.ranking().iter().enumerate() {
        let v = &c.variants[i];
        let _ = write!(
            s,
            "<tr><td>{}</td><td>#{} {}</td>",
            rank + 1,
            i + 1,
            esc(&v.name)
        );
        for (m, spec) in METRICS.iter().enumerate() {
            let _ = write!(s, "<td>{}</td>", esc(&interval(spec, v.estimate(m))));
        }
        if !c.thresholds.is_empty() {
            let _ = write!(
                s,
                "<td>{} of {}</td>",
                v.runs_meeting_thresholds(),
                v.runs.len()
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    let warned = c.warnings().len();
    if warned > 0 {
        let _ = write!(
            s,
            "<p><b>{warned} warning{} from the runs</b> (listed in the text below): read the figures of those runs with them in mind.</p>",
            if warned == 1 { "" } else { "s" }
        );
    }
    by_queue(c, &mut s);
    let _ = write!(s, "<pre>{}</pre>", esc(&super::report::render(c)));
    cdf_plot(c, &mut s);
    service_level_plot(c, &mut s);
    load_plot(c, &mut s);
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::{round_ticks, service_level_span};

    #[test]
    fn ticks_sit_at_round_values_and_say_them() {
        let labels = |x1| -> Vec<String> { round_ticks(x1).into_iter().map(|(_, l)| l).collect() };
        assert_eq!(labels(1.0), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(labels(78.0), ["0", "20", "40", "60"]);
        assert_eq!(labels(0.037), ["0.00", "0.01", "0.02", "0.03"]);
        for (x, label) in round_ticks(15.6) {
            assert_eq!(label.parse::<f64>().unwrap(), x, "{label} drawn at {x}");
        }
    }

    #[test]
    fn the_service_level_axis_stays_within_0_and_100_percent() {
        assert_eq!(service_level_span(1.0, 1.0), (0.98, 1.0));
        let (y0, y1) = service_level_span(0.8, 0.9);
        assert!((y0 - 0.78).abs() < 1e-9 && (y1 - 0.92).abs() < 1e-9);
        assert_eq!(service_level_span(0.0, 0.0), (0.0, 0.02));
    }
}
