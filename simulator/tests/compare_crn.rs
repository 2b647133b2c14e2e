//! `switchboard compare`: common random numbers (every variant of replication i sees
//! the same arrivals), up-front refusal of invalid keys and values, and the files.

use std::path::PathBuf;
use switchboard_sim::compare::{self, Plan, Vary};
use switchboard_sim::metrics::Mode;
use switchboard_sim::scenario::Override;
use switchboard_sim::scenario::Scenario;
use switchboard_sim::virtual_time::VirtualRun;

const SCENARIO: &str = r#"
name = "crn"
seed = 40
duration = "2h"
drain = "1h"
service_level_target = "30s"

[routing]
policy = "least-active"

[[queues]]
name = "q"

[[agents]]
group = "desk"
count = 6
queues = ["q"]
available_for = 2
handle_time = "exp(mean=4m)"

[[users]]
name = "web"
queue = "q"
arrival = "poisson(rate=150/h)"
patience = "exp(mean=2m)"
messages = "2"
"#;

fn file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-crn-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("crn.toml");
    std::fs::write(&path, SCENARIO).expect("write scenario");
    path
}

/// `plan` compared in virtual time, ranked by the default metric.
async fn in_virtual_time(plan: &Plan) -> compare::Comparison {
    compare::compare(
        plan,
        Mode::Virtual,
        compare::RankBy::default(),
        |_, _, _| {},
    )
    .await
    .expect("runs")
}

fn vary(s: &str) -> Vary {
    s.parse().expect("valid --vary")
}

#[test]
fn every_variant_of_a_replication_sees_the_same_arrivals() {
    let path = file("arrivals");
    let plan = Plan::new(
        &path,
        &[],
        vec![
            vary("routing.policy=least-active,round-robin,fill-first"),
            vary("agents.desk.available_for=1,3"),
        ],
        3,
    )
    .expect("valid plan");
    assert_eq!(plan.variants.len(), 6);
    for i in 0..plan.replications {
        let arrivals = |s: &Scenario| -> Vec<std::time::Duration> {
            let mut s = s.clone();
            s.seed = plan.seed + i;
            s.arrival_schedule(0).expect("stream").collect()
        };
        let patience = |s: &Scenario| -> Vec<u64> {
            let mut s = s.clone();
            s.seed = plan.seed + i;
            (0..50)
                .map(|n| rand::Rng::random::<u64>(&mut s.user_rng(0, n)))
                .collect()
        };
        let reference = arrivals(&plan.variants[0].scenario);
        assert!(reference.len() > 200);
        for v in &plan.variants[1..] {
            assert_eq!(arrivals(&v.scenario), reference, "{}", v.name);
            assert_eq!(patience(&v.scenario), patience(&plan.variants[0].scenario));
        }
    }
    // And a different replication sees different arrivals.
    let mut other = plan.variants[0].scenario.clone();
    other.seed += 1;
    let a: Vec<_> = plan.variants[0]
        .scenario
        .arrival_schedule(0)
        .expect("s")
        .collect();
    let b: Vec<_> = other.arrival_schedule(0).expect("s").collect();
    assert_ne!(a, b);
}

#[test]
fn runs_of_a_replication_offer_the_same_chats() {
    let path = file("runs");
    let plan = Plan::new(
        &path,
        &[],
        vec![vary("routing.policy=least-active,fill-first")],
        1,
    )
    .expect("valid plan");
    let offered: Vec<u64> = plan
        .variants
        .iter()
        .map(|v| {
            VirtualRun::new(&v.scenario)
                .expect("desk")
                .run()
                .0
                .counters
                .chats
                .offered
        })
        .collect();
    assert_eq!(offered[0], offered[1]);
}

/// A stream without a name is named after its queue; varying that queue must not
/// redraw its arrivals (the name, and so the generator, is pinned to the base one).
#[test]
fn varying_an_unnamed_stream_s_queue_keeps_its_arrivals() {
    let dir = std::env::temp_dir().join(format!("switchboard-crn-{}-unnamed", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("crn.toml");
    let text = SCENARIO
        .replace(
            "[[queues]]\nname = \"q\"",
            "[[queues]]\nname = \"q\"\n\n[[queues]]\nname = \"r\"",
        )
        .replace("queues = [\"q\"]", "queues = [\"q\", \"r\"]")
        .replace("name = \"web\"\n", "");
    assert!(!text.contains("\"web\""));
    std::fs::write(&path, text).expect("write scenario");
    let plan = Plan::new(&path, &[], vec![vary("users.q.queue=q,r")], 1).expect("valid plan");
    let arrivals: Vec<Vec<_>> = plan
        .variants
        .iter()
        .map(|v| v.scenario.arrival_schedule(0).expect("stream").collect())
        .collect();
    assert_eq!(plan.variants[1].scenario.users[0].queue, "r");
    assert_eq!(arrivals[0], arrivals[1]);
}

/// Common random numbers hold for the work too: a chat's handle time and the delays of
/// its answers come from the chat's own generator, not the agent's. With identical
/// agents and exponential handle times, every work-conserving policy gives the same
/// queue, chat for chat: only which agent did the work (fairness) differs.
#[test]
fn work_conserving_policies_give_the_same_queue_on_the_same_seed() {
    let path = file("work");
    let plan = Plan::new(
        &path,
        &[],
        vec![vary("routing.policy=least-active,round-robin,longest-idle")],
        1,
    )
    .expect("valid plan");
    let figures: Vec<_> = plan
        .variants
        .iter()
        .map(|v| {
            let (rec, _, desk) = VirtualRun::new(&v.scenario).expect("desk").run();
            let waits: Vec<_> = desk
                .chats()
                .map(|c| (c.id, c.state.name(), c.agents.len()))
                .collect();
            (rec.counters.chats.clone(), waits)
        })
        .collect();
    assert!(figures[0].0.accepted > 100, "{:?}", figures[0].0);
    for f in &figures[1..] {
        assert_eq!(f, &figures[0]);
    }
}

/// Why a plan varying `varies` (two replications, no overrides) is refused.
fn refused(path: &std::path::Path, varies: &[&str]) -> String {
    Plan::new(path, &[], varies.iter().map(|v| vary(v)).collect(), 2)
        .expect_err("refused")
        .to_string()
}

#[test]
fn invalid_keys_and_values_are_refused_up_front_with_the_valid_keys() {
    let path = file("invalid");
    let err = refused(&path, &["routing.polcy=round-robin"]);
    assert!(err.contains("routing.polcy"), "{err}");
    assert!(
        err.contains("valid keys:") && err.contains("available_for"),
        "{err}"
    );
    assert_eq!(err.matches("valid keys:").count(), 1, "listed once: {err}");
    // A bad value needs no list of keys; a value given twice is refused.
    let err = refused(&path, &["routing.policy=least-active,least-active,fastest"]);
    assert!(
        err.contains("routing.policy=least-active: given twice"),
        "{err}"
    );
    assert!(err.contains("fastest"), "{err}");
    assert!(!err.contains("valid keys"), "{err}");
    // So is a value that means the same as another one written differently.
    let err = refused(&path, &["duration=2m,90s,120s"]);
    assert!(
        err.contains("duration=120s: the same scenario as duration=2m"),
        "{err}"
    );
    assert!(!err.contains("90s"), "{err}");
    // And two combinations that make one scenario: here one field named two ways, the
    // later override winning.
    let err = refused(
        &path,
        &["users.0.patience=1m,2m", "users.web.patience=1m,3m"],
    );
    assert!(
        err.contains(
            "users.0.patience=2m, users.web.patience=1m: the same scenario as \
             users.0.patience=1m, users.web.patience=1m"
        ),
        "{err}"
    );
    // Replication seeds stay within what a scenario file can hold.
    let near_the_top: Override = "seed=9223372036854775806".parse().expect("override");
    let err = Plan::new(
        &path,
        &[near_the_top],
        vec![vary("routing.policy=random")],
        5,
    )
    .expect_err("seeds overflow")
    .to_string();
    assert!(err.contains("run past the largest seed"), "{err}");
    let err = refused(
        &path,
        &[
            "routing.policy=least-active,fastest",
            "agents.desk.available_for=2,9",
        ],
    );
    assert!(err.contains("fastest"), "{err}");
    assert!(err.contains("available_for=9"), "{err}");
    assert!("routing.policy".parse::<Vary>().is_err());
    assert!(Plan::new(&path, &[], vec![vary("seed=1,2")], 2).is_err());
    // Keys that cannot change the figures: always, or in virtual time.
    let err = refused(&path, &["thresholds.abandon_rate=<1%,<50%"]);
    assert!(err.contains("thresholds.abandon_rate"), "{err}");
    let plan = Plan::new(&path, &[], vec![vary("time_scale=1,60")], 2).expect("valid plan");
    let err = plan
        .check_mode(Mode::Virtual)
        .expect_err("virtual time has no time_scale")
        .to_string();
    assert!(
        err.contains("`time_scale`") && err.contains("--mode live"),
        "{err}"
    );
    assert!(plan.check_mode(Mode::Live).is_ok());
    // A variant whose live run would be refused stops a live comparison before any
    // run: here a grace period time_scale shrinks below a millisecond.
    let fast: Override = "time_scale=1000".parse().expect("override");
    let plan = Plan::new(
        &path,
        &[fast],
        vec![vary("faults.agent_grace=10s,100ms")],
        2,
    )
    .expect("valid plan");
    let err = plan
        .check_mode(Mode::Live)
        .expect_err("a grace of 0.1 ms")
        .to_string();
    assert!(
        err.starts_with("faults.agent_grace=100ms: ") && !err.contains("=10s"),
        "{err}"
    );
    assert!(plan.check_mode(Mode::Virtual).is_ok());
}

#[tokio::test]
async fn compare_writes_csv_html_and_ranks_with_paired_differences() {
    let path = file("report");
    let plan = Plan::new(
        &path,
        &[],
        vec![
            vary("routing.policy=least-active,fill-first"),
            vary("agents.desk.count=4,6"),
        ],
        3,
    )
    .expect("valid plan");
    let result = in_virtual_time(&plan).await;
    // CRN: within a replication every variant was offered the same chats.
    for i in 0..3 {
        let offered: Vec<u64> = result.variants.iter().map(|v| v.runs[i].offered).collect();
        assert!(offered.windows(2).all(|w| w[0] == w[1]), "{offered:?}");
    }
    let out = path.parent().expect("dir").join("out");
    compare::write(&result, &out).expect("written");
    let csv = std::fs::read_to_string(out.join("comparison.csv")).expect("csv");
    assert!(csv.starts_with(compare::report::CSV_HEADER));
    // 4 variants x 9 metrics.
    assert_eq!(csv.lines().count(), 1 + 4 * 9);
    assert!(csv.contains("\"routing.policy=fill-first, agents.desk.count=4\",service_level"));
    let html = std::fs::read_to_string(out.join("comparison.html")).expect("html");
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(
        !html.contains("http://")
            || html.matches("http://").count()
                == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    let text = compare::report::render(&result);
    assert!(text.contains("Paired differences"), "{text}");
    // Four agents instead of six must be significantly worse on service level.
    let best = result.ranking()[0];
    assert!(result.variants[best].name.ends_with("count=6"), "{text}");
    // Who got the work is compared too: it is where policies differ when slots are
    // to spare.
    let paired = &text[text.find("Paired differences").unwrap()..];
    let four: Vec<&str> = paired
        .lines()
        .filter(|l| l.contains("count=4") && l.contains(" service_level "))
        .collect();
    assert!(!four.is_empty(), "{text}");
    for line in four {
        assert!(
            line.ends_with(" significant") && !line.ends_with("not significant"),
            "{text}"
        );
    }
    assert_eq!(
        paired.lines().filter(|l| l.contains(" fairness ")).count(),
        3,
        "{text}"
    );
    // A difference that is zero in every replication says so, not "+0.00 not
    // significant".
    assert!(!paired.contains("+0.00 pp [+0.00 pp, +0.00 pp]"), "{text}");
    assert!(paired.contains("the same in every replication"), "{text}");
}

#[tokio::test]
async fn a_desk_of_several_queues_is_compared_queue_by_queue() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/quickstart.toml");
    let plan = Plan::new(
        &path,
        &[],
        vec![vary("routing.policy=least-active,fill-first")],
        2,
    )
    .expect("valid plan");
    let result = in_virtual_time(&plan).await;
    assert_eq!(result.queues(), ["hardware", "software"]);
    let text = compare::report::render(&result);
    for q in ["hardware", "software"] {
        assert!(text.contains(&format!("queue `{q}`")), "{text}");
    }
    // Each queue's rows in the CSV: 2 queues x 2 variants x 3 figures.
    let csv = compare::report::to_csv(&result);
    let queue_rows: Vec<&str> = csv.lines().filter(|l| l.contains(",queues.")).collect();
    assert_eq!(queue_rows.len(), 12, "{csv}");
    assert!(
        queue_rows
            .iter()
            .any(|l| l.contains(",queues.software.service_level,ratio,2,")),
        "{csv}"
    );
    let html = compare::html::to_html(&result);
    assert!(html.contains("<h2>By queue</h2>"));
}
