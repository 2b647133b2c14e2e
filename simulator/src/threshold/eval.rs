//! Evaluating thresholds against a summary. A threshold whose value is undefined
//! (no samples, nothing offered) fails: a check that could not be made is not a pass.

use super::parse::{Op, Threshold, ValueUnit};
use crate::metrics::summary::Summary;
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
    /// Whether the threshold held.
    pub pass: bool,
}

impl ThresholdResult {
    /// Evaluates `t` against `summary`.
    pub fn evaluate(t: &Threshold, summary: &Summary) -> ThresholdResult {
        let observed = summary.value(&t.subject);
        ThresholdResult {
            expression: t.expression(),
            key: t.key.clone(),
            op: t.op.as_str().to_string(),
            limit: t.limit,
            unit: unit_name(t.unit).to_string(),
            observed,
            pass: observed.is_some_and(|o| t.op.holds(o, t.limit)),
        }
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
