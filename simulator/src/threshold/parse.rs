//! Parsing a threshold's key and condition, checking that the value's unit fits what
//! the key measures.

use crate::dist::duration::{parse_seconds, trim_float};
use crate::metrics::counters::Counters;
use crate::metrics::names::{MetricName, RateName, Stat, list};
use serde::Serialize;
use std::fmt;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `==`
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }

    /// Whether `observed OP limit` holds. `==` allows a relative error of 1e-9 so
    /// that rates computed in floating point compare as people expect.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => (observed - limit).abs() <= 1e-9 * limit.abs().max(1.0),
        }
    }
}

/// What a threshold is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A statistic of a duration metric, e.g. `accept_wait.p95`.
    Metric(MetricName, Stat),
    /// A rate, e.g. `abandon_rate`.
    Rate(RateName),
    /// A counter by its dotted name, e.g. `chats.lost`, `errors`, `errors.rate_limited`.
    Counter(String),
    /// A figure of one support queue's users, e.g. `queues.network.service_level`.
    Queue(String, QueueFigure),
}

/// What a per-queue threshold (`queues.<queue>.<figure>`) is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueFigure {
    /// `service_level`.
    ServiceLevel,
    /// `abandon_rate`.
    AbandonRate,
    /// `accept_wait.<stat>`.
    AcceptWait(Stat),
    /// `chats.<outcome>`: offered, accepted, abandoned, lost, queued_at_end.
    Chats(&'static str),
}

impl QueueFigure {
    /// The chat outcomes counted per queue.
    pub const CHATS: [&'static str; 5] =
        ["offered", "accepted", "abandoned", "lost", "queued_at_end"];

    /// Parses the part after `queues.<queue>.`.
    fn parse(text: &str) -> Result<QueueFigure, String> {
        match text {
            "service_level" => return Ok(QueueFigure::ServiceLevel),
            "abandon_rate" => return Ok(QueueFigure::AbandonRate),
            _ => {}
        }
        if let Some(stat) = text.strip_prefix("accept_wait.") {
            return stat.parse::<Stat>().map(QueueFigure::AcceptWait);
        }
        if let Some(outcome) = text.strip_prefix("chats.")
            && let Some(name) = Self::CHATS.iter().find(|c| **c == outcome)
        {
            return Ok(QueueFigure::Chats(name));
        }
        Err(format!(
            "a queue's figure is service_level, abandon_rate, accept_wait.<stat> or \
             chats.<{}>; got `{text}`",
            Self::CHATS.join("|")
        ))
    }
}

/// The unit a threshold's value is normalised to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueUnit {
    /// Milliseconds.
    Ms,
    /// A fraction (0.05 for 5 %).
    Ratio,
    /// A count.
    Count,
}

/// A parsed threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The key as written (`accept_wait.p95`).
    pub key: String,
    /// What the key refers to.
    pub subject: Subject,
    /// The comparison.
    pub op: Op,
    /// The limit in `unit`.
    pub limit: f64,
    /// The unit of `limit` and of the observed value.
    pub unit: ValueUnit,
    /// The condition as written (`< 60s`), trimmed.
    pub condition: String,
}

impl Subject {
    /// Parses a threshold's key.
    pub fn parse(key: &str) -> Result<Subject, String> {
        parse_subject(key)
    }

    /// The unit of what the key names.
    pub fn unit(&self) -> ValueUnit {
        match self {
            Subject::Metric(_, Stat::Count)
            | Subject::Counter(_)
            | Subject::Queue(_, QueueFigure::AcceptWait(Stat::Count) | QueueFigure::Chats(_)) => {
                ValueUnit::Count
            }
            Subject::Metric(..) | Subject::Queue(_, QueueFigure::AcceptWait(_)) => ValueUnit::Ms,
            Subject::Rate(_)
            | Subject::Queue(_, QueueFigure::ServiceLevel | QueueFigure::AbandonRate) => {
                ValueUnit::Ratio
            }
        }
    }
}

impl Threshold {
    /// Parses `key = "condition"`.
    pub fn parse(key: &str, condition: &str) -> Result<Threshold, String> {
        let subject = parse_subject(key)?;
        let cond = condition.trim();
        let (op, rest) = parse_op(cond)?;
        let unit = subject.unit();
        let limit = parse_limit(rest.trim(), unit, key)?;
        Ok(Threshold {
            key: key.to_string(),
            subject,
            op,
            limit,
            unit,
            condition: format!("{} {}", op.as_str(), rest.trim()),
        })
    }

    /// The whole expression, `accept_wait.p95 < 60s`.
    pub fn expression(&self) -> String {
        format!("{} {}", self.key, self.condition)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression())
    }
}

fn parse_subject(key: &str) -> Result<Subject, String> {
    let key = key.trim();
    if let Some(rest) = key.strip_prefix("queues.") {
        // The queue's name ends at the first dot after which a figure follows; when
        // none does, the likeliest reading is a plain name and a wrong figure.
        let mut first = None;
        for (i, _) in rest.match_indices('.') {
            let (queue, figure) = (&rest[..i], &rest[i + 1..]);
            if queue.is_empty() {
                continue;
            }
            match QueueFigure::parse(figure) {
                Ok(figure) => return Ok(Subject::Queue(queue.to_string(), figure)),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        return Err(format!(
            "in `{key}`: {}",
            first.unwrap_or_else(|| "expected queues.<queue>.<figure>, e.g. \
                                     queues.network.service_level"
                .to_string())
        ));
    }
    if let Ok(rate) = key.parse::<RateName>() {
        return Ok(Subject::Rate(rate));
    }
    if Counters::is_name(key) {
        return Ok(Subject::Counter(key.to_string()));
    }
    if let Some((metric, stat)) = key.split_once('.')
        && let Ok(metric) = metric.parse::<MetricName>()
    {
        let stat = stat
            .parse::<Stat>()
            .map_err(|e| format!("in `{key}`: {e}"))?;
        return Ok(Subject::Metric(metric, stat));
    }
    if let Some(code) = key.strip_prefix("errors.") {
        return Err(format!(
            "unknown error code `{code}` in `{key}`; codes: {}",
            list(Counters::error_codes().into_iter())
        ));
    }
    if let Ok(metric) = key.parse::<MetricName>() {
        return Err(format!(
            "`{key}` needs a statistic, e.g. `{metric}.p95`; statistics: {}",
            list(Stat::ALL.iter().map(|s| s.as_str()))
        ));
    }
    Err(format!(
        "unknown threshold key `{key}`; expected `<metric>.<stat>` with metric one of {} and stat one of {}, a rate ({}), a counter ({}, errors.<code>), or a queue's figure (queues.<queue>.service_level, …)",
        list(MetricName::ALL.iter().map(|m| m.as_str())),
        list(Stat::ALL.iter().map(|s| s.as_str())),
        list(RateName::ALL.iter().map(|r| r.as_str())),
        list(Counters::NAMES.iter().copied()),
    ))
}

fn parse_op(cond: &str) -> Result<(Op, &str), String> {
    for (text, op) in [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ] {
        if let Some(rest) = cond.strip_prefix(text) {
            return Ok((op, rest));
        }
    }
    Err(format!(
        "condition `{cond}` must start with an operator: <, <=, >, >= or == (e.g. \"< 60s\")"
    ))
}

fn parse_limit(value: &str, unit: ValueUnit, key: &str) -> Result<f64, String> {
    if value.is_empty() {
        return Err("the condition has no value after the operator".to_string());
    }
    let plain = || -> Result<f64, String> {
        value
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("`{value}` is not a number"))
    };
    match unit {
        ValueUnit::Ms => {
            if value.parse::<f64>().is_ok() {
                return Err(format!(
                    "`{key}` is a duration: give the value a unit, e.g. `{value}s` or `{value}ms`"
                ));
            }
            if value.ends_with('%') {
                return Err(format!(
                    "`{key}` is a duration, not a rate: use a unit like `60s` or `25ms`"
                ));
            }
            // To the microsecond, as observed values are (`4007ms` is 4.007 s in floating
            // point, 4006.9999999999995 ms back in milliseconds: a p99 of exactly
            // 4007 ms would fail `<= 4007ms`).
            parse_seconds(value)
                .map(|s| (s * 1e6).round() / 1000.0)
                .and_then(|ms| {
                    // Finite in seconds can still overflow in milliseconds.
                    if ms.is_finite() {
                        Ok(ms)
                    } else {
                        Err(format!("duration `{value}` is too large"))
                    }
                })
        }
        ValueUnit::Ratio => {
            if let Some(pct) = value.strip_suffix('%') {
                let v: f64 = pct
                    .trim()
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| format!("`{value}` is not a percentage"))?;
                if !(0.0..=100.0).contains(&v) {
                    return Err(format!("`{value}` is outside 0%..=100%"));
                }
                // The fraction read from the decimal text, as a rate computed from counts
                // is: `5.6%` is 0.056, where 5.6 / 100 is 0.055999999999999994 and 7
                // abandoned of 125 would fail `<= 5.6%`.
                return Ok(format!("{}e-2", pct.trim()).parse().unwrap_or(v / 100.0));
            }
            let v = plain().map_err(|_| format!("`{key}` is a rate: write a percentage like `5%` or a fraction like `0.05`, not `{value}`"))?;
            if !(0.0..=1.0).contains(&v) {
                return Err(format!(
                    "`{key}` is a rate between 0 and 1: write `{}%` or a fraction like `0.05`",
                    trim_float(v)
                ));
            }
            Ok(v)
        }
        ValueUnit::Count => {
            let v = plain().map_err(|_| {
                format!("`{key}` is a count: write a plain number like `0`, not `{value}`")
            })?;
            if v < 0.0 {
                return Err(format!("`{key}` is a count and cannot be negative"));
            }
            if v.fract() != 0.0 {
                return Err(format!(
                    "`{key}` is a count, a whole number: compare it with one, not `{value}`"
                ));
            }
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let t = Threshold::parse("accept_wait.p95", "< 60s").unwrap();
        assert_eq!(
            t.subject,
            Subject::Metric(MetricName::AcceptWait, Stat::P95)
        );
        assert_eq!((t.op, t.limit, t.unit), (Op::Lt, 60_000.0, ValueUnit::Ms));
        assert_eq!(t.expression(), "accept_wait.p95 < 60s");

        let t = Threshold::parse("message_latency.p99", "<=25ms").unwrap();
        assert_eq!((t.op, t.limit), (Op::Le, 25.0));
        assert_eq!(t.condition, "<= 25ms");

        let t = Threshold::parse("abandon_rate", "< 5%").unwrap();
        assert_eq!(
            (t.subject, t.limit, t.unit),
            (Subject::Rate(RateName::AbandonRate), 0.05, ValueUnit::Ratio)
        );

        let t = Threshold::parse("service_level", ">= 0.8").unwrap();
        assert_eq!((t.op, t.limit), (Op::Ge, 0.8));

        let t = Threshold::parse("chats.lost", "== 0").unwrap();
        assert_eq!(
            (t.subject, t.op, t.unit),
            (
                Subject::Counter("chats.lost".into()),
                Op::Eq,
                ValueUnit::Count
            )
        );

        let t = Threshold::parse("errors.already_accepted", "< 100").unwrap();
        assert_eq!(
            t.subject,
            Subject::Counter("errors.already_accepted".into())
        );

        let t = Threshold::parse("accept_wait.count", "> 10").unwrap();
        assert_eq!(t.unit, ValueUnit::Count);

        assert_eq!(Threshold::parse("errors", "== 0").unwrap().limit, 0.0);
        assert_eq!(Threshold::parse("fairness", "> 90%").unwrap().limit, 0.9);
    }

    #[test]
    fn a_value_exactly_at_the_limit_compares_as_equal() {
        let limit = |key, cond| Threshold::parse(key, cond).unwrap().limit;
        // As observed values are: microseconds to milliseconds, counts to rates.
        let observed_ms = |us: u64| (us as f64).round() / 1000.0;
        assert_eq!(
            limit("accept_wait.max", "<= 4007ms"),
            observed_ms(4_007_000)
        );
        assert_eq!(
            limit("handle_time.max", "<= 1.001s"),
            observed_ms(1_001_000)
        );
        assert_eq!(limit("handle_time.max", "< 9ms"), observed_ms(9_000));
        assert_eq!(limit("accept_wait.p99", "< 1.5m"), observed_ms(90_000_000));
        assert_eq!(limit("abandon_rate", "<= 5.6%"), 7.0 / 125.0);
        assert_eq!(limit("service_level", ">= 80.1%"), 801.0 / 1000.0);
        assert_eq!(limit("abandon_rate", "<= 0.056"), 7.0 / 125.0);
        let t = Threshold::parse("abandon_rate", "<= 5.6%").unwrap();
        assert!(t.op.holds(7.0 / 125.0, t.limit));
        let t = Threshold::parse("handle_time.max", "< 9ms").unwrap();
        assert!(!t.op.holds(observed_ms(9_000), t.limit));
    }

    #[test]
    fn a_duration_too_large_for_milliseconds_is_refused() {
        // Finite in seconds (about 1.8e305), infinite in milliseconds: `summary.json`
        // would hold `null` for the limit and could not be read back.
        let huge = format!("< 18{}s", "0".repeat(304));
        let e = Threshold::parse("accept_wait.p95", &huge).unwrap_err();
        assert!(e.contains("too large"), "{e}");
        let limit = Threshold::parse("accept_wait.p95", "< 1000000000s")
            .unwrap()
            .limit;
        assert_eq!(limit, 1e12);
    }

    #[test]
    fn a_count_is_compared_with_a_whole_number() {
        for key in ["chats.lost", "accept_wait.count", "queues.q.chats.offered"] {
            let e = Threshold::parse(key, "== 0.5").unwrap_err();
            assert!(e.contains("a whole number"), "{key}: {e}");
        }
        assert_eq!(Threshold::parse("chats.lost", "<= 2").unwrap().limit, 2.0);
        assert_eq!(
            Threshold::parse("chats.lost", "< 1e3").unwrap().limit,
            1000.0
        );
    }

    #[test]
    fn a_queue_has_its_own_figures() {
        let t = Threshold::parse("queues.network.service_level", ">= 80%").unwrap();
        assert_eq!(
            (t.subject, t.limit, t.unit),
            (
                Subject::Queue("network".into(), QueueFigure::ServiceLevel),
                0.8,
                ValueUnit::Ratio
            )
        );
        let t = Threshold::parse("queues.network.accept_wait.p95", "< 2m").unwrap();
        assert_eq!(
            (t.subject, t.limit, t.unit),
            (
                Subject::Queue("network".into(), QueueFigure::AcceptWait(Stat::P95)),
                120_000.0,
                ValueUnit::Ms
            )
        );
        let t = Threshold::parse("queues.network.chats.abandoned", "< 10").unwrap();
        assert_eq!(
            (t.subject, t.unit),
            (
                Subject::Queue("network".into(), QueueFigure::Chats("abandoned")),
                ValueUnit::Count
            )
        );
        // A queue named with dots: its name ends where a figure begins.
        let t = Threshold::parse("queues.eu.west.abandon_rate", "< 5%").unwrap();
        assert_eq!(
            t.subject,
            Subject::Queue("eu.west".into(), QueueFigure::AbandonRate)
        );
        for (key, want) in [
            ("queues.network.occupancy", "a queue's figure is"),
            ("queues.network.accept_wait.p75", "unknown statistic"),
            ("queues.network.chats.closed", "a queue's figure is"),
            ("queues.network", "expected queues.<queue>.<figure>"),
            ("queues..service_level", "expected queues.<queue>.<figure>"),
        ] {
            let e = Threshold::parse(key, "< 1").unwrap_err();
            assert!(e.contains(want), "{key}: {e}");
        }
    }

    #[test]
    fn refuses_malformed_thresholds() {
        let cases = [
            ("accept_wait.p95", "60s", "operator"),
            ("accept_wait.p95", "< 60", "unit"),
            ("accept_wait.p95", "< 5%", "duration"),
            ("accept_wait.p95", "<", "no value"),
            ("accept_wait.p75", "< 60s", "unknown statistic"),
            ("accept_wait", "< 60s", "needs a statistic"),
            ("accept_time.p95", "< 60s", "unknown threshold key"),
            ("abandon_rate", "< 5", "5%"),
            ("abandon_rate", "< 150%", "outside"),
            ("abandon_rate", "< 60s", "rate"),
            ("chats.lost", "== 0s", "count"),
            ("chats.lost", ">= -1", "negative"),
            ("chats.missing", "== 0", "unknown threshold key"),
            (
                "errors.rate_limted",
                "== 0",
                "unknown error code `rate_limted`",
            ),
            ("errors.", "== 0", "unknown error code"),
            ("abandon_rate", "=< 5%", "operator"),
        ];
        for (key, cond, want) in cases {
            let err = Threshold::parse(key, cond).expect_err(key);
            assert!(err.contains(want), "{key} = {cond}: {err}");
        }
    }

    #[test]
    fn operators_compare() {
        assert!(Op::Lt.holds(1.0, 2.0) && !Op::Lt.holds(2.0, 2.0));
        assert!(Op::Le.holds(2.0, 2.0) && !Op::Le.holds(2.1, 2.0));
        assert!(Op::Gt.holds(3.0, 2.0) && !Op::Gt.holds(2.0, 2.0));
        assert!(Op::Ge.holds(2.0, 2.0) && !Op::Ge.holds(1.9, 2.0));
        assert!(Op::Eq.holds(0.1 + 0.2, 0.3) && !Op::Eq.holds(0.0, 1.0));
    }
}
