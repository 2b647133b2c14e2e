//! Erlang A (M/M/c+M, Palm's model): exponential patience with mean 1/θ.
//!
//! The number of chats in the system is a birth-death chain with birth rate λ and
//! death rate `min(n, c)·μ + max(n - c, 0)·θ`. Its stationary law is computed in log
//! space (products of rate ratios as sums of logarithms, normalised with
//! log-sum-exp) and truncated once the tail is below e⁻⁴⁰ of the mode, so hundreds
//! or thousands of servers are no harder than ten.
//!
//! By PASTA an arrival sees that law. An arrival finding `n ≥ c` chats is at queue
//! position `k = n - c + 1`; from position `j` it moves up at rate `cμ + (j-1)θ`
//! (a service completion, or an abandonment ahead of it) and gives up at rate θ. So:
//!
//! - P(answered | k) = Π_{j=1..k} (cμ + (j-1)θ) / (cμ + jθ),
//! - E[wait | answered, k] = Σ_{j=1..k} 1 / (cμ + jθ),
//! - P(answered within T | k): the absorbing chain of the tagged chat's position,
//!   started from the law of `k` and solved by uniformisation (every term positive,
//!   Poisson weights in log space); or, when a Chernoff bound shows the wait all but
//!   surely ends within T, P(answered | k) itself (see `answered_within`).
//!
//! Abandon rate = θ·E[queue] / λ and mean wait of all arrivals = E[queue] / λ
//! (Little's law on the queue).

use super::{ErlangError, Figures, Model};

/// The most chain states the solver accepts.
const MAX_STATES: usize = 20_000_000;
/// Truncate the tail where the probability is below e^-TAIL of the mode.
const TAIL: f64 = 40.0;

/// The stationary law of the number in system: `p[n]`, summing to 1.
fn stationary(model: &Model, theta: f64) -> Result<Vec<f64>, ErlangError> {
    let c = model.servers;
    let mu = 1.0 / model.handle_time;
    let ln_lambda = model.arrival_rate.ln();
    let mut lp = vec![0.0f64];
    let mut max = 0.0f64;
    let mut n: u64 = 0;
    loop {
        n += 1;
        let death = n.min(c) as f64 * mu + n.saturating_sub(c) as f64 * theta;
        let next = lp[lp.len() - 1] + ln_lambda - death.ln();
        lp.push(next);
        max = max.max(next);
        if n > c && death > model.arrival_rate && next < max - TAIL {
            break;
        }
        if lp.len() > MAX_STATES {
            return Err(ErlangError::TooLarge(lp.len()));
        }
    }
    let sum: f64 = lp.iter().map(|v| (v - max).exp()).sum();
    let ln_norm = max + sum.ln();
    Ok(lp.into_iter().map(|v| (v - ln_norm).exp()).collect())
}

/// `ln P(N = m)` for N ~ Poisson(`mean`), by the running sum `ln w(m) = ln w(m-1) +
/// ln mean - ln m`, so large means do not underflow `e^-mean`.
struct PoissonWeights {
    ln_mean: f64,
    ln_w: f64,
    m: u64,
}

impl PoissonWeights {
    fn new(mean: f64) -> Self {
        PoissonWeights {
            ln_mean: mean.ln(),
            ln_w: -mean,
            m: 0,
        }
    }

    /// The weight of the current `m`, then moves to `m + 1`.
    fn next(&mut self) -> f64 {
        let w = self.ln_w.exp();
        self.m += 1;
        self.ln_w += self.ln_mean - (self.m as f64).ln();
        w
    }
}

/// P(answered within `target`) for queue positions with probabilities `start[k-1]`
/// (k = 1, 2, …).
///
/// At position j the tagged chat waits Exp(cμ + jθ), whatever ends the wait (a chat
/// ahead leaving, or its own patience), so the wait for an agent from position k is a
/// sum of the k stages j = 1..=k. When even the `start.len()` stages all but surely
/// (to e^-40) fit within the target, the answer is just the chance of being answered
/// at all. Otherwise it takes [`by_uniformisation`], whose steps grow with
/// (cμ + kθ) × target: without this, a patience of a microsecond took minutes.
fn answered_within(start: &[f64], c_mu: f64, theta: f64, target: f64) -> f64 {
    if start.is_empty() || target <= 0.0 {
        return 0.0;
    }
    if log_chance_stages_outlast(start.len(), c_mu, theta, target) < -40.0 {
        answered_at_all(start, c_mu, theta)
    } else {
        by_uniformisation(start, c_mu, theta, target)
    }
}

/// A Chernoff bound on the log of P(the sum of stages Exp(cμ + jθ), j = 1..=k, lasts
/// longer than `target`): ln E[e^{sS}] - s·target with s half the slowest rate,
/// Σ_j ln(λ_j / (λ_j - s)) - s·target. It grows with k, so bounding the last
/// position bounds them all.
fn log_chance_stages_outlast(k: usize, c_mu: f64, theta: f64, target: f64) -> f64 {
    let s = (c_mu + theta) / 2.0;
    let stages: f64 = (1..=k)
        .map(|j| {
            let rate = c_mu + j as f64 * theta;
            (rate / (rate - s)).ln()
        })
        .sum();
    stages - s * target
}

/// P(answered at all) for queue positions with probabilities `start[k-1]`: from
/// position k, each step up wins against the chat's own patience with probability
/// (cμ + (k-1)θ) / (cμ + kθ).
fn answered_at_all(start: &[f64], c_mu: f64, theta: f64) -> f64 {
    let mut p_answer = 1.0;
    let mut answered = 0.0;
    for (i, &p) in start.iter().enumerate() {
        let k = i as f64 + 1.0;
        p_answer *= (c_mu + (k - 1.0) * theta) / (c_mu + k * theta);
        answered += p * p_answer;
    }
    answered
}

/// [`answered_within`] by uniformisation of the tagged chat's absorbing chain.
fn by_uniformisation(start: &[f64], c_mu: f64, theta: f64, target: f64) -> f64 {
    let k_max = start.len() as f64;
    // The fastest total rate out of any position: cμ + (k-1)θ + θ at k = k_max.
    let big = c_mu + k_max * theta;
    let mean = big * target;
    let steps = (mean + 10.0 * mean.sqrt() + 20.0).ceil() as u64;
    let mut v = start.to_vec();
    let mut answered = 0.0;
    let mut weights = PoissonWeights::new(mean);
    let mut result = 0.0;
    let mut remaining_weight = 1.0;
    for _ in 0..=steps {
        let w = weights.next();
        // Mass answered after this many uniformised steps.
        result += w * answered;
        remaining_weight -= w;
        // One step: from position k (index k-1) move up with prob (cμ+(k-1)θ)/Λ,
        // leave with θ/Λ, stay otherwise.
        let mut carry = 0.0;
        for (i, p) in v.iter_mut().enumerate().rev() {
            let up = (c_mu + i as f64 * theta) / big;
            let moved = *p * up;
            *p = *p * (1.0 - up - theta / big) + carry;
            carry = moved;
        }
        answered += carry;
    }
    // The Poisson tail beyond `steps` is negligible; credit it the final value.
    result + remaining_weight.max(0.0) * answered
}

/// The M/M/c+M figures of `model` (which must have a patience) for a target of
/// `target` seconds.
pub fn figures(model: &Model, target: f64) -> Result<Figures, ErlangError> {
    let patience = model
        .patience
        .ok_or_else(|| ErlangError::Invalid("Erlang A needs a mean patience".into()))?;
    let theta = 1.0 / patience;
    let c = usize::try_from(model.servers).map_err(|_| ErlangError::TooLarge(usize::MAX))?;
    let c_mu = model.servers as f64 / model.handle_time;
    let p = stationary(model, theta)?;
    let immediate: f64 = p.iter().take(c).sum();
    let queued: &[f64] = p.get(c..).unwrap_or(&[]);
    let mut answered_later = 0.0;
    let mut wait_answered_sum = 0.0;
    let mut mean_queue = 0.0;
    let mut p_answer = 1.0;
    let mut mean_wait_k = 0.0;
    for (i, &pk) in queued.iter().enumerate() {
        // Position k = i + 1: in the queue with i ahead.
        let k = i as f64 + 1.0;
        p_answer *= (c_mu + (k - 1.0) * theta) / (c_mu + k * theta);
        mean_wait_k += 1.0 / (c_mu + k * theta);
        answered_later += pk * p_answer;
        wait_answered_sum += pk * p_answer * mean_wait_k;
        // n = c + i chats in system: i of them in the queue.
        mean_queue += pk * i as f64;
    }
    let answered = immediate + answered_later;
    let abandon_rate = theta * mean_queue / model.arrival_rate;
    let service_level = immediate + answered_within(queued, c_mu, theta, target);
    Ok(Figures {
        offered_load: model.offered_load(),
        p_wait: 1.0 - immediate,
        abandon_rate,
        mean_wait_answered: if answered > 0.0 {
            wait_answered_sum / answered
        } else {
            0.0
        },
        mean_wait_all: mean_queue / model.arrival_rate,
        service_level: service_level.clamp(0.0, 1.0),
        occupancy: model.offered_load() * (1.0 - abandon_rate) / model.servers as f64,
    })
}

/// Erlang A figures from plain numbers: `rate` arrivals/s, `handle` and `patience`
/// mean seconds, `servers`, `target` seconds.
pub fn erlang_a(
    rate: f64,
    handle: f64,
    servers: u64,
    patience: f64,
    target: f64,
) -> Result<Figures, ErlangError> {
    figures(&Model::new(rate, handle, servers, Some(patience))?, target)
}

#[cfg(test)]
mod tests {
    use super::{answered_at_all, answered_within, by_uniformisation};

    /// Where the stages all but surely fit within the target, the shortcut gives what
    /// the uniformisation gives.
    #[test]
    fn the_shortcut_agrees_with_the_uniformisation_where_it_is_taken() {
        let start = [0.3, 0.2, 0.1, 0.05];
        // s = 5: -50, plus ln(λ / (λ - 5)) for the stages at 10, 12, 14 and 16 a second.
        let (c_mu, theta, target) = (8.0, 2.0, 10.0);
        let product: f64 = [10.0, 12.0, 14.0, 16.0]
            .iter()
            .map(|r| r / (r - 5.0))
            .product();
        let bound = super::log_chance_stages_outlast(start.len(), c_mu, theta, target);
        assert!((bound - (product.ln() - 50.0)).abs() < 1e-12, "{bound}");
        let exact = by_uniformisation(&start, c_mu, theta, target);
        let at_all = answered_at_all(&start, c_mu, theta);
        assert!((exact - at_all).abs() < 1e-12, "{exact} {at_all}");
        assert_eq!(answered_within(&start, c_mu, theta, target), at_all);
        // A shorter target is left to the uniformisation, and answers less.
        let short = answered_within(&start, c_mu, theta, 0.5);
        assert_eq!(short, by_uniformisation(&start, c_mu, theta, 0.5));
        assert!(short < at_all - 0.01, "{short} {at_all}");
    }
}
