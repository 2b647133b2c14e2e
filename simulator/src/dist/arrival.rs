//! User arrival processes: a steady `poisson(rate=60/min)`, evenly spaced
//! `constant(rate=…)`, or phases with linearly changing rates (ramp up, peak, ramp
//! down), and the seeded schedule of arrival times they produce.
//!
//! Arrivals are an open model: the schedule is fixed by the seed before the run and
//! never waits for the system under test.

use super::call::parse_call;
use super::duration::{format_duration, parse_duration};
use super::rate::Rate;
use rand::Rng;
use rand_distr::Exp1;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// One phase of an arrival profile: the rate moves linearly from `from` to `to` over
/// `duration` (equal for a flat phase).
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// A label for reports ("ramp up", "peak").
    pub name: Option<String>,
    /// How long the phase lasts, in scenario time.
    pub duration: Duration,
    /// The rate at the start of the phase.
    pub from: Rate,
    /// The rate at the end of the phase.
    pub to: Rate,
}

/// How users of one stream arrive.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrival {
    /// A Poisson process at a fixed rate.
    Poisson(Rate),
    /// Evenly spaced arrivals at a fixed rate (useful for smoke tests).
    Constant(Rate),
    /// A Poisson process whose rate follows the phases one after another from the
    /// start of the scenario; no arrivals after the last phase ends.
    Phases(Vec<Phase>),
}

impl Arrival {
    /// Parses the text form: `poisson(rate=60/min)` or `constant(rate=1/s)`.
    pub fn parse(text: &str) -> Result<Arrival, String> {
        // Phases are a TOML array: written in the file, never in this text form (nor
        // with `--set`).
        let hint = "expected `poisson(rate=60/min)` or `constant(rate=1/s)` \
                    (arrival phases are an array written in the scenario file)";
        let call = parse_call(text)
            .ok_or_else(|| format!("invalid arrival `{}`; {hint}", text.trim()))??;
        let [rate] = call.bind_all(["rate"])?;
        let rate: Rate = rate.parse()?;
        match call.name.as_str() {
            "poisson" => {
                if rate.per_second() <= 0.0 {
                    return Err("the arrival rate must be positive".to_string());
                }
                Ok(Arrival::Poisson(rate))
            }
            "constant" | "const" => {
                if rate.per_second() <= 0.0 {
                    return Err("the arrival rate must be positive".to_string());
                }
                Ok(Arrival::Constant(rate))
            }
            other => Err(format!("unknown arrival process `{other}`; {hint}")),
        }
    }

    /// The expected number of arrivals in `[0, horizon)`.
    pub fn expected_count(&self, horizon: Duration) -> f64 {
        let h = horizon.as_secs_f64();
        match self {
            Arrival::Poisson(r) => r.per_second() * h,
            Arrival::Constant(r) => {
                // Arrivals at k / rate for k = 1, 2, … while before the horizon. A
                // product a rounding error away from a whole number is that number (an
                // arrival due exactly at the horizon does not come).
                let n = r.per_second() * h;
                let n = if (n - n.round()).abs() <= 1e-12 * n.max(1.0) {
                    n.round()
                } else {
                    n
                };
                (n.ceil() - 1.0).max(0.0)
            }
            Arrival::Phases(_) => segments(self, horizon)
                .iter()
                .map(|s| (s.start_rate + s.end_rate) / 2.0 * (s.end - s.start))
                .sum(),
        }
    }

    /// The highest rate, in arrivals per second, reached at any time.
    pub fn peak_per_second(&self) -> f64 {
        match self {
            Arrival::Poisson(r) | Arrival::Constant(r) => r.per_second(),
            Arrival::Phases(p) => p
                .iter()
                .map(|p| p.from.per_second().max(p.to.per_second()))
                .fold(0.0, f64::max),
        }
    }

    /// The total length of the phases, if this is a phased profile.
    pub fn phases_span(&self) -> Option<Duration> {
        match self {
            Arrival::Phases(p) => Some(p.iter().map(|p| p.duration).sum()),
            _ => None,
        }
    }
}

impl fmt::Display for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arrival::Poisson(r) => write!(f, "poisson(rate={r})"),
            Arrival::Constant(r) => write!(f, "constant(rate={r})"),
            Arrival::Phases(phases) => {
                let parts: Vec<String> = phases
                    .iter()
                    .map(|p| format!("{} {}→{}", format_duration(p.duration), p.from, p.to))
                    .collect();
                write!(f, "phases[{}]", parts.join(", "))
            }
        }
    }
}

/// A piece of the rate profile, clipped to the horizon: the rate changes linearly.
#[derive(Clone, Copy, Debug)]
struct Segment {
    start: f64,
    end: f64,
    start_rate: f64,
    end_rate: f64,
}

impl Segment {
    fn rate_at(&self, t: f64) -> f64 {
        if self.end <= self.start {
            return self.start_rate;
        }
        self.start_rate
            + (self.end_rate - self.start_rate) * (t - self.start) / (self.end - self.start)
    }
}

fn segments(arrival: &Arrival, horizon: Duration) -> Vec<Segment> {
    let h = horizon.as_secs_f64();
    match arrival {
        Arrival::Poisson(r) | Arrival::Constant(r) => vec![Segment {
            start: 0.0,
            end: h,
            start_rate: r.per_second(),
            end_rate: r.per_second(),
        }],
        Arrival::Phases(phases) => {
            let mut out = Vec::new();
            let mut t = 0.0;
            for p in phases {
                let len = p.duration.as_secs_f64();
                if t >= h {
                    break;
                }
                let full = Segment {
                    start: t,
                    end: t + len,
                    start_rate: p.from.per_second(),
                    end_rate: p.to.per_second(),
                };
                let end = full.end.min(h);
                out.push(Segment {
                    end,
                    end_rate: full.rate_at(end),
                    ..full
                });
                t += len;
            }
            out
        }
    }
}

/// The arrival times of one stream, in scenario time since the start, ascending.
///
/// Phased and Poisson profiles are drawn by thinning (Lewis–Shedler) within each
/// linear segment, which is exact for a non-homogeneous Poisson process.
pub struct ArrivalSchedule<R> {
    segments: Vec<Segment>,
    current: usize,
    t: f64,
    rng: R,
    /// Evenly spaced arrivals: the gap, and how many fall before the horizon (as
    /// [`Arrival::expected_count`] says: the schedule and the estimate agree).
    constant: Option<(f64, u64)>,
    /// Evenly spaced arrivals made so far.
    made: u64,
    horizon: f64,
}

impl<R: Rng> ArrivalSchedule<R> {
    /// The schedule of `arrival` up to (not including) `horizon`, drawn from `rng`.
    pub fn new(arrival: &Arrival, horizon: Duration, rng: R) -> Self {
        let constant = match arrival {
            Arrival::Constant(r) => {
                // A whole count, well within u64 for any rate and horizon a scenario
                // takes.
                let count = arrival.expected_count(horizon) as u64;
                Some((1.0 / r.per_second(), count))
            }
            _ => None,
        };
        ArrivalSchedule {
            segments: segments(arrival, horizon),
            current: 0,
            t: 0.0,
            rng,
            constant,
            made: 0,
            horizon: horizon.as_secs_f64(),
        }
    }
}

impl<R: Rng> Iterator for ArrivalSchedule<R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if let Some((gap, count)) = self.constant {
            if self.made == count {
                return None;
            }
            self.made += 1;
            // Each one from its index, not by adding gaps (whose rounding errors add
            // up); kept before the horizon where rounding would put the last on it.
            self.t = (self.made as f64 * gap).min(self.horizon.next_down());
            return Some(Duration::from_secs_f64(self.t));
        }
        loop {
            let seg = *self.segments.get(self.current)?;
            if self.t < seg.start {
                self.t = seg.start;
            }
            let peak = seg.start_rate.max(seg.end_rate);
            if peak <= 0.0 {
                self.current += 1;
                continue;
            }
            let gap: f64 = self.rng.sample::<f64, _>(Exp1) / peak;
            let candidate = self.t + gap;
            if candidate >= seg.end {
                // Memoryless: restarting the clock at the boundary is exact.
                self.t = seg.end;
                self.current += 1;
                continue;
            }
            self.t = candidate;
            let accept = self.rng.random::<f64>() * peak < seg.rate_at(candidate);
            if accept {
                return Some(Duration::from_secs_f64(candidate));
            }
        }
    }
}

impl Phase {
    fn from_parts(
        name: Option<String>,
        duration: Option<String>,
        rate: Option<Rate>,
        from: Option<Rate>,
        to: Option<Rate>,
    ) -> Result<Phase, String> {
        let duration = duration.ok_or("a phase needs a `duration`")?;
        let duration = parse_duration(&duration).map_err(|e| format!("duration: {e}"))?;
        if duration.is_zero() {
            return Err("a phase needs a positive duration".to_string());
        }
        let (from, to) = match (rate, from, to) {
            (Some(r), None, None) => (r, r),
            (None, Some(f), Some(t)) => (f, t),
            _ => {
                return Err(
                    "a phase needs either `rate` (flat) or both `from` and `to` (a linear ramp)"
                        .to_string(),
                );
            }
        };
        Ok(Phase {
            name,
            duration,
            from,
            to,
        })
    }
}

const PHASE_FIELDS: &[&str] = &["name", "duration", "rate", "from", "to"];

/// The value of a key a phase does not have: reading it is the error.
struct UnknownField<'a>(&'a str);

impl<'de> serde::de::DeserializeSeed<'de> for UnknownField<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(serde::de::Error::unknown_field(self.0, PHASE_FIELDS))
    }
}

impl<'de> Deserialize<'de> for Phase {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A hand-written visitor, so that errors arise while the phase's own table is
        // being read and carry its position.
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Phase;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a phase table such as { duration = \"10m\", rate = \"60/min\" }")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Phase, A::Error> {
                use serde::de::Error;
                let (mut name, mut duration, mut rate, mut from, mut to) =
                    (None, None, None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => name = Some(map.next_value::<String>()?),
                        "duration" => duration = Some(map.next_value::<String>()?),
                        "rate" => rate = Some(map.next_value::<Rate>()?),
                        "from" => from = Some(map.next_value::<Rate>()?),
                        "to" => to = Some(map.next_value::<Rate>()?),
                        // Refused as its value is read, so that the error carries
                        // the key's own position, not the phase table's.
                        other => map.next_value_seed(UnknownField(other))?,
                    }
                }
                Phase::from_parts(name, duration, rate, from, to).map_err(A::Error::custom)
            }
        }
        d.deserialize_struct("Phase", PHASE_FIELDS, V)
    }
}

impl Serialize for Phase {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(name) = &self.name {
            m.serialize_entry("name", name)?;
        }
        m.serialize_entry("duration", &format_duration(self.duration))?;
        if self.from == self.to {
            m.serialize_entry("rate", &self.from)?;
        } else {
            m.serialize_entry("from", &self.from)?;
            m.serialize_entry("to", &self.to)?;
        }
        m.end()
    }
}

impl Serialize for Arrival {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Arrival::Phases(p) => p.serialize(s),
            other => s.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for Arrival {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Arrival;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an arrival process such as \"poisson(rate=60/min)\" or a list of phases",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Arrival, E> {
                Arrival::parse(v).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Arrival, A::Error> {
                let phases =
                    Vec::<Phase>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                if phases.is_empty() {
                    return Err(serde::de::Error::custom(
                        "the list of arrival phases is empty",
                    ));
                }
                let arrival = Arrival::Phases(phases);
                if arrival.peak_per_second() <= 0.0 {
                    return Err(serde::de::Error::custom(
                        "every phase has a rate of 0: nobody would ever arrive",
                    ));
                }
                Ok(arrival)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn schedule(a: &Arrival, horizon_s: u64, seed: u64) -> Vec<f64> {
        ArrivalSchedule::new(
            a,
            Duration::from_secs(horizon_s),
            ChaCha8Rng::seed_from_u64(seed),
        )
        .map(|d| d.as_secs_f64())
        .collect()
    }

    #[test]
    fn poisson_count_and_gaps() {
        let a = Arrival::parse("poisson(rate=60/min)").unwrap();
        let times = schedule(&a, 36_000, 1);
        let n = times.len() as f64;
        // 36,000 expected, sd 190: 5 sd either side.
        assert!((n - 36_000.0).abs() < 950.0, "{n}");
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times.iter().all(|&t| (0.0..36_000.0).contains(&t)));
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        // Exponential gaps: the share under the mean is 1 - 1/e.
        let under = gaps.iter().filter(|&&g| g < 1.0).count() as f64 / gaps.len() as f64;
        assert!((under - 0.632).abs() < 0.01, "{under}");
        assert!((a.expected_count(Duration::from_secs(36_000)) - 36_000.0).abs() < 1e-6);
    }

    #[test]
    fn constant_is_evenly_spaced() {
        let a = Arrival::parse("constant(rate=2/s)").unwrap();
        let times = schedule(&a, 10, 1);
        assert_eq!(times.len(), 19);
        assert!((times[0] - 0.5).abs() < 1e-9 && (times[18] - 9.5).abs() < 1e-9);
    }

    #[test]
    fn phases_follow_the_ramp() {
        let a = Arrival::Phases(vec![
            Phase {
                name: Some("ramp up".into()),
                duration: Duration::from_secs(3600),
                from: "0/s".parse().unwrap(),
                to: "2/s".parse().unwrap(),
            },
            Phase {
                name: None,
                duration: Duration::from_secs(3600),
                from: "2/s".parse().unwrap(),
                to: "2/s".parse().unwrap(),
            },
            Phase {
                name: None,
                duration: Duration::from_secs(3600),
                from: "0/s".parse().unwrap(),
                to: "0/s".parse().unwrap(),
            },
        ]);
        let horizon = Duration::from_secs(4 * 3600);
        assert!((a.expected_count(horizon) - 10_800.0).abs() < 1e-6);
        let times = schedule(&a, 4 * 3600, 2);
        let first_half = times.iter().filter(|&&t| t < 1800.0).count() as f64;
        let ramp = times.iter().filter(|&&t| t < 3600.0).count() as f64;
        let peak = times
            .iter()
            .filter(|&&t| (3600.0..7200.0).contains(&t))
            .count() as f64;
        // Linear ramp 0→2/s: 3600 in the hour, a quarter of it in the first half.
        assert!((ramp - 3600.0).abs() < 300.0, "{ramp}");
        assert!((first_half - 900.0).abs() < 150.0, "{first_half}");
        assert!((peak - 7200.0).abs() < 425.0, "{peak}");
        assert!(
            times.iter().all(|&t| t < 7200.0),
            "nothing after the profile"
        );
    }

    #[test]
    fn horizon_cuts_phases() {
        let a = Arrival::Phases(vec![Phase {
            name: None,
            duration: Duration::from_secs(100),
            from: "0/s".parse().unwrap(),
            to: "10/s".parse().unwrap(),
        }]);
        assert!((a.expected_count(Duration::from_secs(50)) - 125.0).abs() < 1e-9);
        assert!(schedule(&a, 50, 3).iter().all(|&t| t < 50.0));
    }

    #[test]
    fn same_seed_same_schedule() {
        let a = Arrival::parse("poisson(rate=10/s)").unwrap();
        assert_eq!(schedule(&a, 60, 4), schedule(&a, 60, 4));
        assert_ne!(schedule(&a, 60, 4), schedule(&a, 60, 5));
    }

    #[test]
    fn refuses_bad_arrivals() {
        for (text, want) in [
            ("poisson(rate=0/s)", "positive"),
            ("poisson(60/min)", ""),
            ("poisson(rate=60)", "missing `/unit`"),
            ("burst(rate=1/s)", "unknown arrival process"),
            ("60/min", "invalid arrival"),
        ] {
            match Arrival::parse(text) {
                Ok(_) if want.is_empty() => {}
                Ok(a) => panic!("{text} parsed as {a}"),
                Err(e) => assert!(e.contains(want), "{text}: {e}"),
            }
        }
    }
}
