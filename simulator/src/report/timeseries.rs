//! `timeseries.csv`: one row per interval of the run — what arrived and happened in
//! it, the gauges at its start, and latency percentiles within it.

use crate::metrics::interval::{Gauges, Timeline};
use crate::metrics::names::MetricName;
use std::fmt::Write as _;
use std::time::Duration;

/// The CSV header (a contract, like the metric names).
pub const HEADER: &str = "interval_start_s,interval_start_real_s,arrivals,queued,active_chats,agents_available,free_slots,accepted,abandoned,closed,transfers,tickets,messages,errors,accept_wait_p50_ms,accept_wait_p99_ms,message_latency_p50_ms,message_latency_p99_ms";

/// One interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// Interval start, scenario seconds since the run's start.
    pub start_s: f64,
    /// Interval start in real seconds (live mode).
    pub start_real_s: Option<f64>,
    /// Chats requested in the interval.
    pub arrivals: u64,
    /// Chats waiting at the interval's start.
    pub queued: Option<u64>,
    /// Chats with an agent at the interval's start.
    pub active_chats: Option<u64>,
    /// Agents available at the interval's start.
    pub agents_available: Option<u64>,
    /// Free slots of available agents at the interval's start.
    pub free_slots: Option<u64>,
    /// Chats accepted in the interval.
    pub accepted: u64,
    /// Chats abandoned in the interval.
    pub abandoned: u64,
    /// Chats closed in the interval.
    pub closed: u64,
    /// Transfers in the interval.
    pub transfers: u64,
    /// Tickets created in the interval.
    pub tickets: u64,
    /// Messages sent in the interval.
    pub messages: u64,
    /// Errors in the interval.
    pub errors: u64,
    /// Median accept wait of chats accepted in the interval (ms).
    pub accept_wait_p50_ms: Option<f64>,
    /// 99th percentile of the same (ms).
    pub accept_wait_p99_ms: Option<f64>,
    /// Median message latency in the interval (ms).
    pub message_latency_p50_ms: Option<f64>,
    /// 99th percentile of the same (ms).
    pub message_latency_p99_ms: Option<f64>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The rows of `timeline` for intervals of `len`, covering at least `covered` of
/// scenario time; `time_scale` gives real start times (live mode).
pub fn rows(
    timeline: &Timeline,
    len: Duration,
    covered: Duration,
    time_scale: Option<f64>,
) -> Vec<Row> {
    let by_time = u32::try_from(covered.as_nanos().div_ceil(len.as_nanos().max(1))).unwrap_or(0);
    let n = timeline.len().max(by_time);
    (0..n)
        .map(|i| {
            let start_s = (len * i).as_secs_f64();
            let mut row = Row {
                start_s,
                start_real_s: time_scale.map(|s| start_s / s),
                ..Row::default()
            };
            let Some(iv) = timeline.get(i) else {
                return row;
            };
            let c = iv.counts;
            (
                row.arrivals,
                row.accepted,
                row.abandoned,
                row.closed,
                row.transfers,
                row.tickets,
                row.messages,
                row.errors,
            ) = (
                c.offered,
                c.accepted,
                c.abandoned,
                c.closed,
                c.transfers,
                c.tickets,
                c.messages,
                c.errors,
            );
            if let Some((_, g)) = iv.gauges {
                let known = |v: u64| (v != Gauges::UNKNOWN).then_some(v);
                row.queued = known(g.queued);
                row.active_chats = known(g.active_chats);
                row.agents_available = known(g.agents_available);
                row.free_slots = known(g.free_slots);
            }
            let q = |m: MetricName, p: f64| {
                iv.histogram(m)
                    .filter(|h| !h.is_empty())
                    .map(|h| ms(h.value_at_quantile(p)))
            };
            row.accept_wait_p50_ms = q(MetricName::AcceptWait, 0.5);
            row.accept_wait_p99_ms = q(MetricName::AcceptWait, 0.99);
            row.message_latency_p50_ms = q(MetricName::MessageLatency, 0.5);
            row.message_latency_p99_ms = q(MetricName::MessageLatency, 0.99);
            row
        })
        .collect()
}

/// The CSV text of `rows`.
pub fn to_csv(rows: &[Row]) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    let opt_u = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    let opt_f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.start_s,
            opt_f(r.start_real_s),
            r.arrivals,
            opt_u(r.queued),
            opt_u(r.active_chats),
            opt_u(r.agents_available),
            opt_u(r.free_slots),
            r.accepted,
            r.abandoned,
            r.closed,
            r.transfers,
            r.tickets,
            r.messages,
            r.errors,
            opt_f(r.accept_wait_p50_ms),
            opt_f(r.accept_wait_p99_ms),
            opt_f(r.message_latency_p50_ms),
            opt_f(r.message_latency_p99_ms),
        );
    }
    out
}

/// Parses the CSV text back; the error names the line.
pub fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim() == HEADER => {}
        Some(h) => return Err(format!("line 1: unexpected header `{h}`")),
        None => return Err("empty file".into()),
    }
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = n + 2;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != 18 {
            return Err(format!("line {at}: {} cells, expected 18", cells.len()));
        }
        let u = |i: usize| -> Result<u64, String> {
            cells[i]
                .parse()
                .map_err(|_| format!("line {at}: `{}` is not a count", cells[i]))
        };
        let ou = |i: usize| -> Result<Option<u64>, String> {
            if cells[i].is_empty() {
                Ok(None)
            } else {
                u(i).map(Some)
            }
        };
        let of = |i: usize| -> Result<Option<f64>, String> {
            if cells[i].is_empty() {
                return Ok(None);
            }
            cells[i]
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("line {at}: `{}` is not a number", cells[i]))
        };
        rows.push(Row {
            start_s: of(0)?.ok_or_else(|| format!("line {at}: no interval start"))?,
            start_real_s: of(1)?,
            arrivals: u(2)?,
            queued: ou(3)?,
            active_chats: ou(4)?,
            agents_available: ou(5)?,
            free_slots: ou(6)?,
            accepted: u(7)?,
            abandoned: u(8)?,
            closed: u(9)?,
            transfers: u(10)?,
            tickets: u(11)?,
            messages: u(12)?,
            errors: u(13)?,
            accept_wait_p50_ms: of(14)?,
            accept_wait_p99_ms: of(15)?,
            message_latency_p50_ms: of(16)?,
            message_latency_p99_ms: of(17)?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let rows = vec![
            Row {
                start_s: 0.0,
                start_real_s: Some(0.0),
                arrivals: 3,
                queued: Some(1),
                free_slots: None,
                accept_wait_p50_ms: Some(1500.5),
                ..Row::default()
            },
            Row {
                start_s: 20.0,
                ..Row::default()
            },
        ];
        let text = to_csv(&rows);
        assert!(text.starts_with(HEADER));
        assert_eq!(parse(&text).unwrap(), rows);
        assert!(parse("nope\n").unwrap_err().contains("header"));
        let bad = format!("{HEADER}\n1,2,3\n");
        assert!(parse(&bad).unwrap_err().contains("line 2"));
    }
}
