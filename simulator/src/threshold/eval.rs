//! Evaluating thresholds against a summary. A threshold whose value is undefined
//! (no samples, nothing offered) fails: a check that could not be made is not a pass.
//! The one exception: what only a live run can observe, in a virtual-time run — a
//! real-time metric (transport latencies, see [`crate::metrics::Clock`]) or a counter
//! of connections and messages in flight ([`Counters::is_live_only`]); such a
//! threshold is *not applicable*, shown as such, and does not fail the run.

use super::parse::{Op, Subject, Threshold, ValueUnit};
use crate::metrics::Counters;
use crate::metrics::names::Clock;
use crate::metrics::summary::{Mode, Summary};
use serde::{Deserialize, Serialize};

/// A threshold's verdict, as stored in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression as written, `accept_wait.p95 < 60s`.
    pub expression: String,
    /// The key, `accept_wait.p95`.
    pub key: String,
    /// The operator.
    pub op: String,
    /// The limit, in `unit`.
    pub limit: f64,
    /// `ms`, `ratio` or `count`.
    pub unit: String,
    /// The observed value in `unit`; `null` when it could not be computed.
    pub observed: Option<f64>,
    /// Whether the threshold held (true when not applicable).
    pub pass: bool,
    /// Why the threshold does not apply to this run, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_applicable: Option<String>,
    /// Why nothing was observed, when the threshold applies but nothing was (it fails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data: Option<String>,
}

impl ThresholdResult {
    /// Evaluates `t` against `summary`.
    pub fn evaluate(t: &Threshold, summary: &Summary) -> ThresholdResult {
        let observed = summary.value(&t.subject);
        let not_applicable = match &t.subject {
            Subject::Metric(m, _) if m.clock() == Clock::Real && summary.mode == Mode::Virtual => {
                Some(format!(
                    "{m} is a real-time (transport) metric; virtual time has no transport"
                ))
            }
            Subject::Counter(name)
                if Counters::is_live_only(name) && summary.mode == Mode::Virtual =>
            {
                Some(format!(
                    "{name} is counted in live runs only; virtual time has no connections \
                     to fail and delivers every message at once"
                ))
            }
            _ => None,
        };
        let no_data = (observed.is_none() && not_applicable.is_none()).then(|| match &t.subject {
            Subject::Queue(queue, _) if !summary.queues.contains_key(queue) => {
                format!(
                    "no user came to queue `{queue}` in this run (its figures count the users who \
                 asked it)"
                )
            }
            _ => "nothing in this run to compute it from".to_string(),
        });
        ThresholdResult {
            expression: t.expression(),
            key: t.key.clone(),
            op: t.op.as_str().to_string(),
            limit: t.limit,
            unit: unit_name(t.unit).to_string(),
            observed,
            pass: not_applicable.is_some() || observed.is_some_and(|o| t.op.holds(o, t.limit)),
            not_applicable,
            no_data,
        }
    }

    /// `PASS`, `FAIL` or `N/A`.
    pub fn verdict(&self) -> &'static str {
        match (self.not_applicable.is_some(), self.pass) {
            (true, _) => "N/A",
            (false, true) => "PASS",
            (false, false) => "FAIL",
        }
    }

    /// The observed value as the threshold writes its limit: a ratio as a percentage,
    /// a duration in ms or s, a count as a whole number. A percentage gets more
    /// decimals where two would make it look equal to a limit it is not (4.999% against
    /// `< 5%`).
    pub fn observed_text(&self) -> String {
        let Some(v) = self.observed else {
            return "no data".into();
        };
        match self.unit.as_str() {
            // A share written as a fraction (`fairness > 0.8`) reads back as one, with
            // the decimals it takes not to look equal to its limit, or whole.
            "ratio" if !self.condition().contains('%') => {
                let looks = |x: f64, d: usize| v != x && format!("{v:.d$}") == format!("{x:.d$}");
                let mut decimals = 3;
                while decimals < 8 && [self.limit, 0.0, 1.0].iter().any(|&x| looks(x, decimals)) {
                    decimals += 1;
                }
                format!("{v:.decimals$}")
            }
            "ratio" => {
                let (pct, limit) = (v * 100.0, self.limit * 100.0);
                let mut decimals = 2;
                while decimals < 6
                    && pct != limit
                    && format!("{pct:.decimals$}") == format!("{limit:.decimals$}")
                {
                    decimals += 1;
                }
                format!("{pct:.decimals$}%")
            }
            "ms" if v >= 1000.0 => format!("{:.3} s", v / 1000.0),
            "ms" => format!("{v:.3} ms"),
            _ if v.fract() == 0.0 => format!("{v:.0}"),
            _ => format!("{v:.3}"),
        }
    }

    /// The condition as written, `< 60s` (the expression without its key).
    pub fn condition(&self) -> &str {
        self.expression
            .strip_prefix(self.key.as_str())
            .unwrap_or(&self.expression)
            .trim()
    }

    /// The operator, parsed back.
    pub fn operator(&self) -> Option<Op> {
        [Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Eq]
            .into_iter()
            .find(|o| o.as_str() == self.op)
    }
}

fn unit_name(u: ValueUnit) -> &'static str {
    match u {
        ValueUnit::Ms => "ms",
        ValueUnit::Ratio => "ratio",
        ValueUnit::Count => "count",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(unit: &str, limit: f64, observed: Option<f64>) -> ThresholdResult {
        ThresholdResult {
            expression: if unit == "ratio" {
                format!("x < {}%", limit * 100.0)
            } else {
                String::new()
            },
            key: String::new(),
            op: "<".into(),
            limit,
            unit: unit.into(),
            observed,
            pass: true,
            not_applicable: None,
            no_data: None,
        }
    }

    #[test]
    fn observed_values_read_in_the_thresholds_own_units() {
        let text = |unit, limit, v| result(unit, limit, v).observed_text();
        assert_eq!(text("ratio", 0.05, Some(0.0499)), "4.99%");
        assert_eq!(text("ratio", 0.05, Some(0.049_996)), "4.9996%");
        assert_eq!(text("ratio", 0.05, Some(0.05)), "5.00%");
        assert_eq!(text("ratio", 0.99, Some(1.0)), "100.00%");
        assert_eq!(text("ms", 60_000.0, Some(19_185.663)), "19.186 s");
        assert_eq!(text("ms", 250.0, Some(2.7071)), "2.707 ms");
        assert_eq!(text("count", 0.0, Some(7.0)), "7");
        assert_eq!(text("count", 0.0, Some(0.5)), "0.500");
        assert_eq!(text("ms", 1.0, None), "no data");
        // Written as a fraction, read back as one.
        let fraction = ThresholdResult {
            expression: "fairness > 0.8".into(),
            ..result("ratio", 0.8, Some(0.96543))
        };
        assert_eq!(fraction.observed_text(), "0.965");
        let almost_whole = ThresholdResult {
            observed: Some(0.9996),
            ..fraction.clone()
        };
        assert_eq!(almost_whole.observed_text(), "0.9996");
        // A `%` in the key (a queue's name) is not the condition's.
        let queue = ThresholdResult {
            expression: "queues.50%-off.service_level >= 0.8".into(),
            key: "queues.50%-off.service_level".into(),
            ..fraction
        };
        assert_eq!(queue.condition(), ">= 0.8");
        assert_eq!(queue.observed_text(), "0.965");
    }
}
