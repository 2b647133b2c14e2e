//! Small-sample statistics over replications: mean, Student-t 95% confidence
//! interval, extremes, and the paired difference of two variants (common random
//! numbers make replication `i` of every variant a pair).

use distrs::StudentsT;
use serde::Serialize;

/// The two-sided 95% Student-t quantile for `df` degrees of freedom (NaN for none).
pub fn t95(df: usize) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    StudentsT::ppf(0.975, df as f64)
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

    /// The two-sided p-value of a t test that the mean is 0 (`None` with fewer than
    /// two values). Values that do not vary give 0 when they are not 0, 1 when they
    /// are.
    pub fn p_value(&self) -> Option<f64> {
        if self.n < 2 || !self.half_width.is_finite() {
            return None;
        }
        if self.half_width == 0.0 {
            return Some(if self.mean == 0.0 { 1.0 } else { 0.0 });
        }
        let df = (self.n - 1) as f64;
        let t = self.mean / (self.half_width / t95(self.n - 1));
        Some((2.0 * StudentsT::cdf(-t.abs(), df)).min(1.0))
    }
}

/// Holm's step-down adjustment of p-values tested together: a verdict at 5% on the
/// adjusted values holds for the whole family (the chance of any false "significant"
/// is at most 5%), where unadjusted ones give each test 5% of its own.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
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
        assert!((e.half_width - 4.303 / 3f64.sqrt()).abs() < 1e-3);
        assert_eq!((e.min, e.max), (1.0, 3.0));
        assert!(Estimate::of([None]).is_none());
    }

    /// The quantiles are Student's: the tables' values to their three decimals.
    #[test]
    fn t_quantiles() {
        for (df, table) in [
            (1, 12.706),
            (2, 4.303),
            (4, 2.776),
            (10, 2.228),
            (30, 2.042),
        ] {
            assert!((t95(df) - table).abs() < 5e-4, "df {df}: {}", t95(df));
        }
        assert!((t95(1_000_000) - 1.960).abs() < 1e-3);
        assert!(t95(0).is_nan());
    }

    /// The p-value agrees with the interval: 0.05 where the interval's end touches 0.
    #[test]
    fn p_values_match_the_intervals() {
        let e = Estimate::of([Some(1.0), Some(2.0), Some(3.0)]).expect("values");
        let touching = Estimate {
            mean: e.half_width,
            ..e
        };
        assert!((touching.p_value().expect("tested") - 0.05).abs() < 1e-6);
        assert!(e.p_value().expect("tested") > 0.05, "2 ± 2.48 holds 0");
        assert!(!e.excludes_zero());
        let clear = Estimate::of([Some(1.0), Some(1.1), Some(0.9)]).expect("values");
        assert!(clear.p_value().expect("tested") < 0.05);
        assert!(clear.excludes_zero());
        let across_zero = Estimate::of([Some(-1.0), Some(2.0), Some(-0.5)]).expect("values");
        assert!(across_zero.p_value().expect("tested") > 0.05);
        assert!(!across_zero.excludes_zero());
        assert_eq!(Estimate::of([Some(1.0)]).and_then(|e| e.p_value()), None);
        let constant = Estimate::of([Some(0.2), Some(0.2)]).expect("values");
        assert_eq!(constant.p_value(), Some(0.0));
        let zero = Estimate::of([Some(0.0), Some(0.0)]).expect("values");
        assert_eq!(zero.p_value(), Some(1.0));
    }

    /// Holm: the smallest p-value times the family's size, the next times one fewer,
    /// never below an earlier one, never above 1.
    #[test]
    fn holm_adjusts_for_the_family() {
        let adjusted = holm(&[0.04, 0.01, 0.03, 0.5]);
        let expected = [0.09, 0.04, 0.09, 0.5];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
        assert_eq!(holm(&[0.6, 0.7]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
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
