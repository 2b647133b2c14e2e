//! Summary building, threshold verdicts on crafted data, and the file formats.

use super::*;
use crate::threshold::Threshold;
use std::time::Duration;

fn info() -> RunInfo {
    RunInfo {
        overrides: vec!["routing.policy=random".into()],
        ..RunInfo::unit()
    }
}

fn crafted() -> Summary {
    let target = Duration::from_secs(60);
    let mut users: Vec<Recorder> = Vec::new();
    // 100 chats offered: waits 1s..=90s for 90 of them, 10 abandoned.
    for i in 1..=100u64 {
        let mut r = Recorder::new(target);
        r.counters.chats.offered += 1;
        if i <= 90 {
            r.record(MetricName::AcceptWait, Duration::from_secs(i));
            r.counters.chats.accepted += 1;
            r.counters.chats.closed += 1;
        } else {
            r.counters.chats.abandoned += 1;
        }
        r.record(MetricName::MessageLatency, Duration::from_micros(1500 + i));
        users.push(r);
    }
    let mut agent = Recorder::new(target);
    agent.agent_work("a1", 45, Duration::from_secs(300), Duration::from_secs(600));
    agent.agent_work("a2", 45, Duration::from_secs(300), Duration::from_secs(600));
    agent.counters.tickets.incidents = 3;
    agent.counters.error("already_accepted");
    users.push(agent);
    let mut total = Recorder::merge_all(target, &users).unwrap();
    Summary::build(info(), &mut total).unwrap()
}

#[test]
fn summary_counts_and_rates() {
    let s = crafted();
    assert_eq!(s.counters.chats.offered, 100);
    assert_eq!(s.service_level, Some(0.6));
    assert_eq!(s.abandon_rate, Some(0.1));
    assert_eq!(s.occupancy, Some(0.5));
    assert_eq!(s.fairness, Some(1.0));
    let aw = s.metrics.get(MetricName::AcceptWait).unwrap();
    assert_eq!(aw.count, 90);
    assert_eq!(aw.min, Some(1000.0));
    // 3 significant digits: within 0.1 %.
    let p50 = aw.p50.unwrap();
    assert!((p50 - 45_000.0).abs() <= 45.0, "{p50}");
    assert!((aw.mean.unwrap() - 45_500.0).abs() <= 50.0);
    let ml = s.metrics.get(MetricName::MessageLatency).unwrap();
    assert_eq!(ml.min, Some(1.501), "microsecond resolution is kept");
    let tw = s.metrics.get(MetricName::TransferWait).unwrap();
    assert_eq!((tw.count, tw.p99), (0, None));
}

#[test]
fn thresholds_pass_and_fail() {
    let mut s = crafted();
    let t = |k: &str, c: &str| Threshold::parse(k, c).unwrap();
    let cases = [
        (t("accept_wait.p95", "< 90s"), true),
        (t("accept_wait.p95", "< 60s"), false),
        (t("accept_wait.max", "<= 90s"), true),
        (t("accept_wait.count", "== 90"), true),
        (t("abandon_rate", "< 5%"), false),
        (t("abandon_rate", "<= 10%"), true),
        (t("service_level", ">= 0.6"), true),
        (t("chats.lost", "== 0"), true),
        (t("errors", "== 0"), false),
        (t("errors.already_accepted", "<= 1"), true),
        (t("tickets.incidents", ">= 3"), true),
        (t("transfer_wait.p95", "< 60s"), false),
        (t("fairness", "> 0.99"), true),
    ];
    for (th, want) in &cases {
        s.apply_thresholds(std::slice::from_ref(th));
        assert_eq!(
            s.thresholds[0].pass,
            *want,
            "{}: {:?}",
            th.expression(),
            s.thresholds[0]
        );
        assert_eq!(s.passed, *want);
    }
    let transfer = &cases[11].0;
    s.apply_thresholds(std::slice::from_ref(transfer));
    assert_eq!(
        s.thresholds[0].observed, None,
        "no samples: fails, observed null"
    );
    let all: Vec<Threshold> = cases.iter().map(|(t, _)| t.clone()).collect();
    s.apply_thresholds(&all);
    assert!(!s.passed);
    assert_eq!(s.thresholds.len(), cases.len());
    assert_eq!(s.thresholds[4].expression, "abandon_rate < 5%");
    assert_eq!(s.thresholds[4].observed, Some(0.1));
}

#[test]
fn json_has_the_contract_keys_and_reads_back() {
    let mut s = crafted();
    s.apply_thresholds(&[Threshold::parse("chats.lost", "== 0").unwrap()]);
    let v = serde_json::to_value(&s).unwrap();
    for key in [
        "scenario",
        "seed",
        "mode",
        "service_level",
        "abandon_rate",
        "occupancy",
        "fairness",
        "thresholds",
        "resolved_scenario",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in [
        "offered",
        "accepted",
        "abandoned",
        "transferred",
        "closed",
        "lost",
    ] {
        assert!(v["chats"][key].is_u64(), "chats.{key}");
    }
    assert!(v["tickets"]["incidents"].is_u64() && v["tickets"]["work_orders"].is_u64());
    assert_eq!(v["errors"]["already_accepted"], 1);
    assert_eq!(v["mode"], "virtual");
    let names: Vec<&String> = v["metrics"].as_object().unwrap().keys().collect();
    let expected: Vec<&str> = MetricName::ALL.iter().map(|m| m.as_str()).collect();
    assert_eq!(names.len(), expected.len());
    for m in expected {
        let stats = &v["metrics"][m];
        for stat in Stat::ALL {
            assert!(stats.get(stat.as_str()).is_some(), "{m}.{}", stat.as_str());
        }
    }
    let t = &v["thresholds"][0];
    assert_eq!(t["expression"], "chats.lost == 0");
    assert_eq!(t["observed"], 0.0);
    assert_eq!(t["pass"], true);

    let dir = std::env::temp_dir().join(format!("switchboard-sim-summary-{}", std::process::id()));
    write_summary(&dir, &s).unwrap();
    let back = read_summary(&dir).unwrap();
    assert_eq!(back, s);
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), MetricName::ALL.len());
    assert!(
        rows[0].starts_with("accept_wait,ms,90,1000,"),
        "{}",
        rows[0]
    );
    assert_eq!(rows[1], "transfer_wait,ms,0,,,,,,,,");
    for row in rows {
        assert_eq!(row.split(',').count(), 11, "{row}");
    }
}

#[test]
fn run_info_from_a_scenario() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/quickstart.toml"
    ))
    .unwrap();
    let sets: Vec<crate::scenario::Override> = vec!["seed=9".parse().unwrap()];
    let scenario = crate::scenario::parse(&text, "quickstart.toml", &sets).unwrap();
    let info = RunInfo::for_scenario(&scenario, Mode::Live, &sets);
    assert_eq!(
        (info.scenario.as_str(), info.seed, info.mode),
        ("quickstart", 9, Mode::Live)
    );
    assert_eq!(info.overrides, ["seed=9"]);
    assert_eq!(info.resolved_scenario["seed"], 9);
    let mut r = Recorder::new(scenario.service_level_target);
    let mut s = Summary::build(info, &mut r).unwrap();
    s.apply_thresholds(&scenario.thresholds.0);
    assert_eq!(s.thresholds.len(), scenario.thresholds.0.len());
    assert_eq!(s.service_level_target_ms, 60_000.0);
}

#[test]
fn a_queue_nobody_asked_has_no_figures_not_even_counts() {
    let mut r = Recorder::new(Duration::from_secs(60));
    r.count_chat("desk", ChatOutcome::Offered);
    r.count_chat("desk", ChatOutcome::Accepted);
    r.record_accept_wait("desk", Duration::from_secs(1));
    let mut s = Summary::build(RunInfo::unit(), &mut r).unwrap();
    let t = |k: &str, c: &str| Threshold::parse(k, c).unwrap();
    s.apply_thresholds(&[
        t("queues.desk.chats.lost", "== 0"),
        t("queues.network.chats.lost", "== 0"),
        t("queues.network.accept_wait.count", "< 1"),
    ]);
    let verdicts: Vec<_> = s
        .thresholds
        .iter()
        .map(|r| (r.verdict(), r.observed))
        .collect();
    assert_eq!(
        verdicts,
        [("PASS", Some(0.0)), ("FAIL", None), ("FAIL", None)]
    );
    // And they say why.
    assert_eq!(s.thresholds[0].no_data, None);
    assert!(
        s.thresholds[1]
            .no_data
            .as_deref()
            .is_some_and(|why| why.starts_with("no user came to queue `network`")),
        "{:?}",
        s.thresholds[1]
    );
}

#[test]
fn users_still_waiting_are_warned_of_past_the_target_or_the_tail() {
    let warnings = |waits_ms: &[u64], longest_ms: u64| {
        let mut r = Recorder::new(Duration::from_secs(60));
        for &w in waits_ms {
            r.record_accept_wait("desk", Duration::from_millis(w));
        }
        r.count_chat("desk", ChatOutcome::Offered);
        r.count_chat("desk", ChatOutcome::QueuedAtEnd);
        r.waiting_at_end(Duration::from_millis(longest_ms));
        let s = Summary::build(RunInfo::unit(), &mut r).unwrap();
        s.warnings
            .into_iter()
            .filter(|w| w.contains("still waited for an agent"))
            .count()
    };
    // Everyone answered at once (a p95 of 0): a user who came a moment before the
    // end is no news; one who waited past the target is.
    assert_eq!(warnings(&[0; 20], 500), 0);
    assert_eq!(warnings(&[0; 20], 61_000), 1);
    // Within the target but past the tail of the sampled waits.
    assert_eq!(warnings(&[1_000; 20], 5_000), 1);
    assert_eq!(warnings(&[10_000; 20], 5_000), 0);
    // Nothing sampled at all.
    assert_eq!(warnings(&[], 1), 1);
}

#[test]
fn live_only_counters_do_not_apply_in_virtual_time() {
    let t = |k: &str, c: &str| Threshold::parse(k, c).unwrap();
    let ths = [
        t("messages.undelivered_at_end", "== 0"),
        t("errors.reply_lost", "== 0"),
        t("errors.connection_closed", "< 1"),
        t("errors.already_accepted", ">= 0"),
        t("errors", ">= 0"),
    ];
    let mut s = crafted();
    s.apply_thresholds(&ths);
    let verdicts: Vec<_> = s.thresholds.iter().map(|r| r.verdict()).collect();
    assert_eq!(verdicts, ["N/A", "N/A", "N/A", "PASS", "PASS"]);
    assert!(s.passed);
    s.mode = Mode::Live;
    s.apply_thresholds(&ths);
    let verdicts: Vec<_> = s.thresholds.iter().map(|r| r.verdict()).collect();
    assert_eq!(verdicts, ["PASS"; 5]);
}

#[test]
fn real_time_thresholds_do_not_apply_in_virtual_time() {
    let t = |k: &str, c: &str| Threshold::parse(k, c).unwrap();
    // crafted() is a virtual run whose message latencies are ~1.5 ms.
    let mut s = crafted();
    let ths = [
        t("message_latency.p99", "< 1ms"),
        t("connect_time.p99", "< 1s"),
        t("accept_wait.p95", "< 90s"),
    ];
    s.apply_thresholds(&ths);
    assert!(s.passed, "{:?}", s.thresholds);
    assert_eq!(s.thresholds[0].verdict(), "N/A");
    assert!(s.thresholds[0].not_applicable.is_some());
    assert_eq!(s.thresholds[1].verdict(), "N/A");
    assert_eq!(s.thresholds[2].verdict(), "PASS");
    assert!(s.thresholds[2].not_applicable.is_none());
    // A failing scenario-time threshold still fails the run.
    s.apply_thresholds(&[
        t("message_latency.p99", "< 1ms"),
        t("accept_wait.p95", "< 1s"),
    ]);
    assert!(!s.passed);
    assert_eq!(s.thresholds[1].verdict(), "FAIL");
    // Live mode: the same thresholds are checked as usual; no data fails.
    s.mode = Mode::Live;
    s.apply_thresholds(&ths);
    assert_eq!(s.thresholds[0].verdict(), "FAIL");
    assert_eq!(s.thresholds[1].verdict(), "FAIL");
    assert_eq!(s.thresholds[1].observed, None);
    assert!(!s.passed);
    s.apply_thresholds(&[t("message_latency.p99", "< 2ms")]);
    assert!(s.passed);
    // The verdict survives the JSON round trip; older files without the field read as
    // applicable.
    let v = serde_json::to_value(&s.thresholds[0]).unwrap();
    assert!(v.get("not_applicable").is_none());
    let back: crate::threshold::ThresholdResult = serde_json::from_value(v).unwrap();
    assert_eq!(back, s.thresholds[0]);
}

#[test]
fn wall_clock_is_one_section_of_its_own() {
    let s = crafted();
    let v = serde_json::to_value(&s).unwrap();
    assert!(v.get("started_at").is_none());
    assert_eq!(v["wall_clock"]["real_seconds"], 1.5);
    assert_eq!(
        v["elapsed"],
        serde_json::json!({"scenario_seconds": 600.0, "interval_seconds": 2.0})
    );
    let text = serde_json::to_string_pretty(&s).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert!(keys.contains(&"wall_clock"));
    assert!(text.trim_end().ends_with('}'));
    assert!(
        text.rfind("\"wall_clock\"") > text.rfind("\"resolved_scenario\""),
        "wall_clock comes last"
    );
}

#[test]
fn intervals_attribute_counts_and_samples_and_merge_to_the_totals() {
    use crate::metrics::interval::Gauges;
    let target = Duration::from_secs(60);
    let len = Duration::from_secs(10);
    let mut a = Recorder::new(target).with_interval(len);
    a.set_now(Duration::from_secs(5), None);
    a.counters.chats.offered += 1;
    a.record(MetricName::AcceptWait, Duration::from_secs(3));
    // Increments between two set_now calls belong to the earlier instant's interval.
    a.set_now(Duration::from_secs(25), None);
    a.counters.chats.accepted += 1;
    a.counters.messages.sent += 2;
    a.record(MetricName::AcceptWait, Duration::from_secs(7));
    a.gauges(
        Duration::from_secs(20),
        Gauges {
            queued: 4,
            active_chats: 2,
            agents_available: 3,
            free_slots: 1,
        },
    );
    let mut b = Recorder::new(target).with_interval(len);
    b.set_now(Duration::from_secs(21), Some(Duration::from_secs(1)));
    b.counters.chats.offered += 1;
    b.counters.error("already_accepted");
    for i in 0..100u64 {
        b.record(MetricName::AcceptWait, Duration::from_millis(100 + i));
    }
    let mut total = Recorder::merge_all(target, [&a, &b]).unwrap();
    assert_eq!(total.interval(), len);
    assert!(total.real_time_known());
    let tl = total.timeline().clone();
    assert_eq!(tl.len(), 3);
    let i0 = tl.get(0).unwrap();
    assert_eq!((i0.counts.offered, i0.counts.accepted), (1, 0));
    assert!(tl.get(1).is_none());
    let i2 = tl.get(2).unwrap();
    assert_eq!(
        (
            i2.counts.offered,
            i2.counts.accepted,
            i2.counts.messages,
            i2.counts.errors
        ),
        (1, 1, 2, 1)
    );
    assert_eq!(i2.gauges.map(|(_, g)| g.queued), Some(4));
    // The end-of-run histogram is exactly the merge of the interval histograms.
    let mut merged = crate::metrics::recorder::new_histogram().unwrap();
    for i in 0..tl.len() {
        if let Some(h) = tl
            .get(i)
            .and_then(|iv| iv.histogram(MetricName::AcceptWait))
        {
            merged.add(&h).unwrap();
        }
    }
    let h = total.histogram(MetricName::AcceptWait).unwrap();
    assert_eq!(h.len(), 102);
    let counts = |h: &hdrhistogram::Histogram<u64>| {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(h), counts(&merged));
}

/// With 1,000 samples 1..=1000 ms, p99.9 is the 999th (999 ms), not the maximum:
/// the quantile is 0.999 exactly, not 99.9 / 100.
#[test]
fn p999_of_a_thousand_samples_is_the_999th() {
    let mut h = super::recorder::new_histogram().expect("histogram");
    for ms in 1..=1000u64 {
        h.record(ms * 1000).expect("in range");
    }
    let s = MetricSummary::from_histogram(&h, None);
    let p999 = s.p999.expect("samples");
    assert!((998.0..1000.0).contains(&p999), "p99.9 = {p999} ms");
}

/// The load generator is flagged when its lag is large in real time, or when, scaled
/// by `time_scale`, it is a noticeable share of the service-level target.
#[test]
fn scheduler_lag_is_weighed_by_time_scale() {
    let summary = |lag_ms: u64, time_scale: f64| {
        let mut r = Recorder::new(Duration::from_secs(60));
        for _ in 0..100 {
            r.record(MetricName::SchedulerLag, Duration::from_millis(lag_ms));
        }
        let info = RunInfo {
            time_scale,
            ..info()
        };
        Summary::build(info, &mut r).unwrap().warnings
    };
    // 4 ms late at 20×: 80 ms of a 60 s target. Nothing to say.
    assert!(summary(4, 20.0).is_empty());
    // 4 ms late at 3000×: 12 s of scenario time, 20% of the target.
    let w = summary(4, 3000.0);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("time_scale magnifies")
            && w[0].contains("12.0")
            && w[0].contains("20% of the"),
        "{}",
        w[0]
    );
    // 50 ms late at 1×: over the real-time bound, not a share of the target.
    let w = summary(50, 1.0);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("load generator overloaded") && !w[0].contains("time_scale 1 "),
        "{}",
        w[0]
    );
}

#[test]
fn messages_unseen_at_the_end_are_counted_and_warned_of_when_older_than_the_p99() {
    let warnings = |count: u64, oldest_ms: u64| {
        let mut r = Recorder::new(Duration::from_secs(60));
        for ms in 1..=100 {
            r.record(MetricName::MessageLatency, Duration::from_millis(ms));
        }
        r.set_undelivered_at_end(count, Some(Duration::from_millis(oldest_ms)));
        let info = RunInfo {
            mode: Mode::Live,
            ..RunInfo::unit()
        };
        let s = Summary::build(info, &mut r).unwrap();
        assert_eq!(s.counters.get("messages.undelivered_at_end"), Some(count));
        s.warnings
    };
    // On their way at the last instant, younger than the p99 (99 ms): nothing to say.
    assert!(warnings(3, 40).is_empty());
    let w = warnings(3, 2500);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("3 message(s) sent were not seen by the other side")
            && w[0].contains("2500.000 ms")
            && w[0].contains("p99 of 99."),
        "{}",
        w[0]
    );
    // Without any message seen, any left over is worth a word.
    let mut r = Recorder::new(Duration::from_secs(60));
    r.set_undelivered_at_end(1, Some(Duration::from_millis(1)));
    let w = Summary::build(RunInfo::unit(), &mut r).unwrap().warnings;
    assert!(w.iter().any(|w| w.contains("(no sample at all)")), "{w:?}");
}

#[test]
fn lost_chats_in_a_run_compressed_to_seconds_are_doubted() {
    let warnings = |mode, time_scale: f64| {
        let mut r = Recorder::new(Duration::from_secs(60));
        r.counters.chats.offered = 3;
        r.counters.chats.lost = 2;
        let info = RunInfo {
            mode,
            time_scale,
            ..RunInfo::unit()
        };
        Summary::build(info, &mut r).unwrap().warnings
    };
    // 600 s of scenario time at 1000×: 0.6 s of real time.
    let w = warnings(Mode::Live, 1000.0);
    assert!(
        w.iter()
            .any(|w| w.starts_with("2 chat(s) counted lost in a run of 0.60 s of real time")),
        "{w:?}"
    );
    // At 20× the run lasts 30 s: lost is lost.
    assert!(warnings(Mode::Live, 20.0).is_empty());
    // Virtual time has no real time to be short of.
    assert!(warnings(Mode::Virtual, 1000.0).is_empty());
}
