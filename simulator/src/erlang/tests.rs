//! Erlang B/C/A against textbook values and exact identities.

use super::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn erlang_b_table_values() {
    // Classic Erlang B table entries (e.g. Cooper, "Introduction to Queueing Theory").
    assert!(
        close(erlang_b(10, 5.0), 0.018_385, 1e-6),
        "{}",
        erlang_b(10, 5.0)
    );
    assert!(
        close(erlang_b(5, 2.0), 0.036_697, 1e-6),
        "{}",
        erlang_b(5, 2.0)
    );
    assert!(close(erlang_b(1, 1.0), 0.5, 1e-12));
}

#[test]
fn erlang_c_textbook_values() {
    // M/M/1: P(wait) = ρ. M/M/2: 2ρ²/(1+ρ). c = 3, a = 2: 4/9.
    assert!(close(erlang_c(1, 0.7).unwrap_or(0.0), 0.7, 1e-12));
    let rho: f64 = 0.6;
    let expected = 2.0 * rho * rho / (1.0 + rho);
    assert!(close(erlang_c(2, 1.2).unwrap_or(0.0), expected, 1e-12));
    assert!(close(erlang_c(3, 2.0).unwrap_or(0.0), 4.0 / 9.0, 1e-12));
    assert_eq!(erlang_c(3, 3.0), None);
}

#[test]
fn erlang_c_figures_for_a_call_centre() {
    // λ = 160/h, 180 s handle time: a = 8 Erlangs on 10 agents. P(wait) from the
    // recursion, cross-checked by the direct sum a^c/c! · c/(c-a) / (Σ … ).
    let m = Model::new(160.0 / 3600.0, 180.0, 10, None).expect("valid");
    let f = m.solve(20.0).expect("stable");
    let a: f64 = 8.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..10 {
        term *= a / k as f64;
        sum += term;
    }
    let top = term * a / 10.0 * 10.0 / (10.0 - a);
    let direct = top / (sum + top);
    assert!(close(f.p_wait, direct, 1e-12), "{} vs {direct}", f.p_wait);
    assert!(close(f.p_wait, 0.409_2, 1e-4), "{}", f.p_wait);
    // ASA = C / (cμ - λ); SL = 1 - C e^{-(cμ-λ)T}.
    let drain = 10.0 / 180.0 - 160.0 / 3600.0;
    assert!(close(f.mean_wait_answered, f.p_wait / drain, 1e-9));
    assert!(close(
        f.service_level,
        1.0 - f.p_wait * (-drain * 20.0).exp(),
        1e-12
    ));
    assert!(close(f.occupancy, 0.8, 1e-12));
}

#[test]
fn erlang_c_is_stable_for_thousands_of_servers() {
    let f = Model::new(11.0, 300.0, 3500, None)
        .expect("valid")
        .solve(20.0)
        .expect("stable");
    assert!(
        f.p_wait.is_finite() && f.p_wait > 0.0 && f.p_wait < 1.0,
        "{f:?}"
    );
    assert!(f.service_level > 0.0 && f.service_level <= 1.0);
}

#[test]
fn erlang_a_with_patience_equal_to_handle_time_is_poisson() {
    // θ = μ: death rate nμ in every state, so the number in system is Poisson(a).
    let (a, c) = (8.0_f64, 10u64);
    let f = erlang_a(8.0 / 180.0, 180.0, c, 180.0, 20.0).expect("solves");
    let mut p = (-a).exp();
    let mut below = 0.0;
    let mut mean_queue = 0.0;
    for n in 0..200u64 {
        if n < c {
            below += p;
        } else {
            mean_queue += (n - c) as f64 * p;
        }
        p *= a / (n + 1) as f64;
    }
    assert!(
        close(f.p_wait, 1.0 - below, 1e-9),
        "{} vs {}",
        f.p_wait,
        1.0 - below
    );
    let lambda = 8.0 / 180.0;
    assert!(close(f.abandon_rate, mean_queue / 180.0 / lambda, 1e-9));
    assert!(close(f.mean_wait_all, mean_queue / lambda, 1e-9));
}

#[test]
fn erlang_a_tends_to_erlang_c_as_patience_grows() {
    let c = Model::new(160.0 / 3600.0, 180.0, 10, None)
        .expect("valid")
        .solve(20.0)
        .expect("stable");
    let a = erlang_a(160.0 / 3600.0, 180.0, 10, 1e9, 20.0).expect("solves");
    assert!(close(a.p_wait, c.p_wait, 1e-5), "{a:?} {c:?}");
    assert!(
        close(a.mean_wait_answered, c.mean_wait_answered, 1e-3),
        "{a:?} {c:?}"
    );
    assert!(close(a.service_level, c.service_level, 1e-5), "{a:?} {c:?}");
    assert!(a.abandon_rate < 1e-6);
}

/// A patience of a microsecond: almost nobody is answered who has to wait, and the
/// figures come at once (the uniformisation alone took minutes).
#[test]
fn erlang_a_with_a_tiny_patience_is_quick() {
    let started = std::time::Instant::now();
    let f = erlang_a(100.0 / 3600.0, 180.0, 10, 1e-6, 20.0).expect("solves");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(close(f.service_level, 1.0 - f.p_wait, 1e-6), "{f:?}");
    assert!(close(f.abandon_rate, f.p_wait, 1e-6), "{f:?}");
}

#[test]
fn erlang_a_handles_overload_and_large_centres() {
    // More load than servers: abandonment keeps the queue finite.
    let f = erlang_a(12.0 / 180.0, 180.0, 10, 120.0, 20.0).expect("solves");
    assert!(f.abandon_rate > 0.05 && f.abandon_rate < 0.5, "{f:?}");
    assert!(f.occupancy > 0.9 && f.occupancy <= 1.0, "{f:?}");
    // 3,840 servers at 91% load.
    let f = erlang_a(700.0 / 60.0, 300.0, 3840, 180.0, 20.0).expect("solves");
    assert!(
        f.p_wait.is_finite() && (0.0..1.0).contains(&f.p_wait),
        "{f:?}"
    );
    assert!(f.service_level > 0.5 && f.service_level <= 1.0, "{f:?}");
}

#[test]
fn erlang_a_service_level_is_consistent() {
    // SL(0) = P(no wait); SL grows with T towards the answered share.
    let f0 = erlang_a(9.0 / 180.0, 180.0, 10, 180.0, 0.0).expect("solves");
    assert!(close(f0.service_level, 1.0 - f0.p_wait, 1e-12));
    let mut last = f0.service_level;
    for t in [10.0, 30.0, 60.0, 300.0, 3000.0] {
        let f = erlang_a(9.0 / 180.0, 180.0, 10, 180.0, t).expect("solves");
        assert!(f.service_level >= last - 1e-12, "{t}: {f:?}");
        last = f.service_level;
    }
    assert!(close(last, 1.0 - f0.abandon_rate, 1e-6), "{last} {f0:?}");
}

#[test]
fn staffing_meets_the_goal_with_the_fewest_agents() {
    let m = Model::new(160.0 / 3600.0, 180.0, 1, None).expect("valid");
    let n = staffing::agents_needed(&m, 1, 20.0, 0.8, 1000)
        .expect("solves")
        .expect("reachable");
    let sl = |k: u64| m.with_servers(k).solve(20.0).map(|f| f.service_level);
    assert!(sl(n).expect("stable") >= 0.8);
    assert!(sl(n - 1).map_or(true, |v| v < 0.8));
    let table = staffing_table(&m, 1, 20.0, 0.8, 8).expect("solves");
    assert!(table.iter().any(|r| r.agents == n));
    assert_eq!(table.last().map(|r| r.agents), Some(n + 2));
    // Two slots per agent: about half the agents.
    let n2 = staffing::agents_needed(&m, 2, 20.0, 0.8, 1000)
        .expect("solves")
        .expect("reachable");
    assert!(n2 * 2 >= n && n2 < n, "{n2} vs {n}");
}

/// With patience a modest goal can take fewer agents than the load (abandons relieve
/// the queue): the search goes below its usual starting point, and the table shows
/// the answer.
#[test]
fn staffing_below_the_load_is_found() {
    // 100 chats a minute of a minute each (100 Erlangs), patience 10 min, half of them
    // answered within 10 min.
    let m = Model::new(100.0 / 60.0, 60.0, 1, Some(600.0)).expect("valid");
    let n = staffing::agents_needed(&m, 1, 600.0, 0.5, 1000)
        .expect("solves")
        .expect("reachable");
    let sl = |k: u64| m.with_servers(k).solve(600.0).map(|f| f.service_level);
    assert!(sl(n).expect("solves") >= 0.5, "{n}");
    assert!(sl(n - 1).expect("solves") < 0.5, "{n} is not the fewest");
    assert!(n < 70, "{n}: the search stopped at its starting point");
    let table = staffing_table(&m, 1, 600.0, 0.5, 12).expect("solves");
    assert!(table.iter().any(|r| r.agents == n), "{table:?}");
}

#[test]
fn invalid_models_are_refused() {
    assert!(Model::new(0.0, 180.0, 10, None).is_err());
    assert!(Model::new(1.0, -1.0, 10, None).is_err());
    assert!(Model::new(1.0, 180.0, 0, None).is_err());
    assert!(Model::new(1.0, 180.0, 1, Some(0.0)).is_err());
    let unstable = Model::new(1.0, 180.0, 10, None).expect("valid").solve(20.0);
    assert!(matches!(unstable, Err(ErlangError::Unstable { .. })));
}

/// A goal of 100% is refused: no finite staff answers every chat within the target
/// (the search would otherwise stop at a rounding artefact or run out of states).
#[test]
fn a_goal_of_a_hundred_percent_is_refused() {
    use super::print::{Question, answer};
    let q = |goal| Question {
        rate: 160.0 / 3600.0,
        handle_time: 180.0,
        agents: 10,
        slots: 1,
        patience: None,
        target: 20.0,
        goal,
    };
    let err = answer(&q(1.0)).expect_err("100% refused").to_string();
    assert!(err.contains("100%"), "{err}");
    let text = answer(&q(0.999)).expect("99.9% is a goal");
    assert!(text.contains("Staffing for 99.9% within 20s"), "{text}");
    let text = answer(&q(0.8)).expect("80% is a goal");
    assert!(text.contains("Staffing for 80% within 20s"), "{text}");
}

/// The headline and the table search as far as each other, relative to the load: a
/// load of millions of Erlangs is searched past its own size, not stopped at a fixed
/// count below it.
#[test]
fn the_staffing_search_reaches_past_the_load() {
    for patience in [None, Some(180.0)] {
        // 2 million Erlangs: with patience the search starts at 70% of the load, and
        // an 80% goal needs at least 80% of it.
        let m = Model::new(2e6 / 180.0, 180.0, 1, patience).expect("valid");
        assert!(
            staffing::search_limit(&m, 1) as f64 > m.offered_load() + 50_000.0,
            "{patience:?}"
        );
        assert!(staffing::search_limit(&m, 4) as f64 > m.offered_load() / 4.0 + 50_000.0);
    }
    use super::print::{Question, answer};
    let q = Question {
        rate: 600.0 / 3600.0,
        handle_time: 180.0,
        agents: 40,
        slots: 1,
        patience: None,
        target: 20.0,
        goal: 0.8,
    };
    let text = answer(&q).expect("solves");
    let headline = text
        .lines()
        .find(|l| l.starts_with("Staffing for"))
        .expect("headline");
    let marked = text
        .lines()
        .find(|l| l.ends_with(" <"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the table marks the answer");
    assert!(headline.contains(&format!(": {marked} agents")), "{text}");
}

/// Slots are "Available for N" (R2): an agent holds at most four chats at once.
#[test]
fn more_slots_than_an_agent_may_hold_are_refused() {
    use super::print::{Question, answer};
    let q = |slots| Question {
        rate: 160.0 / 3600.0,
        handle_time: 180.0,
        agents: 10,
        slots,
        patience: None,
        target: 20.0,
        goal: 0.8,
    };
    assert!(answer(&q(4)).is_ok());
    let err = answer(&q(5)).expect_err("5 slots refused").to_string();
    assert!(err.contains("1 to 4, got 5"), "{err}");
}
