//! Random distributions written as text in scenario files, and their seeded sampling.
//!
//! `const(X)`, `exp(mean=X)`, `uniform(A, B)`, `normal(mean=X, sd=Y)` and
//! `lognormal(mean=X, sd=Y)` (mean and sd of the variable itself). A bare value (`8s`,
//! `4`) means `const`. Duration distributions ([`DurationDist`]) need a unit on every
//! value; count distributions ([`CountDist`]) take plain numbers. Every sample is
//! truncated at zero: `normal` by rejection (it is conditioned on being non-negative),
//! which is why its mean must be positive.

pub mod arrival;
pub mod call;
pub mod duration;
pub mod rate;

use call::parse_call;
use duration::{format_seconds, parse_seconds, to_duration, trim_float};
use rand::Rng;
use rand_distr::{Exp1, StandardNormal};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

pub use arrival::{Arrival, ArrivalSchedule, Phase};
pub use duration::{format_duration, parse_duration};
pub use rate::{Rate, RateUnit};

/// The longest duration a distribution may name, in seconds (366 days).
const MAX_DURATION_SECS: f64 = 366.0 * 24.0 * 3600.0;

/// The largest count a count distribution may name or draw (messages in one
/// conversation): past it a scenario is a typo, or a way to exhaust memory.
pub const MAX_COUNT: u32 = 10_000;

/// What a distribution's values measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Seconds; written with units (`250ms`, `20s`, `3m`, `1h`).
    Duration,
    /// A plain number (messages, …).
    Count,
}

/// The shape of a distribution, with parameters in the quantity's base unit (seconds
/// for durations).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// Always the same value.
    Const(f64),
    /// Exponential with the given mean.
    Exp {
        /// The mean, > 0.
        mean: f64,
    },
    /// Uniform between `min` and `max` (inclusive integers for counts).
    Uniform {
        /// Lower bound, ≥ 0.
        min: f64,
        /// Upper bound, ≥ `min`.
        max: f64,
    },
    /// Normal, truncated at zero.
    Normal {
        /// The mean before truncation, > 0.
        mean: f64,
        /// Standard deviation, ≥ 0.
        sd: f64,
    },
    /// Log-normal with the given mean and standard deviation of the variable itself.
    LogNormal {
        /// The mean, > 0.
        mean: f64,
        /// Standard deviation, ≥ 0.
        sd: f64,
    },
}

/// Names accepted for each shape, for error messages.
const SHAPES: &str =
    "const(X), exp(mean=X), uniform(A, B), normal(mean=X, sd=Y), lognormal(mean=X, sd=Y)";

/// A validated distribution of a [`Quantity`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dist {
    shape: Shape,
    quantity: Quantity,
}

impl Dist {
    /// Parses a distribution of `quantity` from its text form.
    pub fn parse(text: &str, quantity: Quantity) -> Result<Dist, String> {
        let value = |v: &str| parse_value(v, quantity);
        let shape = match parse_call(text) {
            None => Shape::Const(value(text)?),
            Some(call) => {
                let call = call?;
                match call.name.as_str() {
                    "const" | "constant" | "fixed" => {
                        let [v] = call.bind_all(["value"])?;
                        Shape::Const(value(v)?)
                    }
                    "exp" | "exponential" => {
                        let [mean] = call.bind_all(["mean"])?;
                        Shape::Exp { mean: value(mean)? }
                    }
                    "uniform" => {
                        let [min, max] = call.bind_all(["min", "max"])?;
                        Shape::Uniform {
                            min: value(min)?,
                            max: value(max)?,
                        }
                    }
                    "normal" | "gauss" => {
                        let [mean, sd] = call.bind_all(["mean", "sd"])?;
                        Shape::Normal {
                            mean: value(mean)?,
                            sd: value(sd)?,
                        }
                    }
                    "lognormal" | "log_normal" => {
                        let [mean, sd] = call.bind_all(["mean", "sd"])?;
                        Shape::LogNormal {
                            mean: value(mean)?,
                            sd: value(sd)?,
                        }
                    }
                    other => {
                        return Err(format!(
                            "unknown distribution `{other}`; expected one of {SHAPES}"
                        ));
                    }
                }
            }
        };
        Dist::new(shape, quantity)
    }

    /// Checks a shape's parameters: no negative values, positive means, `min <= max`,
    /// durations at most 366 days.
    pub fn new(shape: Shape, quantity: Quantity) -> Result<Dist, String> {
        let d = Dist { shape, quantity };
        let show = |v: f64| d.show(v);
        let nonneg = |what: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must not be negative, got {}", show(v)))
            }
        };
        let positive = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be positive, got {}", show(v)))
            }
        };
        // A duration parameter past a year is a typo (or an overflow waiting in the
        // timers); the runs themselves are capped at a year too.
        let params: &[(&str, f64)] = match shape {
            Shape::Const(v) => &[("the value", v)],
            Shape::Exp { mean } => &[("mean", mean)],
            Shape::Uniform { min, max } => &[("min", min), ("max", max)],
            Shape::Normal { mean, sd } | Shape::LogNormal { mean, sd } => {
                &[("mean", mean), ("sd", sd)]
            }
        };
        if quantity == Quantity::Duration
            && let Some((what, v)) = params.iter().find(|(_, v)| *v > MAX_DURATION_SECS)
        {
            return Err(format!("{what} must be at most 366 days, got {}", show(*v)));
        }
        if quantity == Quantity::Count
            && let Some((what, v)) = params.iter().find(|(_, v)| *v > f64::from(MAX_COUNT))
        {
            return Err(format!(
                "{what} must be at most {MAX_COUNT}, got {}",
                show(*v)
            ));
        }
        match shape {
            Shape::Const(v) => {
                nonneg("the value", v)?;
                if quantity == Quantity::Count && v.fract() != 0.0 {
                    return Err(format!("a count must be a whole number, got {}", show(v)));
                }
            }
            Shape::Exp { mean } => positive("mean", mean)?,
            Shape::Uniform { min, max } => {
                nonneg("min", min)?;
                nonneg("max", max)?;
                if min > max {
                    return Err(format!(
                        "uniform(A, B) needs A <= B, got {} > {}",
                        show(min),
                        show(max)
                    ));
                }
                if quantity == Quantity::Count && (min.fract() != 0.0 || max.fract() != 0.0) {
                    return Err("uniform bounds of a count must be whole numbers".to_string());
                }
            }
            Shape::Normal { mean, sd } | Shape::LogNormal { mean, sd } => {
                positive("mean", mean)?;
                nonneg("sd", sd)?;
            }
        }
        Ok(d)
    }

    /// The shape and its parameters.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// What the values measure.
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }

    /// The mean as written (for `normal`, before truncation at zero).
    pub fn mean(&self) -> f64 {
        match self.shape {
            Shape::Const(v) => v,
            Shape::Exp { mean } | Shape::Normal { mean, .. } | Shape::LogNormal { mean, .. } => {
                mean
            }
            Shape::Uniform { min, max } => (min + max) / 2.0,
        }
    }

    /// Draws one value in the base unit (seconds for durations), never negative.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let v = match self.shape {
            Shape::Const(v) => v,
            Shape::Exp { mean } => mean * rng.sample::<f64, _>(Exp1),
            Shape::Uniform { min, max } => {
                if self.quantity == Quantity::Count {
                    // Whole bounds (checked in `new`): every count equally likely.
                    rng.random_range(min as u64..=max as u64) as f64
                } else if min == max {
                    min
                } else {
                    rng.random_range(min..=max)
                }
            }
            Shape::Normal { mean, sd } => {
                // Truncation by rejection; with mean > 0 each draw succeeds with
                // probability > 1/2, so the cap is only a guard against bad luck.
                let mut v = 0.0;
                for _ in 0..64 {
                    v = mean + sd * rng.sample::<f64, _>(StandardNormal);
                    if v >= 0.0 {
                        break;
                    }
                }
                v
            }
            Shape::LogNormal { mean, sd } => {
                let (mu, sigma) = lognormal_params(mean, sd);
                (mu + sigma * rng.sample::<f64, _>(StandardNormal)).exp()
            }
        };
        v.max(0.0)
    }

    fn show(&self, v: f64) -> String {
        match self.quantity {
            Quantity::Duration if v >= 0.0 => format_seconds(v),
            Quantity::Duration => format!("-{}", format_seconds(-v)),
            Quantity::Count => trim_float(v),
        }
    }
}

/// The `mu` and `sigma` of the underlying normal for a log-normal with the given mean
/// and standard deviation: sigma² = ln(1 + sd²/mean²), mu = ln(mean) − sigma²/2.
pub fn lognormal_params(mean: f64, sd: f64) -> (f64, f64) {
    let sigma2 = (1.0 + (sd * sd) / (mean * mean)).ln();
    (mean.ln() - sigma2 / 2.0, sigma2.sqrt())
}

fn parse_value(text: &str, quantity: Quantity) -> Result<f64, String> {
    match quantity {
        Quantity::Duration => parse_seconds(text),
        Quantity::Count => {
            let t = text.trim();
            let v: f64 = t
                .replace('_', "")
                .parse()
                .map_err(|_| format!("expected a plain number, got `{t}`"))?;
            if !v.is_finite() {
                return Err(format!("expected a finite number, got `{t}`"));
            }
            if v < 0.0 {
                return Err(format!("the value must not be negative, got {t}"));
            }
            Ok(v)
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |v: f64| self.show(v);
        match self.shape {
            Shape::Const(v) => write!(f, "const({})", s(v)),
            Shape::Exp { mean } => write!(f, "exp(mean={})", s(mean)),
            Shape::Uniform { min, max } => write!(f, "uniform({}, {})", s(min), s(max)),
            Shape::Normal { mean, sd } => write!(f, "normal(mean={}, sd={})", s(mean), s(sd)),
            Shape::LogNormal { mean, sd } => write!(f, "lognormal(mean={}, sd={})", s(mean), s(sd)),
        }
    }
}

/// A distribution of durations (delays, patience, handle times).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DurationDist(Dist);

impl DurationDist {
    /// Parses the text form, e.g. `exp(mean=20s)`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Dist::parse(text, Quantity::Duration).map(DurationDist)
    }

    /// Always `d`.
    pub fn constant(d: Duration) -> Self {
        DurationDist(Dist {
            shape: Shape::Const(d.as_secs_f64()),
            quantity: Quantity::Duration,
        })
    }

    /// Draws one duration.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        to_duration(self.0.sample(rng))
    }

    /// The mean as written.
    pub fn mean(&self) -> Duration {
        to_duration(self.0.mean())
    }

    /// The underlying distribution, in seconds.
    pub fn dist(&self) -> &Dist {
        &self.0
    }
}

/// A distribution of whole counts (messages in a conversation, …).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountDist(Dist);

impl CountDist {
    /// Parses the text form, e.g. `uniform(2, 6)`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Dist::parse(text, Quantity::Count).map(CountDist)
    }

    /// Always `n`.
    pub fn constant(n: u32) -> Self {
        CountDist(Dist {
            shape: Shape::Const(f64::from(n)),
            quantity: Quantity::Count,
        })
    }

    /// Draws one count (continuous shapes are rounded to the nearest whole number;
    /// a tail beyond [`MAX_COUNT`] is cut there).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let v = self.0.sample(rng).round();
        if v >= f64::from(MAX_COUNT) {
            MAX_COUNT
        } else {
            v as u32
        }
    }

    /// The mean as written.
    pub fn mean(&self) -> f64 {
        self.0.mean()
    }

    /// The underlying distribution.
    pub fn dist(&self) -> &Dist {
        &self.0
    }
}

impl fmt::Display for DurationDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for CountDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for DurationDist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for CountDist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationDist;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration distribution such as \"exp(mean=20s)\" or \"8s\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationDist, E> {
                DurationDist::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationDist, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write \"{v}s\", not {v}"
                )))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationDist, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write \"{v}s\", not {v}"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DurationDist, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write \"{v}s\", not {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for CountDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = CountDist;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count distribution such as \"uniform(2, 6)\" or 4")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CountDist, E> {
                CountDist::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<CountDist, E> {
                CountDist::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<CountDist, E> {
                CountDist::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<CountDist, E> {
                CountDist::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests;
