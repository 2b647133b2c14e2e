//! The files every run writes (DESIGN.md "Reports"): they exist and parse, the HDR log
//! reads back with the summary's counts, the HTML is self-contained, the plots are
//! valid PNG/SVG, `switchboard report` reproduces the same files from saved data, and a
//! virtual run's summary is byte-identical for one seed apart from its wall-clock
//! section. Virtual-time runs only: each takes well under a second.

use std::fs;
use std::path::{Path, PathBuf};
use switchboard_sim::metrics::names::MetricName;
use switchboard_sim::metrics::read_summary;
use switchboard_sim::report::{self, hlog, timeseries};
use switchboard_sim::run::{self, Driver};
use switchboard_sim::scenario::Scenario;

const PLOTS: [&str; 7] = [
    "queue",
    "accept_wait_over_time",
    "accept_wait_percentiles",
    "message_latency_percentiles",
    "throughput",
    "occupancy",
    "agent_load",
];

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("switchboard-report-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn quickstart() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/quickstart.toml");
    Scenario::load(&path, &[]).expect("quickstart loads")
}

async fn virtual_run(name: &str) -> PathBuf {
    let out = scratch(name);
    run::run(&quickstart(), &[], Driver::Virtual, &out)
        .await
        .expect("virtual run");
    out
}

#[tokio::test]
async fn a_run_writes_every_report_file_and_they_parse() {
    let dir = virtual_run("files").await;
    let summary = read_summary(&dir).expect("summary.json parses");
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for key in [
        "scenario",
        "seed",
        "mode",
        "metrics",
        "thresholds",
        "wall_clock",
        "agents",
    ] {
        assert!(json.get(key).is_some(), "summary.json lacks {key}");
    }
    assert!(
        json.get("started_at").is_none(),
        "wall-clock fields live under wall_clock"
    );
    assert!(json["wall_clock"]["real_seconds"].is_number());
    assert!(json["elapsed"].get("real_seconds").is_none());

    // timeseries.csv: the header, one row per interval covering the run, counts adding up.
    let text = fs::read_to_string(dir.join(report::TIMESERIES_CSV)).unwrap();
    assert_eq!(text.lines().next(), Some(timeseries::HEADER));
    let rows = timeseries::parse(&text).expect("timeseries.csv parses");
    let len = rows[1].start_s - rows[0].start_s;
    assert!(rows.len() as f64 * len >= summary.elapsed.scenario_seconds);
    let c = &summary.counters;
    assert_eq!(
        rows.iter().map(|r| r.arrivals).sum::<u64>(),
        c.chats.offered
    );
    assert_eq!(
        rows.iter().map(|r| r.accepted).sum::<u64>(),
        c.chats.accepted
    );
    assert_eq!(rows.iter().map(|r| r.closed).sum::<u64>(), c.chats.closed);
    assert_eq!(
        rows.iter().map(|r| r.messages).sum::<u64>(),
        c.messages.sent
    );
    assert_eq!(
        rows.iter().map(|r| r.transfers).sum::<u64>(),
        c.chats.transferred
    );
    // Virtual mode samples every gauge from the Desk, at every interval.
    assert!(
        rows.iter()
            .all(|r| r.queued.is_some() && r.free_slots.is_some())
    );
    assert!(rows.iter().any(|r| r.active_chats.unwrap_or(0) > 0));
    assert!(
        rows.iter().all(|r| r.start_real_s.is_none()),
        "no real time in virtual mode"
    );

    // histograms.hlog: read back by the hdrhistogram crate, counts equal the summary's.
    let bytes = fs::read(dir.join(report::HISTOGRAMS_HLOG)).unwrap();
    let intervals = hlog::read(&bytes).expect("hlog parses");
    for m in MetricName::ALL {
        let want = summary.metrics.get(m).map_or(0, |s| s.count);
        let total = hlog::total(&intervals, m).unwrap();
        assert_eq!(total.len(), want, "{m}");
        if want > 0 {
            assert_eq!(
                intervals[&m].len(),
                rows.len(),
                "{m}: one histogram per interval"
            );
            let max_ms = summary.metrics.get(m).and_then(|s| s.max).unwrap();
            let hmax = total.max() as f64 / 1000.0;
            assert!(
                (hmax - max_ms).abs() <= max_ms * 0.001 + 0.001,
                "{m}: {hmax} vs {max_ms}"
            );
        }
    }
    assert!(String::from_utf8_lossy(&bytes).contains("Tag=accept_wait,"));

    // report.html: self-contained.
    let html = fs::read_to_string(dir.join(report::REPORT_HTML)).unwrap();
    let lower = html.to_lowercase();
    for bad in [
        "http:", "https:", "src=", "<script", "<link", "@import", "url(",
    ] {
        assert!(!lower.contains(bad), "report.html contains `{bad}`");
    }
    assert_eq!(html.matches("<svg").count(), PLOTS.len());
    for needle in [
        "quickstart",
        "seed",
        "PASSED",
        "N/A",
        "message_latency.p99",
        "accept_wait",
        "Errors by code",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }

    // Plots: non-empty, valid PNG and SVG.
    for p in PLOTS {
        let png = fs::read(dir.join(format!("{p}.png"))).unwrap();
        assert!(png.len() > 1000, "{p}.png is too small");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{p}.png magic");
        let svg = fs::read_to_string(dir.join(format!("{p}.svg"))).unwrap();
        assert_svg(&svg, p);
    }
    let _ = fs::remove_dir_all(&dir);
}

/// The document's root element is `<svg …>` with the SVG namespace, and it is closed.
fn assert_svg(svg: &str, name: &str) {
    let body = svg.trim_start();
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or("", |(_, r)| r).trim_start(),
        None => body,
    };
    assert!(body.starts_with("<svg"), "{name}.svg root is not <svg>");
    let open = &body[..body.find('>').unwrap_or(0)];
    assert!(
        open.contains("xmlns=\"http://www.w3.org/2000/svg\""),
        "{name}.svg namespace"
    );
    assert!(
        body.trim_end().ends_with("</svg>"),
        "{name}.svg is not closed"
    );
    assert!(body.contains("<text"), "{name}.svg has no text");
    assert_eq!(
        body.matches("<svg").count(),
        body.matches("</svg>").count(),
        "{name}.svg is unbalanced"
    );
}

#[tokio::test]
async fn report_regenerates_the_same_files_from_saved_data() {
    let dir = virtual_run("regen").await;
    let copy = scratch("regen-copy");
    fs::create_dir_all(&copy).unwrap();
    for f in [
        "summary.json",
        report::TIMESERIES_CSV,
        report::HISTOGRAMS_HLOG,
    ] {
        fs::copy(dir.join(f), copy.join(f)).unwrap();
    }
    let rendered = report::render(&copy).expect("report renders from saved data");
    assert_eq!(rendered.plots.len(), PLOTS.len() * 2);
    let mut files = vec![report::REPORT_HTML.to_string()];
    for p in PLOTS {
        files.push(format!("{p}.svg"));
        files.push(format!("{p}.png"));
    }
    for f in files {
        let a = fs::read(dir.join(&f)).unwrap();
        let b = fs::read(copy.join(&f)).unwrap();
        assert!(a == b, "{f} differs when regenerated");
    }
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_dir_all(&copy);
}

#[tokio::test]
async fn a_virtual_run_is_byte_identical_but_for_the_wall_clock() {
    let a = virtual_run("det-a").await;
    let b = virtual_run("det-b").await;
    let strip = |dir: &Path| {
        let mut v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("wall_clock");
        v
    };
    assert_eq!(strip(&a), strip(&b));
    // The wall-clock section is the file's last: everything before it is identical.
    let text = |dir: &Path| fs::read_to_string(dir.join("summary.json")).unwrap();
    let (ta, tb) = (text(&a), text(&b));
    let cut = |t: &str| t[..t.find("\"wall_clock\"").unwrap()].to_string();
    assert_eq!(cut(&ta), cut(&tb));
    for f in [
        report::TIMESERIES_CSV,
        report::HISTOGRAMS_HLOG,
        "summary.csv",
    ] {
        assert!(
            fs::read(a.join(f)).unwrap() == fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let _ = fs::remove_dir_all(&a);
    let _ = fs::remove_dir_all(&b);
}

#[test]
fn a_missing_or_broken_run_folder_is_an_error_not_a_panic() {
    let dir = scratch("broken");
    assert!(report::render(&dir).is_err());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("summary.json"), "{").unwrap();
    let err = report::render(&dir).unwrap_err().to_string();
    assert!(err.contains("summary.json"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

/// A run of a single interval still says how long its intervals are (the summary
/// records it; it was once guessed from the first two rows of `timeseries.csv`), and a
/// run that failed by being interrupted is not reported as an invariant violation.
#[tokio::test]
async fn a_one_interval_run_and_an_interrupted_one_are_reported_as_they_are() {
    let dir = scratch("one-interval");
    let sets: Vec<switchboard_sim::scenario::Override> = ["duration=1s", "drain=0s"]
        .iter()
        .map(|s| s.parse().expect("override"))
        .collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/quickstart.toml");
    let scenario = Scenario::load(&path, &sets).expect("quickstart loads");
    let summary = run::run(&scenario, &sets, Driver::Virtual, &dir)
        .await
        .expect("virtual run");
    assert_eq!(summary.elapsed.interval_seconds, 1.0);
    let rows = timeseries::parse(&fs::read_to_string(dir.join(report::TIMESERIES_CSV)).unwrap())
        .expect("timeseries reads");
    assert_eq!(rows.len(), 1);
    let html = fs::read_to_string(dir.join(report::REPORT_HTML)).unwrap();
    assert!(html.contains("1 × 1 s of scenario time"), "{html}");
    assert!(
        html.contains("routing invariants: OK, 10 of 10 checked"),
        "the checker's verdict is on the page: {html}"
    );

    // The same run, as if stopped by Ctrl-C.
    let path = dir.join("summary.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    v["passed"] = serde_json::Value::Bool(false);
    v["warnings"] = serde_json::json!([switchboard_sim::metrics::summary::INTERRUPTED_WARNING]);
    fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    report::render(&dir).expect("renders");
    let html = fs::read_to_string(dir.join(report::REPORT_HTML)).unwrap();
    assert!(html.contains("FAILED"));
    assert!(html.contains("the run was interrupted"), "{html}");
    assert!(!html.contains("invariant was violated"), "{html}");

    // As if its records could not be read: the verdict says why it failed.
    v["warnings"] = serde_json::json!([format!(
        "{}: journal.jsonl:3: EOF",
        switchboard_sim::checker::UNREADABLE_WARNING
    )]);
    v.as_object_mut().expect("object").remove("invariants");
    fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    report::render(&dir).expect("renders");
    let html = fs::read_to_string(dir.join(report::REPORT_HTML)).unwrap();
    assert!(
        html.contains("FAILED") && html.contains("could not read the run's records"),
        "{html}"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// A report folder written before per-queue figures and `chats.active_at_end` existed
/// still reads: the new fields are absent, not an error.
#[test]
fn a_summary_from_before_per_queue_figures_still_reads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/before-queues");
    let s = read_summary(&dir).expect("reads");
    assert_eq!(s.counters.chats.offered, 51);
    assert!(s.queues.is_empty());
    assert_eq!(s.counters.chats.active_at_end, 0);
}
