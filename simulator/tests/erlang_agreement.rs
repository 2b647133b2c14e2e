//! Virtual time against queueing theory: Markovian scenarios (Poisson arrivals,
//! exponential handle time, exponential or no patience, one queue, auto-accept) run in
//! virtual time agree with Erlang C and Erlang A.
//!
//! Each case runs independent replications (fixed seeds) and checks that the analytic
//! service level, abandon rate and mean accept_wait lie inside the replications' 99%
//! Student-t confidence interval (plus a small allowance for the run starting empty).

use switchboard_sim::erlang::{Figures, markovian};
use switchboard_sim::metrics::{MetricName, Mode, RunInfo, Summary};
use switchboard_sim::scenario::Scenario;
use switchboard_sim::virtual_time::VirtualRun;

/// Two-sided 99% Student-t quantiles for 1..=12 degrees of freedom.
const T99: [f64; 12] = [
    63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250, 3.169, 3.106, 3.055,
];

struct Case {
    rate_per_h: f64,
    agents: u32,
    slots: u8,
    handle_s: f64,
    patience_s: Option<f64>,
    hours: u32,
    replications: u64,
}

fn scenario(c: &Case, seed: u64) -> Scenario {
    let patience = c
        .patience_s
        .map_or(String::new(), |p| format!("patience = \"exp(mean={p}s)\""));
    let text = format!(
        r#"
name = "markov"
seed = {seed}
duration = "{hours}h"
drain = "3h"
service_level_target = "20s"

[routing]
policy = "least-active"

[[queues]]
name = "q"

[[agents]]
group = "a"
count = {agents}
queues = ["q"]
available_for = {slots}
handle_time = "exp(mean={handle}s)"

[[users]]
queue = "q"
arrival = "poisson(rate={rate}/h)"
messages = "0"
{patience}
"#,
        hours = c.hours,
        agents = c.agents,
        slots = c.slots,
        handle = c.handle_s,
        rate = c.rate_per_h,
    );
    Scenario::parse(&text, "markov.toml").expect("valid scenario")
}

/// (service level, abandon rate, mean accept_wait in seconds) of one run.
fn simulate(s: &Scenario) -> (f64, f64, f64) {
    let (mut rec, _, _) = VirtualRun::new(s).expect("valid desk").run();
    let summary =
        Summary::build(RunInfo::for_scenario(s, Mode::Virtual, &[]), &mut rec).expect("summary");
    assert_eq!(summary.counters.chats.queued_at_end, 0, "drain too short");
    let wait = summary
        .metrics
        .get(MetricName::AcceptWait)
        .and_then(|m| m.mean)
        .unwrap_or(0.0)
        / 1000.0;
    (
        summary.service_level.unwrap_or(f64::NAN),
        summary.abandon_rate.unwrap_or(f64::NAN),
        wait,
    )
}

fn interval(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (mean, T99[v.len() - 2] * sd / n.sqrt())
}

fn check(c: Case) {
    let first = scenario(&c, 1);
    let m = markovian(&first).expect("the scenario is Markovian");
    let f: Figures = m.model.solve(m.target).expect("solvable");
    let runs: Vec<(f64, f64, f64)> = (1..=c.replications)
        .map(|seed| simulate(&scenario(&c, seed)))
        .collect();
    let report = |name: &str, analytic: f64, values: Vec<f64>, slack: f64| {
        let (mean, hw) = interval(&values);
        let ok = (mean - analytic).abs() <= hw + slack;
        eprintln!(
            "{} c={} a={:.2}: {name:<16} analytic {analytic:.4}  simulated {mean:.4} ±{hw:.4} {}",
            m.kendall,
            m.model.servers,
            f.offered_load,
            if ok { "ok" } else { "OUTSIDE" }
        );
        ok
    };
    let ok = [
        report(
            "service_level",
            f.service_level,
            runs.iter().map(|r| r.0).collect(),
            0.002,
        ),
        report(
            "abandon_rate",
            f.abandon_rate,
            runs.iter().map(|r| r.1).collect(),
            0.002,
        ),
        report(
            "accept_wait mean",
            f.mean_wait_answered,
            runs.iter().map(|r| r.2).collect(),
            0.05,
        ),
    ];
    assert!(
        ok.iter().all(|&o| o),
        "simulation disagrees with {}",
        m.kendall
    );
}

#[test]
fn erlang_c_half_load_one_slot() {
    // 10 servers, a = 5 Erlangs: 50% occupancy.
    check(Case {
        rate_per_h: 100.0,
        agents: 10,
        slots: 1,
        handle_s: 180.0,
        patience_s: None,
        hours: 40,
        replications: 6,
    });
}

#[test]
fn erlang_c_80_percent_four_slots() {
    // 5 agents x 4 slots = 20 servers, a = 16 Erlangs.
    check(Case {
        rate_per_h: 320.0,
        agents: 5,
        slots: 4,
        handle_s: 180.0,
        patience_s: None,
        hours: 16,
        replications: 6,
    });
}

#[test]
fn erlang_a_80_percent_one_slot() {
    check(Case {
        rate_per_h: 160.0,
        agents: 10,
        slots: 1,
        handle_s: 180.0,
        patience_s: Some(120.0),
        hours: 30,
        replications: 6,
    });
}

#[test]
fn erlang_a_95_percent_four_slots() {
    // 5 agents x 4 slots = 20 servers offered 19 Erlangs; patience keeps it stable.
    check(Case {
        rate_per_h: 380.0,
        agents: 5,
        slots: 4,
        handle_s: 180.0,
        patience_s: Some(180.0),
        hours: 14,
        replications: 6,
    });
}

#[test]
fn erlang_c_95_percent_one_slot_fast_service() {
    // 95% without abandonment relaxes slowly: short handle times give many chats per
    // scenario hour. 10 servers, a = 9.5 Erlangs.
    check(Case {
        rate_per_h: 1140.0,
        agents: 10,
        slots: 1,
        handle_s: 30.0,
        patience_s: None,
        hours: 8,
        replications: 6,
    });
}

#[test]
fn non_markovian_scenarios_say_why() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/quickstart.toml"
    ))
    .expect("shipped scenario");
    let s = Scenario::parse(&text, "quickstart.toml").expect("valid");
    let why = markovian(&s).expect_err("quickstart is not Markovian");
    let all = why.join("\n");
    assert!(all.contains("2 queues"), "{all}");
    assert!(all.contains("no handle_time"), "{all}");
    assert!(all.contains("transfer"), "{all}");
    assert!(all.contains("not exponential"), "{all}");
}

/// A Markovian desk stops being one when a group accepts by hand or faults are
/// injected; each reason is named.
#[test]
fn manual_accept_and_faults_are_outside_the_formulas() {
    let case = Case {
        rate_per_h: 100.0,
        agents: 5,
        slots: 1,
        handle_s: 120.0,
        patience_s: None,
        hours: 1,
        replications: 1,
    };
    let plain = scenario(&case, 1);
    assert!(markovian(&plain).is_ok(), "the plain case is Markovian");
    let mut manual = plain.clone();
    manual.agents[0].manual_accept = true;
    let why = markovian(&manual).expect_err("manual accept").join("\n");
    assert!(why.contains("manual_accept"), "{why}");
    let mut faulty = plain.clone();
    faulty.faults.abandon_on_join = 0.1;
    faulty.faults.accept_burst = true;
    let why = markovian(&faulty).expect_err("faults").join("\n");
    assert!(
        why.contains("faults are injected (abandon_on_join, accept_burst)"),
        "{why}"
    );
}
