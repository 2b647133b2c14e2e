//! Small-sample statistics over replications: mean, Student-t 95% confidence
//! interval, extremes, and the paired difference of two variants (common random
//! numbers make replication `i` of every variant a pair).

use serde::Serialize;

/// Two-sided 95% Student-t quantiles for 1..=30 degrees of freedom.
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The two-sided 95% t quantile for `df` degrees of freedom (normal beyond 120).
pub fn t95(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T95[df - 1],
        31..=60 => 2.042 - (df - 30) as f64 * (2.042 - 2.000) / 30.0,
        61..=120 => 2.000 - (df - 60) as f64 * (2.000 - 1.980) / 60.0,
        _ => 1.960,
    }
}

/// Mean, 95% interval and extremes of some replications' values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Replications with a value.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Half-width of the 95% confidence interval (NaN with one replication).
    pub half_width: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Estimate {
    /// The estimate of `values` (`None` entries are skipped); `None` if none remain.
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Option<Estimate> {
        let v: Vec<f64> = values
            .into_iter()
            .flatten()
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let half_width = if n > 1 {
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            t95(n - 1) * (var / n as f64).sqrt()
        } else {
            f64::NAN
        };
        Some(Estimate {
            n,
            mean,
            half_width,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// The interval's lower end.
    pub fn low(&self) -> f64 {
        self.mean - self.half_width
    }

    /// The interval's upper end.
    pub fn high(&self) -> f64 {
        self.mean + self.half_width
    }

    /// Whether the interval excludes zero (so the mean differs from 0 at 5%).
    pub fn excludes_zero(&self) -> bool {
        self.half_width.is_finite() && (self.low() > 0.0 || self.high() < 0.0)
    }
}

/// The paired difference `a[i] - b[i]` over replications where both have a value.
pub fn paired(a: &[Option<f64>], b: &[Option<f64>]) -> Option<Estimate> {
    Estimate::of(a.iter().zip(b).map(|(x, y)| Some((*x)? - (*y)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_of_known_values() {
        let e = Estimate::of([Some(1.0), Some(2.0), Some(3.0), None]).expect("values");
        assert_eq!(e.n, 3);
        assert!((e.mean - 2.0).abs() < 1e-12);
        // sd = 1, se = 1/sqrt(3), t(2) = 4.303.
        assert!((e.half_width - 4.303 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!((e.min, e.max), (1.0, 3.0));
        assert!(Estimate::of([None]).is_none());
    }

    #[test]
    fn paired_differences_cancel_shared_noise() {
        let noise = [0.3, -0.2, 0.5, -0.4, 0.1];
        let a: Vec<_> = noise.iter().map(|n| Some(0.8 + n + 0.01)).collect();
        let b: Vec<_> = noise.iter().map(|n| Some(0.8 + n)).collect();
        let d = paired(&a, &b).expect("pairs");
        assert!((d.mean - 0.01).abs() < 1e-12);
        assert!(d.half_width < 1e-9);
        let independent = Estimate::of(a.iter().copied()).expect("values");
        assert!(!(independent.low() > 0.81 || independent.high() < 0.80));
    }
}
