//! Smoke test: the bench command runs end to end in a tiny configuration (a couple of
//! seconds per target) and writes its figures. It checks that every message arrived and that the
//! counts add up, never how fast: performance is measured by running the bench, not
//! by tests.

use std::process::Command;

#[test]
fn bench_runs_in_a_tiny_configuration() {
    let dir = std::env::temp_dir().join(format!("switchboard-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard-bench"))
        .args([
            "--pairs",
            "2",
            "--start-rate",
            "200",
            "--step-secs",
            "0.3",
            "--measure-secs",
            "0.3",
            "--max-steps",
            "2",
            "--drain-secs",
            "5",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("run switchboard-bench");
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches(" errors 0;").count(), 3, "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written"))
            .expect("valid json");
    assert!(report["cpu_per_message"].is_array(), "{report}");
    let results = report["results"].as_array().expect("results");
    // Echo, bare relay and reference server, in that order.
    let names: Vec<&str> = results
        .iter()
        .filter_map(|r| r["target"].as_str())
        .collect();
    assert_eq!(names, ["echo", "forward", "relay"]);
    // A ratio is printed when its baseline kept up with some step.
    let kept_up = |i: usize| results[i]["saturation"].as_f64().unwrap_or(0.0) > 0.0;
    for (baseline, ratios) in [
        (0, ["relay / echo", "forward / echo"].as_slice()),
        (1, ["relay / forward"].as_slice()),
    ] {
        for ratio in ratios {
            assert_eq!(
                kept_up(baseline),
                stdout.contains(&format!("{ratio} throughput")),
                "{stdout}"
            );
        }
    }
    for r in results {
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["sent"].as_u64().unwrap_or(0) > 0, "{r}");
        // Every step is drained before the next begins: nothing is lost, and each
        // step's own counts add up.
        assert_eq!(r["sent"], r["received"], "every message arrives: {r}");
        let ramp = r["ramp"].as_array().expect("ramp");
        let fractions = r["at_fraction"].as_array().expect("at_fraction");
        let steps = ramp.iter().chain(fractions.iter().map(|f| &f[1]));
        for s in steps {
            assert!(s["scheduled"].as_u64().unwrap_or(0) > 0, "{s}");
            assert_eq!(s["scheduled"], s["sent"], "{s}");
            assert_eq!(s["sent"], s["received"], "{s}");
            assert_eq!(s["received"], s["count"], "{s}");
            // What else took CPU is measured (on Linux) and agrees with the verdict.
            if cfg!(target_os = "linux") {
                let i = &s["interference"];
                assert!(s["waited_cores"].as_f64().unwrap_or(-1.0) >= 0.0, "{s}");
                let taken: f64 = ["stolen_cores", "others_cores"]
                    .iter()
                    .map(|k| i[k].as_f64().unwrap_or(-1.0))
                    .inspect(|v| assert!(*v >= 0.0, "{s}"))
                    .sum();
                assert_eq!(s["disturbed"], taken >= 0.1, "{s}");
            }
        }
        // Whether a step kept up depends on the machine; what follows from it does
        // not: the latency steps run only if some ramp step kept up.
        if ramp.iter().any(|s| s["kept_up"] == true) {
            assert!(r["saturation"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
            assert_eq!(fractions.len(), 3, "{r}");
        } else {
            assert_eq!(r["saturation"], 0.0, "{r}");
            assert!(fractions.is_empty(), "{r}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// More chats than the open-files limit has room for stop the bench before it starts,
/// saying what to change (`ulimit -n` in `sh` lowers the hard limit too, so the bench
/// cannot raise it back).
#[cfg(unix)]
#[test]
fn too_many_pairs_for_the_open_files_limit_are_refused_up_front() {
    let hard = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .expect("sh runs");
    let hard = String::from_utf8_lossy(&hard.stdout);
    if hard.trim().parse::<u64>().is_ok_and(|h| h < 256) {
        eprintln!("skipped: the hard open-files limit ({hard}) is below the 256 this test sets");
        return;
    }
    let out = Command::new("sh")
        .args(["-c", r#"ulimit -n 256 && exec "$0" --pairs 50"#])
        .arg(env!("CARGO_BIN_EXE_switchboard-bench"))
        .output()
        .expect("run switchboard-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--pairs 50 needs about 264 open files")
            && stderr.contains("the limit is 256"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing ran");
}
