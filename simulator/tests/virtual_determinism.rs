//! Determinism of virtual time: the same scenario and seed give a byte-identical
//! `summary.json` (and `analytic.json`) apart from the wall-clock fields.

use switchboard_sim::run::{Driver, run};
use switchboard_sim::scenario::Scenario;

/// Removes the wall-clock fields wherever the summary keeps them.
fn without_wall_clock(text: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(text).expect("summary is JSON");
    if let Some(o) = v.as_object_mut() {
        o.remove("wall_clock");
        o.remove("started_at");
        if let Some(e) = o.get_mut("elapsed").and_then(|e| e.as_object_mut()) {
            e.remove("real_seconds");
        }
    }
    serde_json::to_string_pretty(&v).expect("serialises")
}

#[tokio::test]
async fn same_seed_same_summary() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/quickstart.toml"
    ))
    .expect("shipped scenario");
    let scenario = Scenario::parse(&text, "quickstart.toml").expect("valid");
    let base = std::env::temp_dir().join(format!("switchboard-det-{}", std::process::id()));
    let mut outputs = Vec::new();
    for i in 0..2 {
        let out = base.join(format!("run{i}"));
        run(&scenario, &[], Driver::Virtual, &out)
            .await
            .expect("runs");
        let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
        let analytic = std::fs::read_to_string(out.join("analytic.json")).expect("analytic");
        outputs.push((without_wall_clock(&summary), analytic));
    }
    assert_eq!(outputs[0].0, outputs[1].0);
    assert_eq!(outputs[0].1, outputs[1].1);
    // A different seed gives a different run.
    let mut other = scenario.clone();
    other.seed += 1;
    let out = base.join("other");
    run(&other, &[], Driver::Virtual, &out).await.expect("runs");
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
    assert_ne!(without_wall_clock(&summary), outputs[0].0);
}

/// Virtual time does not model the transport, so the transport faults change nothing
/// in a virtual run: not even the draws of the agents' generators (a stall nobody waits
/// for would shift every later draw). The chaos scenario has them, and faults whose
/// draws follow (flips, drops, manual accept).
#[tokio::test]
async fn transport_faults_change_nothing_in_virtual_time() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/chaos.toml");
    let scenario = Scenario::load(std::path::Path::new(file), &[]).expect("valid");
    assert!(
        scenario.faults.slow_consumer_probability > 0.0 && scenario.faults.outbound_queue.is_some()
    );
    let mut without = scenario.clone();
    without.faults.slow_consumer_probability = 0.0;
    without.faults.outbound_queue = None;
    let base = std::env::temp_dir().join(format!("switchboard-transport-{}", std::process::id()));
    let mut figures = Vec::new();
    for (name, s) in [("with", &scenario), ("without", &without)] {
        let out = base.join(name);
        let summary = run(s, &[], Driver::Virtual, &out).await.expect("runs");
        let text = std::fs::read_to_string(out.join("summary.json")).expect("summary");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let o = v.as_object_mut().expect("an object");
        for key in ["wall_clock", "resolved_scenario", "warnings"] {
            o.remove(key);
        }
        figures.push((v, summary.warnings));
    }
    assert_eq!(figures[0].0, figures[1].0);
    assert!(
        figures[0]
            .1
            .iter()
            .any(|w| w.contains("does not model the transport")),
        "{:?}",
        figures[0].1
    );
    assert!(
        !figures[1].1.iter().any(|w| w.contains("transport")),
        "{:?}",
        figures[1].1
    );
    let _ = std::fs::remove_dir_all(&base);
}
