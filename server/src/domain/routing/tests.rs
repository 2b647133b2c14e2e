//! Each policy's order and tie-breaks, on pools filled by hand.

use super::*;
use rand::SeedableRng;

fn load(agent: &str, open: u8, free: u8, idle_since: u64, seq: u64) -> Load {
    Load {
        agent: agent.into(),
        open,
        free,
        idle_since: Time(idle_since),
        sign_in_seq: seq,
    }
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

fn pick(pool: &mut dyn Policy) -> Option<String> {
    pool.pick(None, &mut rng()).map(|a| a.to_string())
}

fn pool_with(kind: PolicyKind, loads: &[Load]) -> Box<dyn Policy> {
    let mut pool = new_pool(kind).expect("a routing policy");
    for l in loads {
        pool.upsert(l);
    }
    pool
}

#[test]
fn manual_has_no_pool() {
    assert!(new_pool(PolicyKind::Manual).is_none());
}

#[test]
fn least_active_prefers_fewest_open_then_longest_idle_then_sign_in() {
    let mut p = pool_with(
        PolicyKind::LeastActive,
        &[
            load("a", 2, 1, 0, 1),
            load("b", 1, 2, 50, 2),
            load("c", 1, 2, 10, 3),
        ],
    );
    assert_eq!(pick(p.as_mut()).as_deref(), Some("c"));
    p.upsert(&load("c", 1, 2, 50, 3));
    assert_eq!(
        pick(p.as_mut()).as_deref(),
        Some("b"),
        "same idle: earlier sign-in"
    );
    // Not the name: c signed in first now (sequence 0 against 2).
    p.upsert(&load("c", 1, 2, 50, 0));
    assert_eq!(
        pick(p.as_mut()).as_deref(),
        Some("c"),
        "same idle: earlier sign-in"
    );
}

#[test]
fn most_available_prefers_largest_free_capacity() {
    let mut p = pool_with(
        PolicyKind::MostAvailable,
        &[
            load("a", 0, 1, 0, 1),
            load("b", 1, 3, 5, 2),
            load("c", 0, 3, 1, 3),
        ],
    );
    assert_eq!(
        pick(p.as_mut()).as_deref(),
        Some("c"),
        "free 3, idle longer than b"
    );
    // c signed in before b (sequence 0 against 2), and its name sorts after b's.
    p.upsert(&load("c", 0, 3, 5, 0));
    assert_eq!(
        pick(p.as_mut()).as_deref(),
        Some("c"),
        "same free capacity, same idle: earlier sign-in"
    );
}

#[test]
fn longest_idle_prefers_oldest_assignment() {
    let mut p = pool_with(
        PolicyKind::LongestIdle,
        &[
            load("a", 0, 1, 30, 1),
            load("b", 3, 1, 10, 2),
            load("c", 0, 1, 10, 3),
        ],
    );
    assert_eq!(pick(p.as_mut()).as_deref(), Some("b"));
}

#[test]
fn fill_first_fills_the_busiest_agent() {
    let mut p = pool_with(
        PolicyKind::FillFirst,
        &[
            load("a", 0, 4, 0, 1),
            load("b", 2, 1, 0, 2),
            load("c", 2, 2, 0, 3),
        ],
    );
    assert_eq!(
        pick(p.as_mut()).as_deref(),
        Some("b"),
        "2 open, signed in before c"
    );
    p.remove(&"b".into());
    assert_eq!(pick(p.as_mut()).as_deref(), Some("c"));
    p.remove(&"c".into());
    assert_eq!(pick(p.as_mut()).as_deref(), Some("a"));
}

#[test]
fn round_robin_cycles_in_sign_in_order() {
    let mut p = pool_with(
        PolicyKind::RoundRobin,
        &[
            load("x", 0, 1, 0, 3),
            load("y", 0, 1, 0, 1),
            load("z", 0, 1, 0, 2),
        ],
    );
    let mut r = rng();
    let order: Vec<String> = (0..4)
        .map(|_| p.pick(None, &mut r).unwrap().to_string())
        .collect();
    assert_eq!(order, ["y", "z", "x", "y"]);
    // An agent who leaves is skipped; the cycle goes on after the last pick.
    p.remove(&"z".into());
    assert_eq!(p.pick(None, &mut r).unwrap().as_str(), "x");
}

#[test]
fn random_is_uniform_and_seeded() {
    let loads: Vec<Load> = (0..4).map(|i| load(&format!("a{i}"), 0, 1, 0, i)).collect();
    let mut p = pool_with(PolicyKind::Random, &loads);
    let mut r = rng();
    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..4000 {
        *counts
            .entry(p.pick(None, &mut r).unwrap().to_string())
            .or_default() += 1;
    }
    for (agent, n) in &counts {
        assert!((850..1150).contains(n), "{agent} picked {n} of 4000");
    }
    let again: Vec<_> = {
        let mut r = rng();
        (0..10).map(|_| p.pick(None, &mut r)).collect()
    };
    let mut r = rng();
    let first: Vec<_> = (0..10).map(|_| p.pick(None, &mut r)).collect();
    assert_eq!(again, first);
}

#[test]
fn every_policy_skips_the_excluded_agent_and_handles_empty_pools() {
    for kind in PolicyKind::ALL
        .into_iter()
        .filter(|k| *k != PolicyKind::Manual)
    {
        let mut p = pool_with(kind, &[load("only", 0, 1, 0, 1)]);
        assert_eq!(p.pick(Some(&"only".into()), &mut rng()), None, "{kind}");
        p.upsert(&load("other", 0, 1, 0, 2));
        for _ in 0..20 {
            assert_eq!(
                p.pick(Some(&"only".into()), &mut rng()).unwrap().as_str(),
                "other",
                "{kind}"
            );
        }
        p.remove(&"only".into());
        p.remove(&"other".into());
        p.remove(&"absent".into());
        assert!(p.is_empty());
        assert_eq!(p.pick(None, &mut rng()), None, "{kind}");
    }
}

#[test]
fn upsert_moves_an_agent_instead_of_duplicating_it() {
    for kind in PolicyKind::ALL
        .into_iter()
        .filter(|k| *k != PolicyKind::Manual)
    {
        let mut p = pool_with(kind, &[load("a", 0, 3, 0, 1)]);
        p.upsert(&load("a", 1, 2, 5, 1));
        p.upsert(&load("a", 2, 1, 9, 1));
        assert_eq!(p.len(), 1, "{kind}");
    }
}
