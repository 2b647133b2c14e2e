//! The report's plots, built from the saved data (summary, time series, HDR log) and
//! written as `<name>.svg` and `<name>.png`. Long runs stay readable: gauges are
//! shown at most [`MAX_BINS`] times per plot, rates and percentiles over bins of at
//! least a minute and at most `MAX_BINS / 2` bins (histograms merged exactly, counts
//! added), and the time axis is in minutes or hours depending on the run's length.

use super::chart::{self, Chart, SIZE, Series};
use super::hlog::Intervals;
use super::timeseries::Row;
use crate::metrics::names::MetricName;
use crate::metrics::recorder::new_histogram;
use crate::metrics::summary::Summary;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Most points per line over time.
pub const MAX_BINS: usize = 120;

/// A plot of the report: file stem, heading and what it shows.
#[derive(Clone, Debug)]
pub struct Plot {
    /// File name without extension.
    pub name: &'static str,
    /// Heading in the HTML report.
    pub heading: &'static str,
    /// One sentence on how to read it.
    pub caption: String,
    /// What to draw.
    pub chart: Chart,
}

/// Registers the bundled DejaVu Sans as plotters' `sans-serif` (once per process), so
/// text renders on a machine without any fonts installed.
pub fn register_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the bundled DejaVu Sans font did not load".to_string())?;
        plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold())
            .map_err(|_| "the bundled DejaVu Sans Bold font did not load".to_string())
    })
    .clone()
}

/// How time is shown on the x axis.
struct TimeAxis {
    unit_s: f64,
    label: &'static str,
}

impl TimeAxis {
    fn for_span(span_s: f64) -> TimeAxis {
        if span_s <= 2.0 * 3600.0 {
            TimeAxis {
                unit_s: 60.0,
                label: "scenario time (min)",
            }
        } else {
            TimeAxis {
                unit_s: 3600.0,
                label: "scenario time (h)",
            }
        }
    }
}

/// Intervals grouped into bins: `(first row index, rows)`.
fn bins(n: usize) -> usize {
    n.div_ceil(MAX_BINS).max(1)
}

/// Length of one interval in scenario seconds: as the summary records it, else (an
/// older summary) the step between the first two rows, else 1 s.
pub(crate) fn interval_len(summary: &Summary, rows: &[Row]) -> f64 {
    match rows {
        _ if summary.elapsed.interval_seconds > 0.0 => summary.elapsed.interval_seconds,
        [a, b, ..] if b.start_s > a.start_s => b.start_s - a.start_s,
        _ => 1.0,
    }
}

fn bin_label(secs: f64) -> String {
    if secs >= 3600.0 && (secs / 3600.0).fract() == 0.0 {
        format!("{} h", secs / 3600.0)
    } else if secs >= 60.0 && (secs / 60.0).fract() == 0.0 {
        format!("{} min", secs / 60.0)
    } else {
        format!("{} s", chart::tick(secs))
    }
}

/// Every plot of the report.
pub fn plots(summary: &Summary, rows: &[Row], intervals: &Intervals) -> Vec<Plot> {
    let len = interval_len(summary, rows);
    // The run may end inside its last interval: a rate there is over the part it ran.
    let ended = summary.elapsed.scenario_seconds;
    let span = rows.len() as f64 * len;
    let axis = TimeAxis::for_span(span.max(summary.elapsed.scenario_seconds));
    let k = bins(rows.len());
    // Rates and percentiles need events in each bin: at least a minute per bin and
    // at most MAX_BINS / 2 bins.
    let kr = rows
        .len()
        .div_ceil(MAX_BINS / 2)
        .max((60.0 / len).ceil() as usize)
        .max(1);
    let bin_s = len * kr as f64;
    let name = &summary.scenario;
    let x = |i: usize| rows[i].start_s / axis.unit_s;

    // Gauges at the start of each bin.
    let gauge = |f: fn(&Row) -> Option<u64>| -> Vec<(f64, Option<f64>)> {
        (0..rows.len())
            .step_by(k)
            .map(|i| (x(i), f(&rows[i]).map(|v| v as f64)))
            .collect()
    };
    // Counts per bin, as a rate per minute.
    let per_min = |f: fn(&Row) -> u64| -> Vec<(f64, Option<f64>)> {
        (0..rows.len())
            .step_by(kr)
            .map(|i| {
                let end = (i + kr).min(rows.len());
                let n: u64 = rows[i..end].iter().map(f).sum();
                // The last bin may hold fewer intervals, and the run may end inside the
                // last one: its rate is over the time it covers, once that is at least
                // half the bin (a sliver of a bin would turn one event into a spike).
                let whole = (end - i) as f64 * len;
                let ran = ended - rows[i].start_s;
                let span = if ran >= whole / 2.0 {
                    whole.min(ran)
                } else {
                    whole
                };
                (
                    x(i) + span / 2.0 / axis.unit_s,
                    Some(n as f64 * 60.0 / span),
                )
            })
            .collect()
    };

    let mut out = Vec::new();
    out.push(Plot {
        name: "queue",
        heading: "Queue depth and active chats",
        caption:
            "Chats waiting for an agent and chats with an agent, sampled at each interval's start."
                .into(),
        chart: Chart::Lines {
            title: format!("{name}: queue depth and active chats"),
            x_label: axis.label.into(),
            y_label: "chats".into(),
            series: vec![
                Series {
                    name: "queued".into(),
                    points: gauge(|r| r.queued),
                },
                Series {
                    name: "active chats".into(),
                    points: gauge(|r| r.active_chats),
                },
            ],
            y_max: None,
        },
    });

    // accept_wait percentiles per bin, from the merged interval histograms.
    let aw = intervals.get(&MetricName::AcceptWait);
    let bin_hists: Vec<(f64, Option<hdrhistogram::Histogram<u64>>)> = (0..rows.len())
        .step_by(kr)
        .map(|i| {
            let (lo, hi) = (rows[i].start_s, rows[i].start_s + bin_s);
            let mut h = new_histogram().ok();
            for (start, x) in aw.into_iter().flatten() {
                let s = start.as_secs_f64();
                if s >= lo - 1e-9
                    && s < hi - 1e-9
                    && let Some(h) = h.as_mut()
                {
                    let _ = h.add(x);
                }
            }
            (
                x(i) + bin_s / 2.0 / axis.unit_s,
                h.filter(|h| !h.is_empty()),
            )
        })
        .collect();
    let pct = |q: f64| -> Vec<(f64, Option<f64>)> {
        bin_hists
            .iter()
            .map(|(x, h)| (*x, h.as_ref().map(|h| h.value_at_quantile(q) as f64 / 1e6)))
            .collect()
    };
    out.push(Plot {
        name: "accept_wait_over_time",
        heading: "Accept wait over time",
        caption: format!(
            "Percentiles of accept_wait (chat requested to agent joined) of the chats accepted in each {} bin.",
            bin_label(bin_s)
        ),
        chart: Chart::Lines {
            title: format!("{name}: accept_wait percentiles per {}", bin_label(bin_s)),
            x_label: axis.label.into(),
            y_label: "accept wait (s)".into(),
            series: vec![
                Series { name: "p50".into(), points: pct(0.5) },
                Series { name: "p90".into(), points: pct(0.9) },
                Series { name: "p99".into(), points: pct(0.99) },
            ],
            y_max: None,
        },
    });

    for (metric, plot_name, heading, unit, div) in [
        (
            MetricName::AcceptWait,
            "accept_wait_percentiles",
            "Accept wait distribution",
            "s",
            1e6,
        ),
        (
            MetricName::MessageLatency,
            "message_latency_percentiles",
            "Message latency distribution",
            "ms",
            1e3,
        ),
    ] {
        let total = super::hlog::total(intervals, metric).ok();
        let points: Vec<(f64, Option<f64>)> = total
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| {
                let max_nines = (h.len() as f64).log10().clamp(1.0, 6.0);
                h.iter_quantiles(4)
                    .filter_map(|v| {
                        let q: f64 = v.quantile_iterated_to();
                        let nines = if q >= 1.0 {
                            max_nines
                        } else {
                            -(1.0 - q).log10()
                        };
                        (nines <= max_nines)
                            .then(|| (nines, Some(v.value_iterated_to() as f64 / div)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let count = total.as_ref().map_or(0, |h| h.len());
        out.push(Plot {
            name: plot_name,
            heading,
            caption: format!(
                "{metric} by percentile over the whole run ({count} samples); each step right adds a nine."
            ),
            chart: Chart::Nines {
                title: format!("{name}: {metric} percentile distribution"),
                y_label: format!("{metric} ({unit})"),
                series: vec![Series { name: metric.as_str().into(), points }],
            },
        });
    }

    out.push(Plot {
        name: "throughput",
        heading: "Arrivals, accepted and abandoned",
        caption: format!("Chats per minute, averaged over {} bins.", bin_label(bin_s)),
        chart: Chart::Lines {
            title: format!("{name}: arrivals vs accepted vs abandoned"),
            x_label: axis.label.into(),
            y_label: "chats per minute".into(),
            series: vec![
                Series {
                    name: "arrivals (offered)".into(),
                    points: per_min(|r| r.arrivals),
                },
                Series {
                    name: "accepted".into(),
                    points: per_min(|r| r.accepted),
                },
                Series {
                    name: "abandoned".into(),
                    points: per_min(|r| r.abandoned),
                },
            ],
            y_max: None,
        },
    });

    let (agents, slots) = provisioned(summary);
    let share = |f: fn(&Row) -> Option<u64>, of: u64| -> Vec<(f64, Option<f64>)> {
        gauge(f)
            .into_iter()
            .map(|(x, v)| (x, v.filter(|_| of > 0).map(|v| 100.0 * v / of as f64)))
            .collect()
    };
    out.push(Plot {
        name: "occupancy",
        heading: "Agent occupancy over time",
        caption: format!(
            "Busy slots (active chats) as a share of all {slots} provisioned chat slots, and agents available as a share of all {agents} agents. Available is the server's word: signed in, not away, and under auto-accept available for N > 0. Agents who pull by hand under auto-accept declare Available for 0, so they do not count as available even while they work."
        ),
        chart: Chart::Lines {
            title: format!("{name}: agent occupancy"),
            x_label: axis.label.into(),
            y_label: "share (%)".into(),
            series: vec![
                Series { name: "busy slots / provisioned slots".into(), points: share(|r| r.active_chats, slots) },
                Series { name: "agents available / agents".into(), points: share(|r| r.agents_available, agents) },
            ],
            y_max: Some(125.0),
        },
    });

    let bars: Vec<(String, f64, String)> = summary
        .agents
        .iter()
        .filter_map(|(n, w)| {
            w.occupancy()
                .map(|o| (n.clone(), 100.0 * o, format!("{}", w.chats)))
        })
        .collect();
    let mean =
        (!bars.is_empty()).then(|| bars.iter().map(|b| b.1).sum::<f64>() / bars.len() as f64);
    out.push(Plot {
        name: "agent_load",
        heading: "Per-agent load (fairness)",
        caption: format!(
            "Each agent's occupancy (busy ÷ offered slot time); the number above a bar is the chats it accepted. Jain's fairness index: {}.",
            summary.fairness.map_or("n/a".into(), |f| format!("{f:.3}"))
        ),
        chart: Chart::Bars {
            title: format!(
                "{name}: per-agent occupancy (fairness {})",
                summary.fairness.map_or("n/a".into(), |f| format!("{f:.3}"))
            ),
            y_label: "occupancy (%)".into(),
            bars,
            reference: mean.map(|m| (m, format!("mean {m:.1}%"))),
        },
    });
    out
}

/// Agents and chat slots provisioned by the scenario (Σ count, Σ count × available_for).
pub fn provisioned(summary: &Summary) -> (u64, u64) {
    let groups = summary
        .resolved_scenario
        .get("agents")
        .and_then(|a| a.as_array());
    groups.into_iter().flatten().fold((0, 0), |(a, s), g| {
        let n = g.get("count").and_then(|v| v.as_u64()).unwrap_or(0);
        let c = g.get("available_for").and_then(|v| v.as_u64()).unwrap_or(1);
        (a + n, s + n * c)
    })
}

/// Draws `plot` into `dir/<name>.svg` and `dir/<name>.png`; returns the SVG text.
pub fn render(dir: &Path, plot: &Plot) -> Result<String, String> {
    register_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        chart::draw(&root, &plot.chart).map_err(|e| format!("{}.svg: {e}", plot.name))?;
    }
    let svg_path = dir.join(format!("{}.svg", plot.name));
    std::fs::write(&svg_path, &svg).map_err(|e| format!("{}: {e}", svg_path.display()))?;
    let png_path = dir.join(format!("{}.png", plot.name));
    {
        let root = BitMapBackend::new(&png_path, SIZE).into_drawing_area();
        chart::draw(&root, &plot.chart).map_err(|e| format!("{}: {e}", png_path.display()))?;
    }
    Ok(svg)
}
