//! The simulator end to end: the quickstart scenario, compressed, against the embedded
//! server and against a separately started `switchboard-server` process, with every
//! counter checked for consistency and the report files present.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use switchboard_sim::history::{History, What};
use switchboard_sim::live::LiveOptions;
use switchboard_sim::metrics::Summary;
use switchboard_sim::run::{self, Driver};
use switchboard_sim::scenario::{Override, Scenario};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Quickstart with time compressed 200x: ten minutes of arrivals in three seconds.
/// Quickstart at 200×, with the thresholds on waits loosened: 250 ms of real message
/// latency, or 60 s of scenario time (300 ms real) to be accepted, are targets for a
/// real run, not for a test on a busy machine. `chats.lost == 0` stays.
fn quickstart() -> (Scenario, Vec<Override>) {
    let sets: Vec<Override> = [
        "time_scale=200",
        "drain=3m",
        "thresholds.message_latency.p99=< 10s",
        "thresholds.accept_wait.p95=< 1h",
        "thresholds.abandon_rate=< 100%",
    ]
    .iter()
    .map(|s| s.parse().expect("valid override"))
    .collect();
    let path = workspace().join("scenarios/quickstart.toml");
    let scenario = Scenario::load(&path, &sets).expect("quickstart loads");
    (scenario, sets)
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every chat offered ended up accepted, abandoned or still waiting; nothing lost; the
/// workflows of quickstart all happened.
fn check_counters(s: &Summary, with_reference_data: bool) {
    let c = &s.counters.chats;
    assert!(c.offered >= 20, "{c:?}");
    assert_eq!(
        c.offered,
        c.accepted + c.abandoned + c.queued_at_end + c.lost,
        "{c:?}"
    );
    assert_eq!(c.lost, 0, "{c:?}");
    assert_eq!(c.accepted, c.closed + c.active_at_end, "{c:?}");
    // Each queue's users add up to the desk's.
    assert_eq!(s.queues.len(), 2, "{:?}", s.queues);
    let sum = |f: fn(&switchboard_sim::metrics::QueueSummary) -> u64| -> u64 {
        s.queues.values().map(f).sum()
    };
    assert_eq!(sum(|q| q.chats.offered), c.offered);
    assert_eq!(sum(|q| q.chats.accepted), c.accepted);
    assert_eq!(sum(|q| q.chats.abandoned), c.abandoned);
    assert_eq!(sum(|q| q.chats.lost), c.lost);
    assert_eq!(sum(|q| q.chats.queued_at_end), c.queued_at_end);
    assert_eq!(sum(|q| q.accept_wait.count), c.accepted);
    let t = &s.counters.tickets;
    assert!(t.incidents + t.work_orders <= c.accepted, "{t:?} {c:?}");
    assert!(t.incidents + t.work_orders > 0, "{t:?}");
    assert!(s.counters.messages.sent > 0);
    if with_reference_data {
        assert!(s.counters.articles.shared > 0);
        assert!(s.counters.tickets.from_template > 0);
    }
    for m in [
        "accept_wait",
        "handle_time",
        "message_latency",
        "connect_time",
    ] {
        let v = s
            .metrics
            .0
            .iter()
            .find(|(n, _)| n == m)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("metric {m} missing"));
        assert!(v.count > 0, "no {m} samples");
    }
    assert!(
        !s.counters.errors.contains_key("connect_failed"),
        "{:?}",
        s.counters.errors
    );
}

fn check_files(dir: &Path, s: &Summary) {
    for f in ["summary.json", "summary.csv", "history.jsonl"] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    let history = History::read(&dir.join("history.jsonl")).expect("history parses");
    let starts = history
        .events
        .iter()
        .filter(|e| matches!(&e.what, What::Send { command } if command.name() == "start_chat"))
        .count() as u64;
    assert_eq!(starts, s.counters.chats.offered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_against_the_embedded_server() {
    let (scenario, sets) = quickstart();
    let dir = out_dir("embedded");
    let summary = finished(&scenario, &sets, embedded(), &dir, 120).await;
    check_counters(&summary, true);
    check_files(&dir, &summary);
    check_latency_intervals(&dir);
    assert!(dir.join("journal.jsonl").is_file());
    // The embedded server publishes its gauges: sampled from the start on.
    let rows = switchboard_sim::report::timeseries::parse(
        &std::fs::read_to_string(dir.join("timeseries.csv")).expect("timeseries.csv"),
    )
    .expect("timeseries parses");
    assert!(
        rows[0].queued.is_some() && rows[0].agents_available.is_some(),
        "{:?}",
        rows[0]
    );
    // What else the machine did during the run is measured wherever /proc tells
    // steal time (its `cpu` line has at least eight figures).
    let steal_known = std::fs::read_to_string("/proc/stat").is_ok_and(|s| {
        s.lines()
            .next()
            .is_some_and(|l| l.split_whitespace().count() > 8)
    });
    if steal_known {
        let i = summary.wall_clock.interference.expect("measured");
        assert!(i.stolen_cores >= 0.0 && i.others_cores >= 0.0, "{i:?}");
    }
    assert!(summary.passed, "{:?}", summary.thresholds);
}

/// Each `message_latency` sample is filed in `histograms.hlog` under the interval in
/// which its message arrived (the history's notice), not under the interval of the
/// participant's previous input. Both are stamped with the same instant; a sample
/// within a millisecond of scenario time of a boundary may still fall either side of it
/// (floating-point milliseconds against whole intervals).
fn check_latency_intervals(dir: &Path) {
    use switchboard_sim::live::conn::stamped;
    use switchboard_sim::metrics::MetricName;
    let bytes = std::fs::read(dir.join("histograms.hlog")).expect("histograms.hlog");
    let logged = switchboard_sim::report::hlog::read(&bytes).expect("hlog reads");
    let per = &logged[&MetricName::MessageLatency];
    let history = History::read(&dir.join("history.jsonl")).expect("history parses");
    let arrived: Vec<f64> = history
        .events
        .iter()
        .filter(|e| matches!(&e.what, What::Notice { notice } if stamped(notice).is_some()))
        .map(|e| e.t_ms)
        .collect();
    let total: u64 = per.iter().map(|(_, h)| h.len()).sum();
    assert_eq!(arrived.len() as u64, total);
    let tolerance_ms = 1.0;
    let mut filed = 0;
    for pair in per.windows(2) {
        let ((_, h), (next, _)) = (&pair[0], &pair[1]);
        filed += h.len();
        let end = next.as_secs_f64() * 1000.0;
        let surely = arrived.iter().filter(|t| **t < end - tolerance_ms).count() as u64;
        let perhaps = arrived.iter().filter(|t| **t < end + tolerance_ms).count() as u64;
        assert!(
            (surely..=perhaps).contains(&filed),
            "{filed} samples filed before {end} ms, but {surely}..={perhaps} arrived before"
        );
    }
}

/// The server binary, built if this test run did not build it yet.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("switchboard-server");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args([
                "build",
                "-p",
                "switchboard-server",
                "--bin",
                "switchboard-server",
            ])
            .status()
            .expect("cargo runs");
        assert!(ok.success());
    }
    bin
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `switchboard-server` on a free port with the admin token `e2e-admin`.
fn start_server_process() -> (Server, std::net::SocketAddr) {
    let mut child = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--admin-token", "e2e-admin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("address line");
    let addr = first
        .split_whitespace()
        .find_map(|w| {
            w.trim_start_matches("http://")
                .trim_start_matches("ws://")
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    (server, addr)
}

/// Live options against the server process `addr` started by [`start_server_process`].
fn against(addr: std::net::SocketAddr) -> LiveOptions {
    LiveOptions {
        target: Some((addr, "e2e-admin".into())),
        ..embedded()
    }
}

/// A live run on the embedded server, history kept.
fn embedded() -> LiveOptions {
    LiveOptions {
        target: None,
        journal: None,
        progress: false,
        history: true,
        interrupt_ends_at_once: false,
    }
}

/// Runs `scenario` live with `opts` into `dir`: its summary, once it has finished
/// (within `secs` seconds) and succeeded.
async fn finished(
    scenario: &Scenario,
    sets: &[Override],
    opts: LiveOptions,
    dir: &Path,
    secs: u64,
) -> Summary {
    tokio::time::timeout(
        Duration::from_secs(secs),
        run::run(scenario, sets, Driver::Live(opts), dir),
    )
    .await
    .expect("run finishes in time")
    .expect("run succeeds")
}

/// Waits (up to a minute) until the server at `addr` reports `gauge` at `at_least` or
/// more on `/metrics`.
async fn gauge_reaches(addr: std::net::SocketAddr, gauge: &str, at_least: f64) {
    let reached = async {
        loop {
            let (_, text) = switchboard_tests::http(addr, "GET", "/metrics", None, None)
                .await
                .expect("metrics");
            let samples = switchboard_tests::parse_prometheus(&text).expect("metrics text");
            if switchboard_tests::metric(&samples, gauge).is_some_and(|n| n >= at_least) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), reached)
        .await
        .unwrap_or_else(|_| panic!("{gauge} did not reach {at_least}"));
}

/// The scenario `text`, written into `dir` (its name is the file's) and loaded.
fn scenario_in(dir: &Path, text: &str) -> Scenario {
    std::fs::create_dir_all(dir).expect("out dir");
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("name = "))
        .expect("a name")
        .trim_matches('"');
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("scenario written");
    Scenario::load(&path, &[]).expect("scenario loads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_against_a_separate_server_process() {
    let (server, addr) = start_server_process();
    let (scenario, sets) = quickstart();
    let dir = out_dir("external");
    let summary = finished(&scenario, &sets, against(addr), &dir, 120).await;
    // The bare server has no knowledge articles or templates, and the summary says
    // that those workflows never happened.
    check_counters(&summary, false);
    check_files(&dir, &summary);
    for what in [
        "no knowledge article was shared",
        "no ticket was created from a template",
    ] {
        assert!(
            summary.warnings.iter().any(|w| w.starts_with(what)),
            "{:?}",
            summary.warnings
        );
    }
    drop(server);
}

/// Runs, against the server process at `addr`, a small scenario named `name`: `agents`
/// agents on queue `q`, a user every 10 s for 20 s of scenario time (a second of real
/// time), each writing once, and then `extra` (more TOML). Within a minute.
async fn small_run_against(
    addr: std::net::SocketAddr,
    name: &str,
    agents: u32,
    extra: &str,
) -> Summary {
    let dir = out_dir(name);
    let scenario = scenario_in(
        &dir,
        &format!(
            r#"
name = "{name}"
duration = "20s"
drain = "1m"
time_scale = 20
[[queues]]
name = "q"
[[agents]]
group = "desk"
count = {agents}
queues = ["q"]
[[users]]
queue = "q"
arrival = "constant(rate=6/min)"
messages = "1"
{extra}"#
        ),
    );
    finished(&scenario, &[], against(addr), &dir, 60).await
}

/// An agent that cannot connect (here: the server already has an agent of that name,
/// with another token) never joins a run without fault injection: the summary says the
/// figures describe a smaller team, not only `errors.connect_failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_that_cannot_connect_are_reported() {
    let (server, addr) = start_server_process();
    let taken = r#"{"id":"desk-2","name":"desk-2","token":"someone-elses","queues":["q"]}"#;
    let (queue_status, _) = switchboard_tests::http(
        addr,
        "POST",
        "/admin/queues",
        Some("e2e-admin"),
        Some(r#"{"queue":"q"}"#),
    )
    .await
    .expect("queue created");
    assert!(queue_status < 300, "{queue_status}");
    let (status, body) = switchboard_tests::http(
        addr,
        "POST",
        "/admin/agents",
        Some("e2e-admin"),
        Some(taken),
    )
    .await
    .expect("agent created");
    assert!(status < 300, "{status} {body}");
    let summary = small_run_against(addr, "unconnected-agent", 3, "").await;
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.starts_with("1 of 3 agents could not connect when the run started")),
        "{:?}",
        summary.warnings
    );
    drop(server);
}

/// A separate server keeps its own grace period and outbound queue: the `[faults]` that
/// would set them on the embedded server are warned of, not silently dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_a_separate_server_does_not_share_are_warned_of() {
    let (server, addr) = start_server_process();
    let faults = "[faults]\nagent_grace = \"20s\"\noutbound_queue = 8\n";
    let summary = small_run_against(addr, "unlike-faults", 2, faults).await;
    for unlike in [
        "the server's agent grace period is 30000 ms, not the 1000 ms",
        "the server's outbound queue holds 1024 frames, not the 8",
    ] {
        assert!(
            summary.warnings.iter().any(|w| w.starts_with(unlike)),
            "{unlike}: {:?}",
            summary.warnings
        );
    }
    drop(server);
}

/// Messages a stalled server never passed on are not left out of the run's figures:
/// `message_latency` cannot sample them, so they are counted and warned of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_a_stalled_server_holds_at_the_end_are_counted_and_warned_of() {
    let (server, addr) = start_server_process();
    let dir = out_dir("server-stalls");
    let scenario = scenario_in(
        &dir,
        r#"
name = "server-stalls"
duration = "40s"
drain = "20s"
time_scale = 20
[routing]
auto_accept = true
policy = "least-active"
[[queues]]
name = "q"
[[agents]]
group = "a"
count = 2
queues = ["q"]
available_for = 4
accept_delay = "1s"
reply_delay = "1s"
handle_time = "1h"
[[users]]
queue = "q"
arrival = "constant(rate=12/min)"
messages = "100"
think_time = "1s"
"#,
    );
    let opts = against(addr);
    let run = tokio::spawn(async move { run::run(&scenario, &[], Driver::Live(opts), &dir).await });
    // Once users and agents talk, the server stops (SIGSTOP) for the rest of the run.
    gauge_reaches(addr, r#"switchboard_chats{state="active"}"#, 2.0).await;
    let pid = server.0.id().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, pid.as_str()])
            .status()
            .expect("kill runs");
        assert!(ok.success(), "kill {sig}");
    };
    signal("-STOP");
    let summary = tokio::time::timeout(Duration::from_secs(60), run).await;
    signal("-CONT");
    let summary = summary
        .expect("run ends by itself")
        .expect("run task")
        .expect("run completes");
    let m = &summary.counters.messages;
    assert!(m.sent > 0 && m.undelivered_at_end > 0, "{m:?}");
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.contains("message(s) sent were not seen by the other side")),
        "{:?}",
        summary.warnings
    );
    drop(server);
}

/// Users waiting in a queue when the server dies have lost their chats: they are
/// counted `lost`, not "still waiting at the end", and the run still ends by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_waiting_when_the_server_dies_count_as_lost() {
    let (mut server, addr) = start_server_process();
    let dir = out_dir("server-dies");
    let scenario = scenario_in(
        &dir,
        r#"
name = "server-dies"
duration = "20s"
drain = "10m"
time_scale = 20
[routing]
policy = "manual"
[[queues]]
name = "q"
[[agents]]
group = "slow"
count = 1
queues = ["q"]
accept_delay = "1h"
[[users]]
queue = "q"
arrival = "constant(rate=30/min)"
"#,
    );
    let opts = against(addr);
    let run = tokio::spawn(async move { run::run(&scenario, &[], Driver::Live(opts), &dir).await });
    // 20 s of arrivals at time_scale 20 take a second; the server dies once five
    // users wait, long before the run's horizon (the drain is long: the run must end
    // because its users are gone, not because its time is up).
    gauge_reaches(addr, r#"switchboard_chats{state="queued"}"#, 5.0).await;
    server.0.kill().expect("server killed");
    let summary = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("run ends by itself")
        .expect("run task")
        .expect("run completes");
    let c = &summary.counters.chats;
    assert!(c.offered >= 5, "{c:?}");
    assert_eq!(c.accepted, 0, "{c:?}");
    assert_eq!(c.lost, c.offered, "{c:?}");
    assert_eq!(c.queued_at_end, 0, "{c:?}");
}

/// A live run ends by closing its participants' connections, and the server abandons
/// the chats of users it loses: in the journal every chat ends. The routing checker
/// takes the chats open at the end from just before the first of those closings, as
/// a virtual run's are (a virtual run closes nothing), so `open_at_end` holds the users
/// still waiting and the chats still open when the run ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_open_when_a_live_run_ends_are_open_at_the_end_not_abandoned() {
    let dir = out_dir("open-at-end");
    let scenario = scenario_in(
        &dir,
        r#"
name = "open-at-end"
duration = "40s"
drain = "1s"
time_scale = 20
[[queues]]
name = "q"
[[agents]]
group = "desk"
count = 1
queues = ["q"]
available_for = 1
[[users]]
queue = "q"
arrival = "constant(rate=6/min)"
messages = "50"
think_time = "const(5s)"
"#,
    );
    let summary = finished(&scenario, &[], embedded(), &dir, 60).await;
    let c = &summary.counters.chats;
    // One chat with the agent, the users after it waiting for her.
    assert!(c.active_at_end == 1 && c.queued_at_end >= 2, "{c:?}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("invariants.json")).expect("invariants.json"),
    )
    .expect("invariants.json parses");
    let open = report["open_at_end"].as_object().expect("open_at_end");
    let states: Vec<&str> = open.values().filter_map(|s| s.as_str()).collect();
    assert_eq!(
        open.len() as u64,
        c.active_at_end + c.queued_at_end,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| s.starts_with("active")).count(),
        1,
        "{states:?}"
    );
    assert!(
        report["violations"].as_array().is_some_and(Vec::is_empty),
        "{report}"
    );
}
