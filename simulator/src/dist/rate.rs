//! Rates as scenario files write them: `60/min`, `2/s`, `1.5/s`, `900/h`.

use super::duration::trim_float;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The unit a rate was written in; kept so it prints back the way it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateUnit {
    /// Per second (`/s`).
    PerSecond,
    /// Per minute (`/min`, `/m`).
    PerMinute,
    /// Per hour (`/h`).
    PerHour,
}

impl RateUnit {
    fn seconds(self) -> f64 {
        match self {
            RateUnit::PerSecond => 1.0,
            RateUnit::PerMinute => 60.0,
            RateUnit::PerHour => 3600.0,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            RateUnit::PerSecond => "s",
            RateUnit::PerMinute => "min",
            RateUnit::PerHour => "h",
        }
    }
}

/// Events per unit of (scenario) time. Never negative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    value: f64,
    unit: RateUnit,
}

/// The hint appended to every rate error.
pub const RATE_HINT: &str = "expected a rate like `2/s`, `60/min` or `900/h`";

impl Rate {
    /// A rate of `value` per `unit`; `None` if negative or not finite.
    pub fn new(value: f64, unit: RateUnit) -> Option<Rate> {
        (value.is_finite() && value >= 0.0).then_some(Rate { value, unit })
    }

    /// Events per second.
    pub fn per_second(self) -> f64 {
        self.value / self.unit.seconds()
    }

    /// Events per minute.
    pub fn per_minute(self) -> f64 {
        self.per_second() * 60.0
    }

    /// Events per hour.
    pub fn per_hour(self) -> f64 {
        self.per_second() * 3600.0
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        let Some((num, unit)) = s.split_once('/') else {
            return Err(format!("invalid rate `{s}`: missing `/unit`; {RATE_HINT}"));
        };
        let value: f64 = num
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("invalid number in rate `{s}`; {RATE_HINT}"))?;
        let unit = match unit.trim() {
            "s" | "sec" | "second" => RateUnit::PerSecond,
            "min" | "m" | "minute" => RateUnit::PerMinute,
            "h" | "hour" => RateUnit::PerHour,
            other => {
                return Err(format!(
                    "unknown rate unit `/{other}` in `{s}`; {RATE_HINT}"
                ));
            }
        };
        if value < 0.0 {
            return Err(format!("rate `{s}` must not be negative"));
        }
        Rate::new(value, unit).ok_or_else(|| format!("rate `{s}` is not a finite number"))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", trim_float(self.value), self.unit.suffix())
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        let r: Rate = "60/min".parse().unwrap();
        assert!((r.per_second() - 1.0).abs() < 1e-12);
        let r: Rate = "2/s".parse().unwrap();
        assert!((r.per_minute() - 120.0).abs() < 1e-9);
        let r: Rate = "900/h".parse().unwrap();
        assert!((r.per_second() - 0.25).abs() < 1e-12);
        let r: Rate = "0/min".parse().unwrap();
        assert_eq!(r.per_second(), 0.0);
    }

    #[test]
    fn prints_as_written() {
        for s in ["60/min", "2/s", "1.5/s", "900/h"] {
            assert_eq!(s.parse::<Rate>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_bad_rates() {
        for bad in ["60", "60/d", "-1/s", "x/s", "/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert!("-1/s".parse::<Rate>().unwrap_err().contains("negative"));
    }
}
