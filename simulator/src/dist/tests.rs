//! Statistical checks of the samplers with fixed seeds: means, bounds, spreads.

use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const N: usize = 200_000;

fn stats(d: &Dist, seed: u64) -> (f64, f64, f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let xs: Vec<f64> = (0..N).map(|_| d.sample(&mut rng)).collect();
    let mean = xs.iter().sum::<f64>() / N as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (N as f64 - 1.0);
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, var.sqrt(), min, max)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

fn dur(s: &str) -> Dist {
    Dist::parse(s, Quantity::Duration).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn const_is_constant() {
    let (mean, sd, min, max) = stats(&dur("const(8s)"), 1);
    assert_eq!((mean, sd, min, max), (8.0, 0.0, 8.0, 8.0));
    assert_eq!(dur("8s"), dur("const(8s)"));
}

#[test]
fn exponential_mean_and_spread() {
    let (mean, sd, min, _) = stats(&dur("exp(mean=20s)"), 2);
    assert!(close(mean, 20.0, 0.01), "mean {mean}");
    assert!(close(sd, 20.0, 0.02), "sd {sd}");
    assert!(min >= 0.0);
}

#[test]
fn uniform_bounds_and_mean() {
    let (mean, _, min, max) = stats(&dur("uniform(2s, 6s)"), 3);
    assert!(close(mean, 4.0, 0.01), "mean {mean}");
    assert!(min >= 2.0 && max <= 6.0, "{min} {max}");
    assert!(min < 2.01 && max > 5.99);
}

#[test]
fn uniform_counts_hit_every_integer_equally() {
    let d = CountDist::parse("uniform(2, 6)").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut hist = [0usize; 8];
    for _ in 0..N {
        hist[d.sample(&mut rng) as usize] += 1;
    }
    assert_eq!(hist[0] + hist[1] + hist[7], 0);
    for (n, &count) in hist.iter().enumerate().take(7).skip(2) {
        let share = count as f64 / N as f64;
        assert!(close(share, 0.2, 0.03), "{n}: {share}");
    }
}

#[test]
fn normal_mean_sd_and_truncation() {
    let (mean, sd, min, _) = stats(&dur("normal(mean=60s, sd=10s)"), 5);
    assert!(close(mean, 60.0, 0.005), "mean {mean}");
    assert!(close(sd, 10.0, 0.02), "sd {sd}");
    assert!(min >= 0.0);
    // Heavy truncation: never negative, and the mean moves up as it must.
    let (mean, _, min, _) = stats(&dur("normal(mean=1s, sd=5s)"), 6);
    assert!(min >= 0.0);
    assert!(mean > 1.0, "truncated mean {mean}");
}

#[test]
fn lognormal_mean_and_sd_are_of_the_variable() {
    let (mean, sd, min, _) = stats(&dur("lognormal(mean=8s, sd=4s)"), 7);
    assert!(close(mean, 8.0, 0.01), "mean {mean}");
    assert!(close(sd, 4.0, 0.03), "sd {sd}");
    assert!(min > 0.0);
    let (mu, sigma) = lognormal_params(8.0, 4.0);
    assert!(close((mu + sigma * sigma / 2.0).exp(), 8.0, 1e-12));
}

#[test]
fn lognormal_with_zero_sd_is_constant() {
    let (mean, sd, ..) = stats(&dur("lognormal(mean=8s, sd=0s)"), 8);
    assert!(close(mean, 8.0, 1e-9) && sd < 1e-9);
}

#[test]
fn same_seed_same_samples() {
    let d = dur("lognormal(mean=8s, sd=4s)");
    let draw = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..100).map(|_| d.sample(&mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(draw(9), draw(9));
    assert_ne!(draw(9), draw(10));
}

#[test]
fn refuses_bad_parameters() {
    let cases = [
        ("exp(mean=0s)", "must be positive"),
        ("exp(mean=-3s)", "negative"),
        ("uniform(6s, 2s)", "A <= B"),
        ("normal(mean=0s, sd=1s)", "must be positive"),
        ("lognormal(mean=8s)", "needs `sd`"),
        ("lognormal(mean=8, sd=4)", "needs a unit"),
        ("weibull(1s)", "unknown distribution"),
        ("exp(avg=3s)", "no parameter `avg`"),
    ];
    for (text, want) in cases {
        let err = Dist::parse(text, Quantity::Duration).expect_err(text);
        assert!(err.contains(want), "{text}: {err}");
    }
    let err = CountDist::parse("uniform(2s, 6s)").unwrap_err();
    assert!(err.contains("plain number"), "{err}");
    let err = CountDist::parse("uniform(2.5, 6)").unwrap_err();
    assert!(err.contains("whole"), "{err}");
    let err = CountDist::parse("2.5").unwrap_err();
    assert!(err.contains("whole"), "{err}");
    // Counts are capped (a conversation of a billion messages is a typo, or a way to
    // exhaust memory), and so are the draws from an unbounded tail.
    for text in ["1000000000", "uniform(2, 20000)", "exp(mean=1e12)"] {
        let err = CountDist::parse(text).expect_err(text);
        assert!(err.contains("at most 10000"), "{text}: {err}");
    }
    let heavy = CountDist::parse("normal(mean=10000, sd=10000)").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert!((0..1000).all(|_| heavy.sample(&mut rng) <= MAX_COUNT));
}

#[test]
fn display_parses_back() {
    for text in [
        "const(8s)",
        "exp(mean=20s)",
        "uniform(250ms, 3m)",
        "normal(mean=1m, sd=10s)",
        "lognormal(mean=8s, sd=4s)",
    ] {
        let d = dur(text);
        assert_eq!(d.to_string(), text);
        assert_eq!(dur(&d.to_string()), d);
    }
    assert_eq!(
        CountDist::parse("uniform(2, 6)").unwrap().to_string(),
        "uniform(2, 6)"
    );
}

#[test]
fn duration_dist_samples_durations() {
    let d = DurationDist::parse("uniform(1s, 2s)").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..1000 {
        let x = d.sample(&mut rng);
        assert!(x >= Duration::from_secs(1) && x <= Duration::from_secs(2));
    }
    assert_eq!(d.mean(), Duration::from_millis(1500));
}

/// Every spelling docs/scenarios.md lists means the same as its plain form.
#[test]
fn documented_spellings_are_accepted() {
    for (alias, plain) in [
        ("constant(8s)", "const(8s)"),
        ("fixed(8s)", "const(8s)"),
        ("exponential(mean=20s)", "exp(mean=20s)"),
        ("gauss(mean=1m, sd=10s)", "normal(mean=1m, sd=10s)"),
        ("log_normal(mean=8s, sd=4s)", "lognormal(mean=8s, sd=4s)"),
        ("1_500ms", "1.5s"),
        ("3min", "3m"),
        ("1m30s", "90s"),
        ("1d", "24h"),
    ] {
        assert_eq!(dur(alias), dur(plain), "{alias}");
    }
    assert_eq!(
        super::duration::parse_seconds("250us").unwrap(),
        0.000_25,
        "microseconds"
    );
    let rate = |s: &str| s.parse::<Rate>().unwrap_or_else(|e| panic!("{s}: {e}"));
    for (alias, plain) in [
        ("2/sec", "2/s"),
        ("2/second", "2/s"),
        ("60/m", "60/min"),
        ("60/minute", "60/min"),
        ("900/hour", "900/h"),
    ] {
        assert_eq!(rate(alias), rate(plain), "{alias}");
    }
    assert_eq!(
        Arrival::parse("const(rate=1/s)").unwrap(),
        Arrival::parse("constant(rate=1/s)").unwrap()
    );
}

/// Evenly spaced arrivals come at k / rate for k = 1, 2, … before the horizon: as many
/// as `expected_count` says (what `validate` prints), with none at the horizon however
/// the gaps round.
#[test]
fn evenly_spaced_arrivals_are_as_many_as_expected() {
    for (rate, horizon, want) in [
        ("0.9/min", 600, 8),
        ("7/min", 600, 69),
        ("1/s", 10, 9),
        ("3/h", 3600, 2),
        ("1/s", 1, 0),
        ("0.1/s", 3601, 360),
    ] {
        let arrival = Arrival::parse(&format!("constant(rate={rate})")).unwrap();
        let horizon = std::time::Duration::from_secs(horizon);
        let rng = ChaCha8Rng::seed_from_u64(1);
        let times: Vec<_> = ArrivalSchedule::new(&arrival, horizon, rng).collect();
        assert_eq!(times.len(), want, "{rate} over {horizon:?}");
        assert_eq!(arrival.expected_count(horizon), want as f64, "{rate}");
        assert!(times.iter().all(|t| *t < horizon), "{rate}: {times:?}");
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{rate}");
    }
    // An arrival a millisecond before the horizon is not rounded away.
    let hourly = Arrival::parse("constant(rate=1/h)").unwrap();
    let horizon = std::time::Duration::from_millis(300 * 3_600_000 + 1);
    assert_eq!(hourly.expected_count(horizon), 300.0);
    let rng = ChaCha8Rng::seed_from_u64(1);
    assert_eq!(ArrivalSchedule::new(&hourly, horizon, rng).count(), 300);
}
