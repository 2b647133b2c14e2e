//! End-of-run rates: service level, abandon rate, occupancy and Jain's fairness index.
//! Each is `None` when undefined (nothing offered), never a misleading 0 or 1.

use super::recorder::AgentWork;
use std::collections::BTreeMap;

/// `num / den`, or `None` when `den` is zero.
pub fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

/// Jain's fairness index (Σx)² / (n·Σx²): 1 when all shares are equal, 1/n when one
/// participant has everything. `None` for no participants or all-zero shares.
pub fn jain_index(xs: &[f64]) -> Option<f64> {
    let n = xs.len() as f64;
    let sum: f64 = xs.iter().sum();
    let sum_sq: f64 = xs.iter().map(|x| x * x).sum();
    (n > 0.0 && sum_sq > 0.0).then(|| (sum * sum) / (n * sum_sq))
}

/// Busy slot time ÷ offered slot time over all agents.
pub fn occupancy(agents: &BTreeMap<String, AgentWork>) -> Option<f64> {
    let busy: f64 = agents.values().map(|w| w.busy_slot_seconds).sum();
    let offered: f64 = agents.values().map(|w| w.offered_slot_seconds).sum();
    ratio(busy, offered)
}

/// Jain's index of per-agent occupancy, over agents that offered any capacity.
/// Occupancy rather than raw chat counts keeps agents with different "Available for
/// N" comparable.
pub fn fairness(agents: &BTreeMap<String, AgentWork>) -> Option<f64> {
    let xs: Vec<f64> = agents.values().filter_map(AgentWork::occupancy).collect();
    jain_index(&xs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_extremes() {
        assert_eq!(jain_index(&[1.0, 1.0, 1.0, 1.0]), Some(1.0));
        assert_eq!(jain_index(&[1.0, 0.0, 0.0, 0.0]), Some(0.25));
        assert_eq!(jain_index(&[]), None);
        assert_eq!(jain_index(&[0.0, 0.0]), None);
        let j = jain_index(&[1.0, 2.0, 3.0]).unwrap();
        assert!((j - 36.0 / 42.0).abs() < 1e-12);
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(1.0, 4.0), Some(0.25));
        assert_eq!(ratio(1.0, 0.0), None);
    }

    #[test]
    fn occupancy_and_fairness_from_agents() {
        let mut agents = BTreeMap::new();
        let w = |busy, offered| AgentWork {
            chats: 1,
            busy_slot_seconds: busy,
            offered_slot_seconds: offered,
        };
        agents.insert("a".to_string(), w(30.0, 60.0));
        agents.insert("b".to_string(), w(90.0, 180.0));
        agents.insert("idle-never-signed-in".to_string(), w(0.0, 0.0));
        assert_eq!(occupancy(&agents), Some(0.5));
        assert_eq!(fairness(&agents), Some(1.0));
        agents.insert("c".to_string(), w(0.0, 60.0));
        let f = fairness(&agents).unwrap();
        assert!((f - 2.0 / 3.0).abs() < 1e-12, "{f}");
    }
}
