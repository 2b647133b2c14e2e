//! Durations as scenario files write them: `250ms`, `20s`, `3m`, `1h`, `1.5s`, `1m30s`.
//!
//! Values are carried as seconds in `f64` so that distributions can work in one unit;
//! [`to_duration`] turns a non-negative number of seconds into a [`Duration`] with
//! nanosecond resolution.

use std::time::Duration;

/// Units a duration may carry, longest suffix first so `ms` wins over `m`.
const UNITS: [(&str, f64); 7] = [
    ("ms", 0.001),
    ("us", 0.000_001),
    ("min", 60.0),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
    ("d", 86_400.0),
];

/// The hint appended to every duration error.
pub const DURATION_HINT: &str = "expected a duration like `250ms`, `20s`, `3m` or `1h`";

/// Parses a duration into seconds. Compound forms (`1m30s`) add up.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {DURATION_HINT}"));
    }
    if s.starts_with('-') {
        return Err(format!("duration `{s}` must not be negative"));
    }
    let mut rest = s;
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("invalid duration `{s}`; {DURATION_HINT}"));
        }
        let number: f64 = rest[..num_len]
            .replace('_', "")
            .parse()
            .map_err(|_| format!("invalid number in duration `{s}`; {DURATION_HINT}"))?;
        rest = rest[num_len..].trim_start();
        // `1e3s`: an exponent, not a unit `e3s`.
        if rest
            .strip_prefix(['e', 'E'])
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+'))
        {
            return Err(format!(
                "duration `{s}` has an exponent; write the number out (`1000s`, not `1e3s`)"
            ));
        }
        let Some((unit, scale)) = UNITS.iter().find(|(u, _)| {
            rest.starts_with(u)
                && !rest[u.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
        }) else {
            return Err(if rest.is_empty() {
                format!("duration `{s}` needs a unit; {DURATION_HINT}")
            } else {
                format!("unknown unit in duration `{s}`; {DURATION_HINT}")
            });
        };
        total += number * scale;
        rest = rest[unit.len()..].trim_start();
    }
    if !total.is_finite() {
        return Err(format!("duration `{s}` is too large"));
    }
    Ok(total)
}

/// Parses a duration into a [`Duration`]. One above zero but below a nanosecond (the
/// finest step a [`Duration`] holds) is refused rather than read as zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let seconds = parse_seconds(text)?;
    if seconds > 0.0 && seconds < 1e-9 {
        return Err(format!(
            "duration `{}` is shorter than a nanosecond, the finest step there is",
            text.trim()
        ));
    }
    Ok(to_duration(seconds))
}

/// Seconds to a [`Duration`]; negative or non-finite inputs become zero, huge ones saturate.
pub fn to_duration(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }
}

/// Formats seconds in the largest unit that keeps the value short and exact enough to
/// parse back to the same number: `3m`, `90s`, `250ms`, `1.5s`.
pub fn format_seconds(seconds: f64) -> String {
    let whole = |v: f64| (v - v.round()).abs() < 1e-9;
    if seconds == 0.0 {
        return "0s".to_string();
    }
    for (unit, scale) in [("h", 3600.0), ("m", 60.0), ("s", 1.0)] {
        let v = seconds / scale;
        if v >= 1.0 && whole(v) {
            return format!("{}{unit}", v.round());
        }
    }
    if seconds >= 1.0 {
        return format!("{}s", trim_float(seconds));
    }
    format!("{}ms", trim_float(seconds * 1000.0))
}

/// Formats a [`Duration`] like [`format_seconds`].
pub fn format_duration(d: Duration) -> String {
    format_seconds(d.as_secs_f64())
}

/// Prints a float without a trailing `.0` and without binary noise (`0.1 + 0.2`).
pub fn trim_float(v: f64) -> String {
    let s = format!("{:.6}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_below_a_nanosecond_is_refused_not_zero() {
        for below in ["0.0004us", "0.0009us"] {
            let e = parse_duration(below).unwrap_err();
            assert!(e.contains("shorter than a nanosecond"), "{below}: {e}");
        }
        assert_eq!(parse_duration("0.001us"), Ok(Duration::from_nanos(1)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_seconds("250ms"), Ok(0.25));
        assert_eq!(parse_seconds("20s"), Ok(20.0));
        assert_eq!(parse_seconds("3m"), Ok(180.0));
        assert_eq!(parse_seconds("3min"), Ok(180.0));
        assert_eq!(parse_seconds("1h"), Ok(3600.0));
        assert_eq!(parse_seconds("1.5s"), Ok(1.5));
        assert_eq!(parse_seconds("1m30s"), Ok(90.0));
        assert_eq!(parse_seconds(" 2 s "), Ok(2.0));
        assert_eq!(parse_seconds("0s"), Ok(0.0));
    }

    #[test]
    fn refuses_bad_durations_with_a_hint() {
        for bad in ["", "5", "-5s", "5x", "s", "5 parsecs", "1.2.3s"] {
            let err = parse_seconds(bad).expect_err(bad);
            assert!(!err.is_empty(), "{bad}");
        }
        assert!(parse_seconds("5").unwrap_err().contains("needs a unit"));
        assert!(parse_seconds("-5s").unwrap_err().contains("negative"));
        for exponent in ["1e3s", "2E-1ms", "1e+2h"] {
            assert!(
                parse_seconds(exponent)
                    .unwrap_err()
                    .contains("has an exponent"),
                "{exponent}"
            );
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in [0.0, 0.25, 1.5, 20.0, 90.0, 180.0, 3600.0, 5400.0, 0.0005] {
            let text = format_seconds(s);
            let back = parse_seconds(&text).expect(&text);
            assert!((back - s).abs() < 1e-9, "{s} -> {text} -> {back}");
        }
        assert_eq!(format_seconds(180.0), "3m");
        assert_eq!(format_seconds(90.0), "90s");
        assert_eq!(format_seconds(0.25), "250ms");
    }

    #[test]
    fn converts_to_duration_safely() {
        assert_eq!(to_duration(-1.0), Duration::ZERO);
        assert_eq!(to_duration(f64::NAN), Duration::ZERO);
        assert_eq!(to_duration(1.5), Duration::from_millis(1500));
        assert_eq!(to_duration(f64::INFINITY), Duration::MAX);
    }
}
