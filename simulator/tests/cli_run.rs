//! `switchboard run` as a user runs it: exit codes, the report folder, and Ctrl-C.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("switchboard-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn switchboard(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .expect("switchboard runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `switchboard run scenarios/quickstart.toml --mode virtual --out OUT EXTRA…`.
fn quickstart_virtual(out: &Path, extra: &[&str]) -> (i32, String, String) {
    let q = scenario("quickstart.toml");
    let mut args = vec![
        "run",
        q.to_str().unwrap(),
        "--mode",
        "virtual",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    switchboard(&args)
}

#[test]
fn passing_run_exits_zero_and_writes_the_report() {
    let out = out_dir("pass");
    let (code, stdout, stderr) = quickstart_virtual(&out, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("seed 7"),
        "the seed is printed at start: {stderr}"
    );
    assert!(stdout.contains("accept_wait"), "{stdout}");
    for f in [
        "summary.json",
        "summary.csv",
        "history.jsonl",
        "journal.jsonl",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // Virtual runs keep the Desk's journal, so the checker runs every invariant.
    let inv: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("invariants.json")).expect("invariants.json"),
    )
    .expect("invariants parse");
    assert_eq!(inv["violations"].as_array().map(Vec::len), Some(0), "{inv}");
    assert_eq!(inv["checked"].as_array().map(Vec::len), Some(10), "{inv}");
    assert!(
        inv["skipped"].as_object().is_some_and(|m| m.is_empty()),
        "{inv}"
    );
    assert!(
        stdout.contains("routing invariants: OK, 10 of 10 checked"),
        "the verdict closes the summary: {stdout}"
    );
    assert!(!stderr.contains("earlier run's report"), "{stderr}");
    // Run again into the same folder: said, then replaced.
    let (code, _, stderr) = quickstart_virtual(&out, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("holds an earlier run's report; this run replaces it"),
        "{stderr}"
    );
}

#[test]
fn an_admin_token_without_a_target_is_pointed_out_unless_it_comes_from_the_environment() {
    let out = out_dir("token-without-target");
    let (code, _, stderr) = quickstart_virtual(&out, &["--admin-token", "secret"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: --admin-token is only used with --target"),
        "{stderr}"
    );
    let q = scenario("quickstart.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", q.to_str().unwrap(), "--mode", "virtual", "--quiet"])
        .args(["--out", out.to_str().unwrap()])
        .env("SWITCHBOARD_ADMIN_TOKEN", "secret")
        .output()
        .expect("switchboard runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("--admin-token"), "{stderr}");
}

#[test]
fn failing_threshold_exits_one() {
    let out = out_dir("fail");
    let (code, stdout, _) = quickstart_virtual(&out, &["--set", "thresholds.chats.offered=< 1"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("FAIL chats.offered < 1"), "{stdout}");
    assert!(out.join("summary.json").is_file());
    let thresholds = stdout.matches("\n  PASS ").count()
        + stdout.matches("\n  FAIL ").count()
        + stdout.matches("\n  N/A  ").count();
    let verdict = format!("result: FAILED: 1 of {thresholds} thresholds failed");
    assert_eq!(stdout.lines().last(), Some(verdict.as_str()), "{stdout}");
    // Redrawing the report says the verdict the run recorded, and judges nothing;
    // the warnings the run recorded come before it, as after a run.
    let path = out.join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    summary["warnings"] = serde_json::json!(["a warning the run recorded"]);
    std::fs::write(&path, summary.to_string()).unwrap();
    let (code, stdout, stderr) = switchboard(&["report", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.last(), Some(&verdict.as_str()), "{stdout}");
    assert_eq!(
        lines[lines.len() - 2],
        "WARNING: a warning the run recorded",
        "{stdout}"
    );
}

#[test]
fn bad_scenario_or_override_exits_two_without_running() {
    let out = out_dir("bad");
    let q = scenario("quickstart.toml");
    let (code, _, stderr) = switchboard(&[
        "run",
        q.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "routing.policy=fastest",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown policy `fastest`"), "{stderr}");
    assert!(
        stderr.contains("least-active"),
        "lists the valid ones: {stderr}"
    );
    assert!(!out.exists(), "nothing ran");

    // A live server cannot drive a virtual run: refused, not silently ignored.
    let (code, _, stderr) = switchboard(&[
        "run",
        q.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--mode",
        "virtual",
        "--target",
        "127.0.0.1:9",
        "--admin-token",
        "t",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("error: --target drives a live server")
            && stderr.contains("cannot be used with --mode virtual"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing ran");

    // A seed no scenario file could hold is refused: every run can be written down.
    let (code, _, stderr) = switchboard(&[
        "run",
        q.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--seed",
        "9223372036854775808",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("9223372036854775807"), "{stderr}");
    assert!(!out.exists(), "nothing ran");

    // --out naming a file is refused as such.
    let file = out_dir("a-file");
    std::fs::write(&file, "not a folder").expect("file");
    let (code, _, stderr) = switchboard(&[
        "run",
        q.to_str().unwrap(),
        "--mode",
        "virtual",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("a file, not a folder"), "{stderr}");
    let _ = std::fs::remove_file(&file);
}

#[test]
fn each_queue_has_its_figures_and_thresholds() {
    let out = out_dir("queues");
    let (code, stdout, stderr) = quickstart_virtual(
        &out,
        &[
            "--set",
            "thresholds.queues.software.chats.offered=< 1",
            "--set",
            "thresholds.queues.hardware.chats.lost=== 0",
        ],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("FAIL queues.software.chats.offered < 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS queues.hardware.chats.lost == 0"),
        "{stdout}"
    );
    // The console's table, one line per queue.
    let table = stdout
        .lines()
        .skip_while(|l| !l.starts_with("queue "))
        .take(3)
        .collect::<Vec<_>>();
    assert!(
        table.len() == 3 && table[1].starts_with("hardware") && table[2].starts_with("software"),
        "{stdout}"
    );
    // The queues add up to the desk.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let queues = summary["queues"].as_object().expect("queues");
    assert_eq!(queues.len(), 2, "{queues:?}");
    for outcome in ["offered", "accepted", "abandoned", "lost", "queued_at_end"] {
        let sum: u64 = queues.values().map(|q| q[outcome].as_u64().unwrap()).sum();
        assert_eq!(
            sum,
            summary["chats"][outcome].as_u64().unwrap(),
            "{outcome}"
        );
    }
    let chats = &summary["chats"];
    assert_eq!(
        chats["accepted"].as_u64(),
        Some(chats["closed"].as_u64().unwrap() + chats["active_at_end"].as_u64().unwrap()),
        "{chats}"
    );
    let waits: u64 = queues
        .values()
        .map(|q| q["accept_wait"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        waits,
        summary["metrics"]["accept_wait"]["count"].as_u64().unwrap()
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>By queue</h2>"));
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    for q in ["hardware", "software"] {
        let count = queues[q]["accept_wait"]["count"].as_u64().unwrap();
        assert!(
            csv.lines()
                .any(|l| l.starts_with(&format!("queues.{q}.accept_wait,ms,{count},"))),
            "{csv}"
        );
    }
}

#[test]
fn runs_started_in_the_same_second_keep_both_reports() {
    let cwd = out_dir("same-second");
    std::fs::create_dir_all(&cwd).unwrap();
    // Earlier runs hold the folders of the next seconds, so both runs below meet a
    // taken name, however long they take.
    let now = std::time::SystemTime::now();
    for s in 0..60 {
        let stamp = humantime::format_rfc3339_seconds(now + Duration::from_secs(s))
            .to_string()
            .replace(':', "-");
        std::fs::create_dir_all(cwd.join("reports/quickstart").join(stamp)).unwrap();
    }
    let q = scenario("quickstart.toml");
    let mut reports = Vec::new();
    for seed in ["1", "2"] {
        let o = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .current_dir(&cwd)
            .args(["run", q.to_str().unwrap(), "--mode", "virtual", "--quiet"])
            .args(["--seed", seed])
            .output()
            .expect("switchboard runs");
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let report = stdout
            .lines()
            .find_map(|l| l.strip_prefix("report: "))
            .unwrap_or_else(|| panic!("no report line: {stdout}"))
            .to_string();
        reports.push(cwd.join(report));
    }
    assert_ne!(reports[0], reports[1]);
    for r in &reports {
        let name = r.file_name().unwrap().to_str().unwrap();
        let (_, n) = name.rsplit_once('-').unwrap();
        assert!(
            n.parse::<u64>().is_ok_and(|n| n >= 2),
            "{name}: a taken folder gets a number"
        );
    }
    for (r, seed) in reports.iter().zip([1, 2]) {
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(r.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["seed"], seed, "{}", r.display());
    }
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[test]
fn a_missing_report_folder_is_named_as_such() {
    let missing = out_dir("missing");
    for command in ["check", "report"] {
        let (code, _, stderr) = switchboard(&[command, missing.to_str().unwrap()]);
        assert_eq!(code, 2, "{command}: {stderr}");
        assert_eq!(
            stderr.trim(),
            format!("error: {}: no such report folder", missing.display()),
            "{command}"
        );
    }
    // A folder without the file: the cause is said once.
    std::fs::create_dir_all(&missing).unwrap();
    let (code, _, stderr) = switchboard(&["report", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    std::fs::remove_dir_all(&missing).unwrap();
}

/// Starts `switchboard run SCENARIO --quiet --out OUT EXTRA…`, sends it Ctrl-C once its
/// first stderr line is out, and waits (at most `patience`) for it to stop: its first
/// line, how long it took after the Ctrl-C, and its exit status.
fn run_and_interrupt(
    file: &str,
    out: &std::path::Path,
    extra: &[&str],
    patience: Duration,
) -> (String, Duration, std::process::ExitStatus) {
    run_and_interrupt_after(&scenario(file), out, extra, Duration::ZERO, patience)
}

/// [`run_and_interrupt`] for the scenario at `path`, the Ctrl-C `wait` after the run's
/// first stderr line.
fn run_and_interrupt_after(
    path: &Path,
    out: &Path,
    extra: &[&str],
    wait: Duration,
    patience: Duration,
) -> (String, Duration, std::process::ExitStatus) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", path.to_str().unwrap(), "--quiet"])
        .args(["--out", out.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("switchboard starts");
    // The first stderr line says the run has started.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("start line");
    std::thread::sleep(wait);
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + patience;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    (line, started.elapsed(), status)
}

/// Ctrl-C stops the arrivals, lets open chats drain and still writes the report.
#[test]
fn interrupt_drains_and_writes_the_report() {
    let out = out_dir("interrupt");
    let (line, took, status) = run_and_interrupt(
        "quickstart.toml",
        &out,
        &["--set", "drain=40s"],
        Duration::from_secs(60),
    );
    assert!(line.contains("running `quickstart`"), "{line}");
    // Quickstart lasts ~45 s; interrupted, it ends within the drain (40 s / 20 = 2 s)
    // plus the server's shutdown and the report: well before the whole run would have.
    assert!(took < Duration::from_secs(40), "{took:?}");
    // A partial run does not pass, and says why.
    assert_eq!(status.code(), Some(1), "{status:?}");
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("report written");
    assert!(summary.contains("\"offered\""));
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("summary parses");
    assert_eq!(summary["passed"], false);
    assert!(
        summary["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.starts_with("interrupted")))),
        "{}",
        summary["warnings"]
    );
}

/// Ctrl-C during the drain (every user came) ends the run at once, with its report,
/// and says what was cut: the chats, not the arrivals.
#[test]
fn interrupt_during_the_drain_ends_the_run_and_says_so() {
    let out = out_dir("interrupt-drain");
    std::fs::create_dir_all(&out).unwrap();
    // Users come for half a second of real time; their conversations (an hour between
    // messages) would hold the drain for its whole 90 s. The Ctrl-C comes 6 s after
    // the run's first line, well after the arrivals even on a slow machine.
    let file = out.join("long-drain.toml");
    std::fs::write(
        &file,
        r#"
name = "long-drain"
duration = "10s"
drain = "30m"
time_scale = 20
[[queues]]
name = "q"
[[agents]]
group = "desk"
count = 2
queues = ["q"]
[[users]]
queue = "q"
arrival = "constant(rate=30/min)"
messages = "3"
think_time = "const(1h)"
"#,
    )
    .unwrap();
    let (_, took, status) = run_and_interrupt_after(
        &file,
        &out.join("run"),
        &[],
        Duration::from_secs(6),
        Duration::from_secs(60),
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(status.code(), Some(1), "{status:?}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("run/summary.json")).expect("report written"),
    )
    .unwrap();
    assert_eq!(summary["passed"], false);
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains("interrupted (Ctrl-C) during the drain: every user came")
            && !warnings.contains("arrivals stopped early"),
        "{warnings}"
    );
}

/// Ctrl-C during a virtual run (nothing to drain) ends the program at once.
#[test]
fn interrupt_ends_a_virtual_run_at_once() {
    let out = out_dir("interrupt-virtual");
    let (_, _, status) = run_and_interrupt(
        "contact-centre-day.toml",
        &out,
        &["--mode", "virtual"],
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(130), "{status:?}");
}
