//! `comparison.csv` and the console's ranked table with significance verdicts.

use super::execute::{Comparison, METRICS, MetricSpec, QUEUE_METRICS};
use super::stats::{Estimate, holm};
use std::fmt::Write;

/// The CSV header of `comparison.csv`.
pub const CSV_HEADER: &str = "variant,metric,unit,replications,mean,ci95_low,ci95_high,min,max";

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A value as written to the CSV: to ten significant figures, whatever its size, so a
/// rate of 3 in 10 million is 0.0000003, not 0.000000 (and a mean is not printed
/// with the last bits of its sum's rounding).
fn num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let rounded: f64 = format!("{v:.9e}").parse().unwrap_or(v);
    format!("{rounded}")
}

/// `comparison.csv`: one line per variant and metric (ratios as fractions, waits in
/// seconds); an empty interval with a single replication, and an interval's ends
/// within the values the metric can take.
pub fn to_csv(c: &Comparison) -> String {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for v in &c.variants {
        for (m, spec) in METRICS.iter().enumerate() {
            let Some(e) = v.estimate(m) else {
                let _ = writeln!(s, "{},{},{},0,,,,,", quote(&v.name), spec.name, spec.unit);
                continue;
            };
            csv_row(&mut s, &v.name, spec.name, spec, e);
        }
    }
    // Each queue's figures (`queues.<queue>.<metric>`), when users asked several.
    for q in c.queues() {
        for v in &c.variants {
            for (m, spec) in QUEUE_METRICS.iter().enumerate() {
                if let Some(e) = v.queue_estimate(&q, m) {
                    csv_row(
                        &mut s,
                        &v.name,
                        &format!("queues.{q}.{}", spec.name),
                        spec,
                        e,
                    );
                }
            }
        }
    }
    s
}

fn csv_row(s: &mut String, variant: &str, metric: &str, spec: &MetricSpec, e: Estimate) {
    let _ = writeln!(
        s,
        "{},{},{},{},{},{},{},{},{}",
        quote(variant),
        quote(metric),
        spec.unit,
        e.n,
        num(e.mean),
        num(spec.clip(e.low())),
        num(spec.clip(e.high())),
        num(e.min),
        num(e.max)
    );
}

/// A value in the metric's display unit.
pub fn show(spec: &MetricSpec, v: f64) -> String {
    match spec.unit {
        "ratio" => format!("{:.2}%", v * 100.0),
        "s" => format!("{v:.2}s"),
        _ => format!("{v:.1}"),
    }
}

fn show_est(spec: &MetricSpec, e: Option<Estimate>) -> String {
    match e {
        None => "-".into(),
        Some(e) if e.half_width.is_finite() => {
            let width = |w: f64| match spec.unit {
                "ratio" => format!("{:.2}", w * 100.0),
                "s" => format!("{w:.2}"),
                _ => format!("{w:.1}"),
            };
            // The interval within the metric's range, as the files give it: a share
            // stops at 0% and 100%, a wait at 0.
            let (low, high) = (spec.clip(e.low()), spec.clip(e.high()));
            if low == e.low() && high == e.high() {
                format!("{} ±{}", show(spec, e.mean), width(e.half_width))
            } else {
                format!(
                    "{} +{}/-{}",
                    show(spec, e.mean),
                    width(high - e.mean),
                    width(e.mean - low)
                )
            }
        }
        Some(e) => show(spec, e.mean),
    }
}

/// A difference in the metric's display unit (percentage points for ratios), with
/// `decimals` ([`diff_decimals`]).
fn show_diff(spec: &MetricSpec, v: f64, decimals: usize) -> String {
    match spec.unit {
        "ratio" => format!("{:+.decimals$} pp", v * 100.0),
        "s" => format!("{v:+.decimals$}s"),
        _ => format!("{v:+.decimals$}"),
    }
}

/// Decimals that show a difference and its interval's half-width to at least two
/// significant figures (two decimals at least, one for counts; at most six): a gap of
/// 0.003 percentage points prints as such, not as +0.00 beside a verdict on it.
fn diff_decimals(spec: &MetricSpec, d: &Estimate) -> usize {
    let scale = if spec.unit == "ratio" { 100.0 } else { 1.0 };
    let least = if matches!(spec.unit, "ratio" | "s") {
        2
    } else {
        1
    };
    // A half-width that is only the sum's rounding (a difference the same in every
    // replication but for the last bits) does not ask for decimals.
    let noise = d.mean.abs() * 1e-9;
    let smallest = [d.mean, d.half_width]
        .into_iter()
        .filter(|v| v.abs() > noise)
        .map(|v| (v * scale).abs())
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    if !smallest.is_finite() {
        return least;
    }
    let needed = 1 - smallest.log10().floor() as i64;
    needed.clamp(least as i64, 6) as usize
}

/// A p-value as printed: three decimals, more where three would round it across the
/// 0.05 its verdict turns on (0.0496 and 0.04996 are significant; 0.050 would read
/// as not).
fn show_p(p: f64) -> String {
    if p < 0.001 {
        return "p < 0.001".into();
    }
    for decimals in 3..=6 {
        let text = format!("{p:.decimals$}");
        let shown: f64 = text.parse().unwrap_or(p);
        if (shown < 0.05) == (p < 0.05) {
            return format!("p {text}");
        }
    }
    "p < 0.05".into()
}

/// Each queue's service level, mean wait and abandon rate per variant (in rank order),
/// when users asked more than one queue: a policy can favour one queue over another.
fn render_queues(s: &mut String, c: &Comparison, order: &[usize], width: usize) {
    for q in c.queues() {
        let _ = write!(s, "\nqueue `{q}`\n{:>4}  {:<width$}", "rank", "variant");
        for spec in &QUEUE_METRICS {
            let _ = write!(s, "  {:>17}", spec.name);
        }
        s.push('\n');
        for (rank, &i) in order.iter().enumerate() {
            let v = &c.variants[i];
            let _ = write!(s, "{:>4}  {:<width$}", rank + 1, v.name);
            for (m, spec) in QUEUE_METRICS.iter().enumerate() {
                let _ = write!(s, "  {:>17}", show_est(spec, v.queue_estimate(&q, m)));
            }
            s.push('\n');
        }
    }
}

/// The metrics whose paired differences from the best variant are printed.
const PAIRED: [&str; 4] = [
    "service_level",
    "accept_wait.mean",
    "abandon_rate",
    "fairness",
];

/// Differences this small are rounding, not a variant's doing.
const NO_DIFFERENCE: f64 = 1e-12;

/// The ranked table and which differences from the best variant are significant.
pub fn render(c: &Comparison) -> String {
    let mut s = String::new();
    // The metric that ranks is always shown and always compared.
    let mut shown = vec![0usize, 1, 3, 5, 6, 7];
    if !shown.contains(&c.rank_by.0) {
        shown.insert(0, c.rank_by.0);
    }
    let mut paired: Vec<&str> = PAIRED.to_vec();
    if !paired.contains(&c.rank_by.name()) {
        paired.insert(0, c.rank_by.name());
    }
    let _ = writeln!(
        s,
        "Comparison of `{}` ({} mode): {} variant{}, {} replication{} each on common random numbers (seeds {}..={}); 95% intervals",
        c.scenario,
        c.mode,
        c.variants.len(),
        if c.variants.len() == 1 { "" } else { "s" },
        c.replications,
        if c.replications == 1 { "" } else { "s" },
        c.seed,
        c.seed.wrapping_add(c.replications.saturating_sub(1)),
    );
    if let Some(why) = &c.stopped {
        let _ = writeln!(s, "STOPPED EARLY at {why}");
    }
    let width = c
        .variants
        .iter()
        .map(|v| v.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = write!(s, "{:>4}  {:<width$}", "rank", "variant");
    for &m in &shown {
        let _ = write!(s, "  {:>17}", METRICS[m].name);
    }
    s.push('\n');
    let breakers: Vec<&str> = c.tie_breakers().iter().map(|&m| METRICS[m].name).collect();
    let _ = writeln!(
        s,
        "(ranked by mean {}, ties broken by mean {}: an order of means, not a verdict; the paired differences below say which gaps are significant)",
        c.rank_by.name(),
        breakers.join(", ")
    );
    let order = c.ranking();
    for (rank, &i) in order.iter().enumerate() {
        let v = &c.variants[i];
        let _ = write!(s, "{:>4}  {:<width$}", rank + 1, v.name);
        for &m in &shown {
            let _ = write!(s, "  {:>17}", show_est(&METRICS[m], v.estimate(m)));
        }
        s.push('\n');
    }
    render_wait_caveat(&mut s, c, &order);
    render_queues(&mut s, c, &order, width);
    render_thresholds(&mut s, c, &order, width);
    render_warnings(&mut s, c);
    if c.replications < 2 {
        s.push_str("\nOne replication: no intervals and no significance tests (use --replications 5 or more).\n");
        return s;
    }
    let Some(&best) = order.first() else {
        return s;
    };
    // Every difference first, then one adjustment over all those tested.
    let mut rows = Vec::new();
    for &i in order.iter().skip(1) {
        // The waits, and who got the work: with slots to spare every work-conserving
        // policy answers at once, and fairness is where policies differ.
        for &name in &paired {
            let Some(m) = METRICS.iter().position(|spec| spec.name == name) else {
                continue;
            };
            if let Some(d) = c.difference(m, i, best) {
                rows.push((i, &METRICS[m], d));
            }
        }
    }
    // One replication with data is not tested, whatever it shows.
    let same =
        |d: &Estimate| d.n >= 2 && d.min.abs() < NO_DIFFERENCE && d.max.abs() < NO_DIFFERENCE;
    let tested: Vec<f64> = rows
        .iter()
        .filter(|(_, _, d)| !same(d))
        .filter_map(|(_, _, d)| d.p_value())
        .collect();
    let mut adjusted = holm(&tested).into_iter();
    let mut lines = String::new();
    for (i, spec, d) in &rows {
        let (name, runs) = (&c.variants[*i].name, c.variants[*i].runs.len());
        if same(d) {
            let every = if d.n == runs {
                "every replication".to_string()
            } else {
                format!("all {} replications with data", d.n)
            };
            let _ = writeln!(
                lines,
                "  {name:<width$}  {:<17} the same in {every}",
                spec.name
            );
            continue;
        }
        let decimals = diff_decimals(spec, d);
        let diff = show_diff(spec, d.mean, decimals);
        if d.p_value().is_none() {
            let _ = writeln!(
                lines,
                "  {name:<width$}  {:<17} {diff:>11}  only {} replication{} with data: not tested",
                spec.name,
                d.n,
                if d.n == 1 { "" } else { "s" }
            );
            continue;
        }
        let p = adjusted.next().unwrap_or(1.0);
        let verdict = if p < 0.05 {
            "significant"
        } else {
            "not significant"
        };
        let _ = writeln!(
            lines,
            "  {name:<width$}  {:<17} {diff:>11} [{}, {}]  {:<9}  {verdict}",
            spec.name,
            show_diff(spec, d.low(), decimals),
            show_diff(spec, d.high(), decimals),
            show_p(p),
        );
    }
    // Nothing to compare (no other variant has figures): no heading either.
    if !lines.is_empty() {
        let _ = writeln!(
            s,
            "\nPaired differences from the first-ranked ({}), replication by replication (each with its 95% interval; p adjusted by Holm over the {} difference{} tested, so that the verdicts hold together at 5%):",
            c.variants[best].name,
            tested.len(),
            if tested.len() == 1 { "" } else { "s" }
        );
        s.push_str(&lines);
        s.push_str(
            "(The first-ranked was picked by its mean, which favours gaps from it: a verdict near the line wants more replications.)\n",
        );
    }
    s
}

/// A gap in abandon rate worth a note beside a ranking by wait: a percentage point.
const ABANDON_GAP: f64 = 0.01;

/// Ranked by a wait, a variant that loses more users to abandons can come first: the
/// waits are those of the chats answered, and the impatient left before theirs ended.
/// Says so when the first-ranked abandoned at least [`ABANDON_GAP`] more than another
/// variant.
fn render_wait_caveat(s: &mut String, c: &Comparison, order: &[usize]) {
    if !c.rank_by.name().starts_with("accept_wait") {
        return;
    }
    let Some(abandon) = METRICS.iter().position(|m| m.name == "abandon_rate") else {
        return;
    };
    let rate = |i: usize| c.variants[i].estimate(abandon).map(|e| e.mean);
    let Some((&first, rest)) = order.split_first() else {
        return;
    };
    let Some(first_rate) = rate(first) else {
        return;
    };
    let lowest = rest
        .iter()
        .filter_map(|&i| rate(i).map(|r| (i, r)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((other, low)) = lowest.filter(|&(_, low)| first_rate >= low + ABANDON_GAP) {
        let spec = &METRICS[abandon];
        let _ = writeln!(
            s,
            "Note: {} counts the chats answered only. The first-ranked ({}) lost {} of its chats to abandons, {} lost {}: its shorter waits may be those of the users patient enough to stay (see abandon_rate, or rank by service_level).",
            c.rank_by.name(),
            c.variants[first].name,
            show(spec, first_rate),
            c.variants[other].name,
            show(spec, low)
        );
    }
}

/// How many runs of each variant (in rank order) met every threshold of the
/// scenario, and which thresholds the others failed.
fn render_thresholds(s: &mut String, c: &Comparison, order: &[usize], width: usize) {
    if c.thresholds.is_empty() {
        return;
    }
    let untested = c.thresholds_not_applicable();
    let listed: Vec<String> = c
        .thresholds
        .iter()
        .filter(|t| !untested.contains(&t.as_str()))
        .map(|t| format!("`{t}`"))
        .collect();
    let _ = writeln!(
        s,
        "\nThresholds, held to every run (they do not rank): {}",
        if listed.is_empty() {
            "none that applies".to_string()
        } else {
            listed.join(", ")
        }
    );
    if !untested.is_empty() {
        let untested: Vec<String> = untested.iter().map(|t| format!("`{t}`")).collect();
        let _ = writeln!(
            s,
            "Not applicable in {} mode, so not tested: {}",
            c.mode,
            untested.join(", ")
        );
    }
    for &i in order {
        let v = &c.variants[i];
        let _ = write!(
            s,
            "  {:<width$}  met all in {} of {} runs",
            v.name,
            v.runs_meeting_thresholds(),
            v.runs.len()
        );
        let failures: Vec<String> = v
            .threshold_failures(&c.thresholds)
            .into_iter()
            .map(|(t, n, no_data)| match no_data {
                0 => format!("`{t}` failed in {n}"),
                _ if no_data == n => format!("`{t}` failed in {n}, for want of data"),
                _ => format!("`{t}` failed in {n}, {no_data} of them for want of data"),
            })
            .collect();
        if !failures.is_empty() {
            let _ = write!(s, " ({})", failures.join(", "));
        }
        s.push('\n');
    }
}

/// The runs' own warnings: a figure from a run whose load generator fell behind its
/// schedule, or whose users still waited at the end, may not describe the variant.
fn render_warnings(s: &mut String, c: &Comparison) {
    let warnings = c.warnings();
    if warnings.is_empty() {
        return;
    }
    let runs: std::collections::BTreeSet<(&str, u64)> =
        warnings.iter().map(|&(v, i, _)| (v, i)).collect();
    let total = c.variants.len() as u64 * c.replications;
    let _ = writeln!(
        s,
        "\nWarnings from {} of {total} runs (read their figures with the warning in mind):",
        runs.len()
    );
    for (variant, i, warning) in warnings {
        let _ = writeln!(
            s,
            "  {variant}, replication {i} (seed {}): {warning}",
            c.seed.wrapping_add(i)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{METRICS, PAIRED, num};

    #[test]
    fn p_values_print_on_the_side_of_0_05_they_are() {
        use super::show_p;
        assert_eq!(show_p(0.0004), "p < 0.001");
        assert_eq!(show_p(0.091), "p 0.091");
        assert_eq!(show_p(0.0496), "p 0.0496");
        assert_eq!(show_p(0.04996), "p 0.04996");
        assert_eq!(show_p(0.05), "p 0.050");
        assert_eq!(show_p(0.0504), "p 0.050");
    }

    #[test]
    fn csv_values_keep_ten_significant_figures() {
        assert_eq!(num(3e-7), "0.0000003");
        assert_eq!(num(0.5509836000000001), "0.5509836");
        assert_eq!(num(2.0 / 3.0), "0.6666666667");
        assert_eq!(num(1234567.891), "1234567.891");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(f64::NAN), "");
    }

    #[test]
    fn an_interval_ends_within_what_the_metric_can_take() {
        let spec = |name| *METRICS.iter().find(|m| m.name == name).unwrap();
        assert_eq!(spec("service_level").clip(1.0019), 1.0);
        assert_eq!(spec("service_level").clip(-0.01), 0.0);
        assert_eq!(spec("service_level").clip(0.5), 0.5);
        assert_eq!(spec("accept_wait.p95").clip(-0.42), 0.0);
        assert_eq!(spec("accept_wait.p95").clip(2.45), 2.45);
        assert_eq!(spec("transfers").clip(-3.0), 0.0);
    }

    #[test]
    fn the_console_gives_an_interval_within_the_metric_s_range() {
        let spec = |name| *METRICS.iter().find(|m| m.name == name).unwrap();
        let est = |mean, half_width| {
            Some(crate::compare::stats::Estimate {
                n: 2,
                mean,
                half_width,
                min: mean,
                max: mean,
            })
        };
        let sl = spec("service_level");
        assert_eq!(super::show_est(&sl, est(0.777, 0.05)), "77.70% ±5.00");
        assert_eq!(
            super::show_est(&sl, est(0.777, 0.6915)),
            "77.70% +22.30/-69.15"
        );
        let wait = spec("accept_wait.mean");
        assert_eq!(super::show_est(&wait, est(0.5, 2.0)), "0.50s +2.00/-0.50");
    }

    #[test]
    fn each_queue_is_compared_on_service_level_wait_and_abandons() {
        let names: Vec<&str> = super::QUEUE_METRICS.iter().map(|m| m.name).collect();
        assert_eq!(names, ["service_level", "accept_wait.mean", "abandon_rate"]);
    }

    #[test]
    fn every_paired_metric_is_compared() {
        for name in PAIRED {
            assert!(METRICS.iter().any(|m| m.name == name), "{name}");
        }
    }
}
