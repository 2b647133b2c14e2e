//! Scenario parsing: the issue's example, every kind of error with its position,
//! overrides, and the helpers drivers use.

use super::*;
use crate::dist::Arrival;
use std::time::Duration;
use switchboard_server::domain::{ChatSource, PolicyKind};

/// The example from issue 4, verbatim.
const EXAMPLE: &str = r#"name = "quickstart"
seed = 7
duration = "10m"
time_scale = 20
service_level_target = "60s"

[routing]
auto_accept = true
policy = "least-active"

[[queues]]
name = "hardware"

[[agents]]
group = "tier1"
count = 30
queues = ["hardware"]
available_for = 3                      # Available for N under auto-accept (1..=4)
accept_delay = "lognormal(mean=8s, sd=4s)"   # time to click Accept when pulling manually
reply_delay = "exp(mean=20s)"
transfer = { probability = 0.1, to_queue = "hardware", notes = "customer needs tier 2" }
ticket = { probability = 0.3, work_order_share = 0.3, template_probability = 0.5 }
share_article_probability = 0.2

[[users]]
queue = "hardware"
arrival = "poisson(rate=60/min)"       # open model: arrivals never wait for the server
patience = "exp(mean=3m)"              # abandon if not accepted by then
messages = "uniform(2, 6)"             # messages the user sends in the conversation
think_time = "exp(mean=15s)"
source = "self_service"                # or chatbot (R15)

[thresholds]
"accept_wait.p95" = "< 60s"
"abandon_rate" = "< 5%"
"#;

fn errors(text: &str) -> Vec<String> {
    errors_with(text, &[])
}

fn errors_with(text: &str, sets: &[&str]) -> Vec<String> {
    let ovs: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    match parse(text, "s.toml", &ovs) {
        Ok(_) => Vec::new(),
        Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
    }
}

/// The example with one line replaced.
fn with(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "{from}");
    EXAMPLE.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

fn expect_one(text: &str, prefix_line: usize, field: &str, want: &str) {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert!(
        e.starts_with(&format!("s.toml:{prefix_line}:")),
        "line {prefix_line}: {e}"
    );
    assert!(e.contains(&format!(": {field}: ")), "field {field}: {e}");
    assert!(e.contains(want), "want {want:?}: {e}");
}

#[test]
fn the_issue_example_parses() {
    let s = Scenario::parse(EXAMPLE, "quickstart.toml").unwrap();
    assert_eq!(s.name, "quickstart");
    assert_eq!(s.seed, 7);
    assert_eq!(s.duration, Duration::from_secs(600));
    assert_eq!(s.time_scale, 20.0);
    assert_eq!(s.service_level_target, Duration::from_secs(60));
    assert_eq!(s.drain, Duration::from_secs(300));
    let cfg = s.routing_config();
    assert!(cfg.auto_accept);
    assert_eq!(cfg.policy, PolicyKind::LeastActive);
    let g = &s.agents[0];
    assert_eq!(
        (g.group.as_str(), g.count, g.available_for),
        ("tier1", 30, 3)
    );
    assert_eq!(g.accept_delay.to_string(), "lognormal(mean=8s, sd=4s)");
    let t = g.transfer.as_ref().unwrap();
    assert_eq!(t.to_queue.as_deref(), Some("hardware"));
    assert_eq!(t.notes, "customer needs tier 2");
    assert_eq!(g.ticket.as_ref().unwrap().template_probability, 0.5);
    let u = &s.users[0];
    assert_eq!(u.name(), "hardware");
    assert!(matches!(u.arrival, Arrival::Poisson(_)));
    assert_eq!(u.source, ChatSource::SelfService);
    assert_eq!(u.messages.to_string(), "uniform(2, 6)");
    assert_eq!(s.thresholds.0.len(), 2);
    assert_eq!(s.thresholds.0[0].expression(), "accept_wait.p95 < 60s");
    assert_eq!(s.agent_count(), 30);
    assert!((s.expected_users() - 600.0).abs() < 1e-9);
}

#[test]
fn defaults_fill_a_minimal_file() {
    let s = Scenario::parse(
        r#"name = "min"
duration = "1m"
[[queues]]
name = "q"
[[agents]]
group = "g"
count = 1
queues = ["q"]
[[users]]
queue = "q"
arrival = "constant(rate=1/s)"
"#,
        "m.toml",
    )
    .unwrap();
    assert_eq!(s.seed, 0);
    assert_eq!(s.time_scale, 1.0);
    assert_eq!(s.agents[0].available_for, 1);
    assert_eq!(s.agents[0].reply_delay.to_string(), "exp(mean=20s)");
    assert!(s.users[0].patience.is_none());
    assert_eq!(s.users[0].messages.to_string(), "const(3)");
    assert!(s.routing.auto_accept());
    assert!(s.thresholds.0.is_empty());
}

#[test]
fn resolved_scenario_round_trips() {
    let s = Scenario::parse(EXAMPLE, "q.toml").unwrap();
    let v = s.resolved();
    assert_eq!(v["routing"]["auto_accept"], true);
    assert_eq!(v["routing"]["policy"], "least-active");
    assert_eq!(v["agents"][0]["accept_delay"], "lognormal(mean=8s, sd=4s)");
    assert_eq!(v["users"][0]["arrival"], "poisson(rate=60/min)");
    assert_eq!(v["thresholds"]["abandon_rate"], "< 5%");
    assert_eq!(v["duration"], "10m");
    // The resolved form is itself a valid scenario.
    let toml_text = toml::to_string(&s).unwrap();
    let back = Scenario::parse(&toml_text, "resolved.toml").unwrap();
    assert_eq!(back, s);
}

#[test]
fn unknown_fields_are_refused_with_their_position() {
    let text = with(
        "share_article_probability = 0.2",
        "share_article_probabilty = 0.2",
    );
    expect_one(
        &text,
        line_of(&text, "share_article_probabilty"),
        "agents[0].share_article_probabilty",
        "unknown field `share_article_probabilty`",
    );
    let text = with(
        "name = \"hardware\"",
        "name = \"hardware\"\ncolour = \"red\"",
    );
    expect_one(
        &text,
        line_of(&text, "colour"),
        "queues[0].colour",
        "unknown field",
    );
}

#[test]
fn unknown_policy_lists_the_valid_ones() {
    let text = with("policy = \"least-active\"", "policy = \"fastest\"");
    expect_one(
        &text,
        9,
        "routing.policy",
        "unknown policy `fastest`; expected one of: manual, round-robin, least-active",
    );
    let errs = errors(&text);
    assert!(errs[0].starts_with("s.toml:9:10:"), "{}", errs[0]);
}

#[test]
fn available_for_outside_one_to_four() {
    let text = with("available_for = 3 ", "available_for = 5 ");
    expect_one(
        &text,
        18,
        "agents[0].available_for",
        "available_for must be 1..=4",
    );
    let text = with("available_for = 3 ", "available_for = 0 ");
    expect_one(&text, 18, "agents[0].available_for", "got 0");
    let text = with("available_for = 3 ", "available_for = -1 ");
    expect_one(
        &text,
        18,
        "agents[0].available_for",
        "expected a whole number from 1 to 4",
    );
    // A number the field's type cannot hold gets the documented range too.
    let text = with("available_for = 3 ", "available_for = 300 ");
    expect_one(
        &text,
        18,
        "agents[0].available_for",
        "invalid value: integer `300`, expected a whole number from 1 to 4",
    );
}

#[test]
fn a_wrong_type_names_the_documented_range() {
    let text = with("count = 30", "count = \"two\"");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("agents[0].count")
            && errs[0].contains("expected a whole number from 1 to 1000000"),
        "{errs:#?}"
    );
    let errs = errors_with(EXAMPLE, &["routing.max_transfer_accepts=300"]);
    assert!(
        errs.iter()
            .any(|e| e.contains("routing.max_transfer_accepts")
                && e.contains("expected a whole number from 1 to 4")),
        "{errs:#?}"
    );
}

#[test]
fn undeclared_queues_are_named() {
    let text = with(
        "queues = [\"hardware\"]",
        "queues = [\"hardware\", \"software\"]",
    );
    expect_one(
        &text,
        17,
        "agents[0].queues[1]",
        "queue `software` is not declared; declared queues: hardware",
    );
    let text = with("to_queue = \"hardware\"", "to_queue = \"network\"");
    expect_one(
        &text,
        21,
        "agents[0].transfer.to_queue",
        "queue `network` is not declared",
    );
    let text = with("\nqueue = \"hardware\"", "\nqueue = \"hr\"");
    expect_one(&text, 26, "users[0].queue", "queue `hr` is not declared");
}

#[test]
fn bad_distributions_point_at_their_value() {
    let text = with("exp(mean=20s)", "exp(mean=-20s)");
    expect_one(&text, 20, "agents[0].reply_delay", "must not be negative");
    let text = with("exp(mean=3m)", "exp(mean=0s)");
    expect_one(&text, 28, "users[0].patience", "mean must be positive");
    let text = with("lognormal(mean=8s, sd=4s)", "lognormal(mean=8s)");
    expect_one(&text, 19, "agents[0].accept_delay", "needs `sd`");
    let text = with("\"uniform(2, 6)\"", "\"uniform(6, 2)\"");
    expect_one(&text, 29, "users[0].messages", "A <= B");
    let text = with("duration = \"10m\"", "duration = 600");
    expect_one(&text, 3, "duration", "needs a unit");
    let text = with("poisson(rate=60/min)", "poisson(rate=60/day)");
    expect_one(&text, 27, "users[0].arrival", "unknown rate unit");
}

#[test]
fn probabilities_must_be_between_zero_and_one() {
    let text = with(
        "share_article_probability = 0.2",
        "share_article_probability = 1.2",
    );
    expect_one(
        &text,
        23,
        "agents[0].share_article_probability",
        "between 0 and 1",
    );
    let text = with("work_order_share = 0.3", "work_order_share = -0.3");
    expect_one(
        &text,
        22,
        "agents[0].ticket.work_order_share",
        "between 0 and 1",
    );
}

#[test]
fn empty_groups_and_missing_sections() {
    let text = with("count = 30", "count = 0");
    expect_one(&text, 16, "agents[0].count", "at least one agent");
    let errs = errors("name = \"x\"\nduration = \"1m\"\n");
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs.iter()
            .any(|e| e.contains("queues: declare at least one support queue"))
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("agents: declare at least one agent group"))
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("users: declare at least one user stream"))
    );
    let errs = errors("duration = \"1m\"\n");
    assert!(
        errs.iter().any(|e| e.contains("name: missing or empty")),
        "{errs:?}"
    );
}

#[test]
fn transfers_need_exactly_one_target() {
    let text = with("to_queue = \"hardware\",", "");
    expect_one(&text, 21, "agents[0].transfer", "needs a target");
    let text = with("to_queue = \"hardware\",", "to_agent_group = \"tier3\",");
    expect_one(
        &text,
        21,
        "agents[0].transfer.to_agent_group",
        "agent group `tier3` is not declared; groups: tier1",
    );
    let text = with(
        "to_queue = \"hardware\",",
        "to_queue = \"hardware\", to_agent_group = \"tier1\",",
    );
    expect_one(&text, 21, "agents[0].transfer", "not both");
}

#[test]
fn malformed_thresholds_have_their_line() {
    let text = with("\"< 5%\"", "\"less than 5%\"");
    expect_one(
        &text,
        35,
        "thresholds.abandon_rate",
        "must start with an operator",
    );
    let text = with(
        "\"accept_wait.p95\" = \"< 60s\"",
        "\"accept_wait.p95\" = \"< 60\"",
    );
    expect_one(
        &text,
        34,
        "thresholds.\"accept_wait.p95\"",
        "give the value a unit",
    );
    let text = with("\"accept_wait.p95\"", "\"acept_wait.p95\"");
    expect_one(
        &text,
        34,
        "thresholds.\"acept_wait.p95\"",
        "unknown threshold key",
    );
    // A dotted key without quotes is a table to TOML: the fix is the quotes.
    let text = with(
        "\"accept_wait.p95\" = \"< 60s\"",
        "accept_wait.p95 = \"< 60s\"",
    );
    expect_one(
        &text,
        34,
        "thresholds.accept_wait",
        "a key with dots must be in quotes, or TOML reads it as a table: write \"accept_wait.p95\" = \"< 60s\"",
    );
    // Two dots: tables two deep, the key put back together whole.
    let text = with(
        "\"accept_wait.p95\" = \"< 60s\"",
        "queues.hardware.service_level = \">= 80%\"",
    );
    expect_one(
        &text,
        34,
        "thresholds.queues",
        "a key with dots must be in quotes, or TOML reads it as a table: write \"queues.hardware.service_level\" = \">= 80%\"",
    );
    // A bare number: the condition's form, in the key's own unit.
    let text = with("\"< 5%\"", "5");
    expect_one(
        &text,
        35,
        "thresholds.abandon_rate",
        "expected a condition in quotes: an operator and a limit, such as \"< 5%\"",
    );
    let text = with(
        "\"accept_wait.p95\" = \"< 60s\"",
        "\"accept_wait.p95\" = 60",
    );
    expect_one(
        &text,
        34,
        "thresholds.\"accept_wait.p95\"",
        "such as \"< 60s\"",
    );
}

#[test]
fn manual_policy_with_auto_accept_on_is_contradictory() {
    let text = with("policy = \"least-active\"", "policy = \"manual\"");
    expect_one(
        &text,
        9,
        "routing.policy",
        "policy `manual` means auto-accept off",
    );
    let text = with("auto_accept = true\n", "").replace("least-active", "manual");
    let s = Scenario::parse(&text, "s.toml").unwrap();
    assert!(!s.routing_config().auto_accept);
}

#[test]
fn syntax_errors_have_a_position() {
    let text = with("seed = 7", "seed = = 7");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("s.toml:2:"), "{}", errs[0]);
    assert!(errs[0].contains(": syntax: "), "{}", errs[0]);
    // A key given twice is named.
    let text = with("seed = 7", "seed = 7\nseed = 8");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("s.toml:3:1: syntax: duplicate key `seed`"),
        "{}",
        errs[0]
    );
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = with("count = 30", "count = 0").replace("available_for = 3 ", "available_for = 9 ");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("s.toml:16:") && errs[1].starts_with("s.toml:18:"),
        "{errs:#?}"
    );
}

#[test]
fn arrival_phases() {
    let text = with(
        "arrival = \"poisson(rate=60/min)\"",
        r#"arrival = [
  { name = "ramp up", duration = "2m", from = "0/min", to = "120/min" },
  { duration = "5m", rate = "120/min" },
  { name = "ramp down", duration = "3m", from = "120/min", to = "10/min" },
]"#,
    );
    let s = Scenario::parse(&text, "p.toml").unwrap();
    let Arrival::Phases(p) = &s.users[0].arrival else {
        panic!("not phases")
    };
    assert_eq!(p.len(), 3);
    assert_eq!(p[0].name.as_deref(), Some("ramp up"));
    assert!((s.expected_users() - (120.0 + 600.0 + 195.0)).abs() < 1e-9);
    let v = s.resolved();
    assert_eq!(v["users"][0]["arrival"][1]["rate"], "120/min");

    let bad = with(
        "arrival = \"poisson(rate=60/min)\"",
        "arrival = [\n  { duration = \"2m\", from = \"0/min\" },\n]",
    );
    expect_one(&bad, 28, "users[0].arrival[0]", "either `rate`");
    let bad = with("arrival = \"poisson(rate=60/min)\"", "arrival = []");
    expect_one(&bad, 27, "users[0].arrival", "empty");
}

#[test]
fn overrides_change_the_scenario() {
    let ovs: Vec<Override> = [
        "routing.policy=round-robin",
        "agents.tier1.available_for=4",
        "users.hardware.patience=none",
        "seed=11",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let s = parse(EXAMPLE, "q.toml", &ovs).unwrap();
    assert_eq!(s.routing.policy, PolicyKind::RoundRobin);
    assert_eq!(s.agents[0].available_for, 4);
    assert!(s.users[0].patience.is_none());
    assert_eq!(s.seed, 11);
}

#[test]
fn override_errors_name_the_override() {
    let errs = errors_with(EXAMPLE, &["agents.tier1.available_for=7"]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        errs[0],
        "s.toml: --set agents.tier1.available_for=7: agents[0].available_for: available_for must be 1..=4 (R2: Available for N), got 7"
    );
    let errs = errors_with(EXAMPLE, &["seed=3", "routing.policy=fastest"]);
    assert!(
        errs[0].starts_with("s.toml: --set routing.policy=fastest: "),
        "{errs:?}"
    );
    assert!(errs[0].contains("expected one of: manual"), "{errs:?}");
    let errs = errors_with(EXAMPLE, &["agents.tier1.reply_delay=exp(mean=0s)"]);
    assert!(
        errs[0].contains("--set agents.tier1.reply_delay=exp(mean=0s)")
            && errs[0].contains("positive"),
        "{errs:?}"
    );
    let errs = errors_with(EXAMPLE, &["routing.polcy=random"]);
    assert!(errs[0].contains("valid keys"), "{errs:?}");
    // A file problem that an override does not touch still points at the file.
    let text = with("count = 30", "count = 0");
    let errs = errors_with(&text, &["seed=3"]);
    assert!(errs[0].starts_with("s.toml:16:"), "{errs:?}");
}

#[test]
fn participant_randomness_is_reproducible() {
    use rand::Rng;
    let s = Scenario::parse(EXAMPLE, "q.toml").unwrap();
    let a: Vec<Duration> = s.arrival_schedule(0).unwrap().take(50).collect();
    let b: Vec<Duration> = s.arrival_schedule(0).unwrap().take(50).collect();
    assert_eq!(a, b);
    assert!(s.arrival_schedule(1).is_none());
    let mut other = s.clone();
    other.seed = 8;
    let c: Vec<Duration> = other.arrival_schedule(0).unwrap().take(50).collect();
    assert_ne!(a, c);
    assert_eq!(
        s.agent_rng(0, 3).random::<u64>(),
        s.agent_rng(0, 3).random::<u64>()
    );
    assert_ne!(
        s.agent_rng(0, 3).random::<u64>(),
        s.agent_rng(0, 4).random::<u64>()
    );
    assert_ne!(
        s.user_rng(0, 1).random::<u64>(),
        s.agent_rng(0, 1).random::<u64>()
    );
    assert_eq!(Scenario::agent_name(&s.agents[0], 0), "tier1-1");
}

/// The example with a `[faults]` section appended.
fn with_faults(faults: &str) -> String {
    format!("{EXAMPLE}\n[faults]\n{faults}\n")
}

#[test]
fn faults_are_off_unless_asked_for() {
    let s = Scenario::parse(EXAMPLE, "q.toml").unwrap();
    assert!(s.faults.is_off());
    assert!(!s.faults.reconnects());
    // An absent section stays absent in the resolved scenario.
    assert!(s.resolved().get("faults").is_none());
}

#[test]
fn faults_section_parses_and_round_trips() {
    let text = with_faults(
        r#"agent_grace = "20s"
outbound_queue = 8
drop_probability = 0.15
drop_after = "uniform(2s, 30s)"
reconnect_within_grace = 0.5
reconnect_delay = "exp(mean=3s)"
abandon_on_join = 0.1
transfer_close_race = 0.2
availability_flip_every = "exp(mean=20s)"
slow_consumer_probability = 0.3
slow_consumer_at = "10s"
slow_consumer_stall = "uniform(5s, 10s)""#,
    );
    let s = Scenario::parse(&text, "f.toml").unwrap();
    let f = &s.faults;
    assert_eq!(f.agent_grace, Some(Duration::from_secs(20)));
    assert_eq!(f.outbound_queue, Some(8));
    assert_eq!(f.drop_probability, 0.15);
    assert_eq!(f.reconnect_within_grace, 0.5);
    assert_eq!(f.abandon_on_join, 0.1);
    assert_eq!(f.transfer_close_race, 0.2);
    assert!(!f.accept_burst);
    assert!(f.availability_flip_every.is_some());
    assert_eq!(f.slow_consumer_probability, 0.3);
    assert!(f.reconnects());
    assert!(!f.is_off());
    let v = s.resolved();
    assert_eq!(v["faults"]["agent_grace"], "20s");
    assert_eq!(v["faults"]["drop_after"], "uniform(2s, 30s)");
    let back = Scenario::parse(&toml::to_string(&s).unwrap(), "resolved.toml").unwrap();
    assert_eq!(back, s);
}

#[test]
fn fault_defaults_fill_the_rest() {
    let s = Scenario::parse(&with_faults("abandon_on_join = 0.2"), "f.toml").unwrap();
    let d = FaultSpec::default();
    assert_eq!(s.faults.abandon_on_join, 0.2);
    assert_eq!(s.faults.drop_after, d.drop_after);
    assert_eq!(s.faults.reconnect_delay, d.reconnect_delay);
    assert_eq!(s.faults.slow_consumer_stall, d.slow_consumer_stall);
    assert_eq!(s.faults.agent_grace, None);
    assert!(!s.faults.reconnects());
}

#[test]
fn fault_errors_name_their_field() {
    let text = with_faults("abandon_on_join = 1.5");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("faults.abandon_on_join"), "{errs:?}");
    assert!(errs[0].contains("between 0 and 1"), "{errs:?}");

    let errs = errors(&with_faults("drop_probability = 0.1"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("faults.agent_grace"), "{errs:?}");

    let errs = errors(&with_faults("outbound_queue = 0"));
    assert!(errs[0].contains("faults.outbound_queue"), "{errs:?}");

    let errs = errors(&with_faults("agent_grace = \"0s\""));
    assert!(errs[0].contains("faults.agent_grace"), "{errs:?}");

    // Auto-accept with nobody pulling by hand: no burst is possible.
    let errs = errors(&with_faults("accept_burst = true"));
    assert!(errs[0].contains("faults.accept_burst"), "{errs:?}");
    let manual = with_faults("accept_burst = true").replace(
        "auto_accept = true\npolicy = \"least-active\"",
        "policy = \"manual\"",
    );
    assert_eq!(errors(&manual), Vec::<String>::new());

    let errs = errors(&with_faults("server_restart = true"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("server_restart"), "{errs:?}");

    let errs = errors(&with_faults("drop_after = \"soon\""));
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn fault_overrides() {
    let text = with_faults("agent_grace = \"20s\"");
    let ovs: Vec<Override> = [
        "faults.drop_probability=0.5",
        "faults.agent_grace=40s",
        "faults.availability_flip_every=exp(mean=5s)",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let s = parse(&text, "f.toml", &ovs).unwrap();
    assert_eq!(s.faults.drop_probability, 0.5);
    assert_eq!(s.faults.agent_grace, Some(Duration::from_secs(40)));
    assert!(s.faults.availability_flip_every.is_some());
    // A scenario without the section gets one.
    let ov: Override = "faults.abandon_on_join=0.3".parse().unwrap();
    let s = parse(EXAMPLE, "q.toml", &[ov]).unwrap();
    assert_eq!(s.faults.abandon_on_join, 0.3);
    let errs = errors_with(EXAMPLE, &["faults.restart=true"]);
    assert!(errs[0].contains("unknown key"), "{errs:?}");
    assert!(valid_keys().contains("faults.{"), "{}", valid_keys());
}

#[test]
fn the_chaos_scenario_turns_every_fault_on() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/chaos.toml");
    let s = Scenario::load(&path, &[]).unwrap();
    let f = &s.faults;
    assert!(f.drop_probability > 0.0);
    assert!(f.reconnect_within_grace > 0.0 && f.reconnect_within_grace < 1.0);
    assert!(f.abandon_on_join > 0.0);
    assert!(f.accept_burst);
    assert!(f.transfer_close_race > 0.0);
    assert!(f.availability_flip_every.is_some());
    assert!(f.slow_consumer_probability > 0.0);
    assert!(f.agent_grace.is_some() && f.outbound_queue.is_some());
}

#[test]
fn a_file_that_is_not_utf8_is_refused_where_it_stops_being_text() {
    let path = std::env::temp_dir().join(format!("sb-not-utf8-{}.toml", std::process::id()));
    std::fs::write(&path, b"name = \"x\"\nseed = 1 \xff\xfe\n").unwrap();
    let err = Scenario::load(&path, &[]).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(
        err.contains(":2:10: syntax: the file is not UTF-8 text here"),
        "{err}"
    );
}

#[test]
fn a_missing_top_level_field_is_not_blamed_on_the_first_key() {
    let errs = errors("name = \"x\"\n[[queues]]\nname = \"q\"\n");
    assert!(
        errs.iter()
            .any(|e| e.contains(":1:1: duration: missing or zero: how long users arrive")),
        "{errs:?}"
    );
    assert!(!errs.iter().any(|e| e.contains("name:")), "{errs:?}");
}

#[test]
fn an_empty_file_lists_everything_it_lacks_at_once() {
    let errs = errors("");
    for field in ["name", "duration", "queues", "agents", "users"] {
        assert!(
            errs.iter().any(|e| e.contains(&format!(":1:1: {field}: "))),
            "{field}: {errs:#?}"
        );
    }
}

#[test]
fn values_that_could_never_run_are_refused_at_their_field() {
    let flip = with_faults("availability_flip_every = \"0s\"");
    let errs = errors(&flip);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("faults.availability_flip_every") && errs[0].contains("at least 1ms"),
        "{errs:?}"
    );
    assert!(errors(&with_faults("availability_flip_every = \"exp(mean=20s)\"")).is_empty());

    let text = with("time_scale = 20", "time_scale = 1e20");
    expect_one(&text, 4, "time_scale", "from 0.001 to 1000000");
    let text = with("duration = \"10m\"", "duration = \"9000d\"");
    expect_one(&text, 3, "duration", "at most 366 days, got 777600000 s");
    let text = with(
        "duration = \"10m\"",
        "duration = \"99999999999999999999999h\"",
    );
    expect_one(
        &text,
        3,
        "duration",
        "at most 366 days, got more than a duration can hold",
    );
    let text = with(
        "service_level_target = \"60s\"",
        "service_level_target = \"400d\"",
    );
    expect_one(&text, 5, "service_level_target", "at most 366 days");
    let text = with("count = 30", "count = 4000000000");
    expect_one(
        &text,
        line_of(&text, "count ="),
        "agents[0].count",
        "at most 1000000",
    );

    let text = with(
        "arrival = \"poisson(rate=60/min)\"",
        "arrival = [{ duration = \"10m\", rate = \"0/min\" }]",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("users[0].arrival") && errs[0].contains("nobody would ever arrive"),
        "{errs:?}"
    );
}

#[test]
fn a_transfer_to_a_queue_nobody_serves_is_refused() {
    let text = with(
        "name = \"hardware\"\n",
        "name = \"hardware\"\n\n[[queues]]\nname = \"software\"\n",
    )
    .replacen("to_queue = \"hardware\"", "to_queue = \"software\"", 1);
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("agents[0].transfer.to_queue")
            && errs[0].contains("could never be answered"),
        "{errs:?}"
    );
}

#[test]
fn names_that_set_keys_could_not_select_are_refused() {
    for (name, want) in [
        ("\"\"", "must not be empty"),
        ("\"tier.1\"", "holds `.`, `*` or `=`"),
        ("\"a=b\"", "holds `.`, `*` or `=`"),
        ("\"7\"", "is a number"),
    ] {
        let text = with("group = \"tier1\"", &format!("group = {name}"));
        expect_one(&text, line_of(&text, "group ="), "agents[0].group", want);
        let text = with(
            "queue = \"hardware\"\narrival",
            &format!("queue = \"hardware\"\nname = {name}\narrival"),
        );
        let line = line_of(&text, &format!("name = {name}\narrival"));
        expect_one(&text, line, "users[0].name", want);
    }
}

#[test]
fn a_rule_only_the_overrides_break_is_blamed_on_them() {
    let text = with(
        "auto_accept = true\npolicy = \"least-active\"",
        "policy = \"manual\"",
    );
    assert!(errors(&text).is_empty(), "the file alone is valid");
    let errs = errors_with(&text, &["routing.auto_accept=true"]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("s.toml: --set routing.auto_accept=true: "),
        "{errs:?}"
    );
}

/// A file that sets `auto_accept` can still be switched to `manual` from the command
/// line: `none` gives the setting back to the policy.
#[test]
fn auto_accept_can_be_given_back_to_the_policy() {
    // EXAMPLE sets `auto_accept = true`.
    let text = EXAMPLE;
    let manual = ["routing.policy=manual"];
    let errs = errors_with(text, &manual);
    assert!(
        errs.len() == 1 && errs[0].contains("--set routing.policy=manual"),
        "{errs:#?}"
    );
    let unset = ["routing.auto_accept=none", "routing.policy=manual"];
    assert!(errors_with(text, &unset).is_empty());
}

/// Values that validated but could not run: a duration past a year inside a
/// distribution (it overflowed the timers), a grace period the server counts as none,
/// arrivals that never come within the duration, or ever more users than a run holds.
#[test]
fn values_that_could_not_run_are_refused() {
    let huge = with(
        "patience = \"exp(mean=3m)\"",
        "patience = \"20000000000000000000s\"",
    );
    let errs = errors(&huge);
    assert!(
        errs.iter()
            .any(|e| e.contains("patience") && e.contains("at most 366 days")),
        "{errs:#?}"
    );
    let grace = EXAMPLE.to_string() + "\n[faults]\nagent_grace = \"500us\"\n";
    let errs = errors(&grace);
    assert!(
        errs.iter()
            .any(|e| e.contains("agent_grace") && e.contains("at least 1 ms")),
        "{errs:#?}"
    );
    let late = with(
        "arrival = \"poisson(rate=60/min)\"",
        "arrival = [{ duration = \"20m\", rate = \"0/min\" }, { duration = \"10m\", rate = \"6/min\" }]",
    );
    let errs = errors(&late);
    assert!(
        errs.iter()
            .any(|e| e.contains("arrival") && e.contains("no user would arrive")),
        "{errs:#?}"
    );
    let flood = with(
        "arrival = \"poisson(rate=60/min)\"",
        "arrival = \"poisson(rate=1000000/s)\"",
    );
    let errs = errors(&flood);
    assert!(
        errs.iter().any(|e| e.contains("more than a run can hold")),
        "{errs:#?}"
    );
    // Named at the stream that brings the most, its line, in figures one can read.
    let second = format!(
        "{EXAMPLE}\n[[users]]\nname = \"flood\"\nqueue = \"hardware\"\narrival = \"poisson(rate=1e300/s)\"\n"
    );
    let errs = errors(&second);
    let line = line_of(&second, "rate=1e300/s");
    expect_one(&second, line, "users[1].arrival", "from this stream");
    assert!(errs[0].contains("e302 users"), "{errs:#?}");
}

/// Each group is capped, and so are all of them together: a run would otherwise try
/// to hold hundreds of millions of participants and run out of memory.
#[test]
fn the_agents_of_all_groups_together_are_capped() {
    let group = |name: &str| {
        format!("\n[[agents]]\ngroup = \"{name}\"\ncount = 600000\nqueues = [\"hardware\"]\n")
    };
    let text = format!("{EXAMPLE}{}{}", group("big1"), group("big2"));
    let line = text
        .rfind("count = 600000")
        .map(|i| text[..i].matches('\n').count() + 1)
        .unwrap();
    expect_one(
        &text,
        line,
        "agents[2].count",
        "add up to more than 1000000 agents",
    );
    let one = format!("{EXAMPLE}{}", group("big1"));
    assert_eq!(errors(&one), Vec::<String>::new());
}

#[test]
fn an_unknown_key_in_an_arrival_phase_is_named_at_its_place() {
    let text = with(
        "arrival = \"poisson(rate=60/min)\"",
        "arrival = [ { duration = \"1m\", rate = \"5/min\", ramp = 1 } ]",
    );
    let line = line_of(&text, "ramp = 1");
    expect_one(
        &text,
        line,
        "users[0].arrival[0].ramp",
        "unknown field `ramp`",
    );
    let col = text.lines().nth(line - 1).unwrap().find("ramp").unwrap();
    let errs = errors(&text);
    // The column is the value's, just after the key.
    let at: usize = errs[0].split(':').nth(2).unwrap().parse().unwrap();
    assert!(at > col, "{errs:?}");
}

#[test]
fn a_name_given_twice_is_named_at_the_second_with_the_first_said() {
    let text = format!("{EXAMPLE}\n[[queues]]\nname = \"hardware\"\n");
    let errs = errors(&text);
    assert!(
        errs.iter().any(|e| e
            .contains("queues[1].name: queue `hardware` is declared twice (first as queues[0])")),
        "{errs:#?}"
    );
    let text =
        format!("{EXAMPLE}\n[[agents]]\ngroup = \"tier1\"\ncount = 1\nqueues = [\"hardware\"]\n");
    let errs = errors(&text);
    assert!(
        errs.iter().any(|e| e.contains(
            "agents[1].group: agent group `tier1` is declared twice (first as agents[0])"
        )),
        "{errs:#?}"
    );
    // Renamed by an override: the message says which other stream has the name.
    let two = format!(
        "{EXAMPLE}\n[[users]]\nname = \"soft\"\nqueue = \"hardware\"\narrival = \"poisson(rate=1/min)\"\n"
    );
    let errs = errors_with(&two, &["users.hardware.name=soft"]);
    assert!(
        errs.iter()
            .any(|e| e.contains("user stream `soft` is named twice (first as users[0])")),
        "{errs:#?}"
    );
}

#[test]
fn a_number_too_large_to_hold_says_so_at_its_place() {
    let text = with("messages = \"uniform(2, 6)\"", "messages = 1e400");
    let line = line_of(&text, "messages = 1e400");
    expect_one(
        &text,
        line,
        "users[0].messages",
        "the number is too large to hold",
    );
}

#[test]
fn a_seed_past_what_seed_and_set_take_is_refused_at_its_line() {
    let text = with("seed = 7", "seed = 18446744073709551615");
    expect_one(
        &text,
        2,
        "seed",
        "a seed is a whole number from 0 to 9223372036854775807",
    );
    let text = with("seed = 7", "seed = 9223372036854775807");
    assert_eq!(errors(&text), Vec::<String>::new());
}

#[test]
fn a_queue_listed_twice_in_a_group_is_a_typo_named_at_its_place() {
    let text = with(
        "queues = [\"hardware\"]\navailable_for",
        "queues = [\"hardware\", \"hardware\"]\navailable_for",
    );
    expect_one(
        &text,
        line_of(&text, "queues = [\"hardware\", \"hardware\"]"),
        "agents[0].queues[1]",
        "queue `hardware` is listed twice in the group",
    );
}

#[test]
fn a_queue_named_where_none_is_declared_says_how_to_declare_one() {
    let text = with("[[queues]]\nname = \"hardware\"\n", "");
    let errs = errors(&text);
    assert!(
        errs.iter().any(|e| e.contains(
            "queue `hardware` is not declared, and no queue is: add [[queues]] name = \"hardware\""
        )),
        "{errs:#?}"
    );
    assert!(
        !errs.iter().any(|e| e.ends_with("declared queues: ")),
        "{errs:#?}"
    );
}

/// An override error names the `--set` whose value is in force (the last one that
/// wrote the field), and removing a field of a table a group does not have is no error.
#[test]
fn overrides_are_blamed_and_applied_precisely() {
    let errs = errors_with(
        EXAMPLE,
        &["agents.*.available_for=2", "agents.tier1.available_for=9"],
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("--set agents.tier1.available_for=9"),
        "{}",
        errs[0]
    );
    let no_transfer = with(
        "transfer = { probability = 0.1, to_queue = \"hardware\", notes = \"customer needs tier 2\" }\n",
        "",
    );
    assert!(
        errors_with(&no_transfer, &["agents.*.transfer.to_queue=none"]).is_empty(),
        "{:#?}",
        errors_with(&no_transfer, &["agents.*.transfer.to_queue=none"])
    );
    // `+1` is a name, not the index 1 (there is only one group, index 0).
    let errs = errors_with(EXAMPLE, &["agents.+1.count=5"]);
    assert!(
        errs.iter()
            .any(|e| e.contains("+1") && !e.contains("there is no agents[1]")),
        "{errs:#?}"
    );
}

#[test]
fn values_that_would_make_a_run_meaningless_are_refused() {
    // A conversation closed as it is accepted.
    let text = with("reply_delay = \"exp(mean=20s)\"", "handle_time = \"0s\"");
    expect_one(
        &text,
        line_of(&text, "handle_time"),
        "agents[0].handle_time",
        "at least 1ms",
    );
    let text = with(
        "reply_delay = \"exp(mean=20s)\"",
        "handle_time = \"uniform(0s, 0s)\"",
    );
    expect_one(
        &text,
        line_of(&text, "handle_time"),
        "agents[0].handle_time",
        "at least 1ms",
    );
    // Flips faster than the server's clock fire forever at one instant.
    let errs = errors(&with_faults("availability_flip_every = \"1us\""));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("faults.availability_flip_every"),
        "{errs:?}"
    );
    assert!(errs[0].contains("at least 1ms"), "{errs:?}");
    // The only agent of a group cannot transfer to their own group.
    let one = with("count = 30", "count = 1");
    let text = one.replacen("to_queue = \"hardware\",", "to_agent_group = \"tier1\",", 1);
    expect_one(
        &text,
        21,
        "agents[0].transfer.to_agent_group",
        "cannot transfer to themselves",
    );
    let thirty = with("to_queue = \"hardware\",", "to_agent_group = \"tier1\",");
    assert_eq!(errors(&thirty), Vec::<String>::new(), "30 agents can");
    // A billion messages per conversation.
    let text = with("messages = \"uniform(2, 6)\"", "messages = 1000000000");
    let line = line_of(&text, "messages = 1000000000");
    expect_one(&text, line, "users[0].messages", "at most 10000");
}

#[test]
fn names_that_cannot_be_selected_or_be_a_folder_are_refused() {
    // An unnamed stream takes its queue's name, which `--set users.NAME…` must select.
    let text = EXAMPLE.replace("\"hardware\"", "\"h.w\"");
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.contains("users[0].queue") && e.contains("give the stream a `name`")),
        "{errs:#?}"
    );
    let named = text.replace(
        "[[users]]\nqueue = \"h.w\"",
        "[[users]]\nname = \"web\"\nqueue = \"h.w\"",
    );
    assert!(
        errors(&named).iter().all(|e| !e.contains("users[0]")),
        "{:#?}",
        errors(&named)
    );
    // A stream on an undeclared queue is reported once, for the queue.
    let text = with("[[users]]\nqueue = \"hardware\"", "[[users]]\nqueue = \"\"");
    let errs = errors(&text);
    assert_eq!(
        errs.iter().filter(|e| e.contains("users[0].queue")).count(),
        1,
        "{errs:#?}"
    );
    // The scenario's name names the report folder.
    let long = with(
        "name = \"quickstart\"",
        &format!("name = \"{}\"", "q".repeat(201)),
    );
    expect_one(&long, 1, "name", "at most 200 bytes");
    let control = with("name = \"quickstart\"", "name = \"quick\\u0000start\"");
    expect_one(&control, 1, "name", "control characters");
}

#[test]
fn type_errors_speak_toml_not_rust() {
    let errs = errors(&with("count = 30", "count = \"many\""));
    assert!(errs[0].contains("expected a whole number"), "{errs:?}");
    let errs = errors(&with("time_scale = 20", "time_scale = \"fast\""));
    assert!(errs[0].contains("expected a number"), "{errs:?}");
    let errs = errors(&with("[routing]", "routing = 5\n[unused]"));
    assert!(
        errs[0].contains("routing") && !errs[0].contains("struct") && !errs[0].contains("Spec"),
        "{errs:?}"
    );
    // Through an override too.
    let errs = errors_with(EXAMPLE, &["time_scale=fast"]);
    assert!(errs.iter().all(|e| !e.contains("f64")), "{errs:?}");
    // What the file wrote is quoted as written, whatever it says.
    let errs = errors(&with(
        "policy = \"least-active\"",
        "policy = \"expected u32\"",
    ));
    assert!(errs[0].contains("`expected u32`"), "{errs:?}");
    let errs = errors(&with("[[queues]]", "queues = [[1]]\n[[unused]]"));
    assert!(
        errs.iter()
            .all(|e| !e.contains("sequence") && !e.contains("struct")),
        "{errs:?}"
    );
}

#[test]
fn a_files_own_problem_is_not_blamed_on_an_override_inside_it() {
    // The transfer has no target in the file; the override only sets its notes.
    let text = with("to_queue = \"hardware\",", "");
    let errs = errors_with(&text, &["agents.tier1.transfer.notes=abc"]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].starts_with("s.toml:21:"), "{errs:?}");
    assert!(errs[0].contains("needs a target"), "{errs:?}");
    // An override that replaces the value at fault is the one blamed.
    let errs = errors_with(&with("count = 30", "count = 0"), &["agents.tier1.count=0"]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("--set agents.tier1.count=0"), "{errs:?}");
}

#[test]
fn arrival_phases_given_with_set_are_sent_back_to_the_file() {
    let errs = errors_with(
        EXAMPLE,
        &[r#"users.hardware.arrival=[{duration="1m", rate="1/min"}]"#],
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("arrival phases are an array written in the scenario file")
            && !errs[0].contains("or a list of phases"),
        "{errs:#?}"
    );
}

#[test]
fn a_stream_so_thin_that_runs_often_bring_nobody_is_a_warning_not_an_error() {
    // 60 an hour for ten minutes is ten users: nothing to say.
    let s = parse(
        &with("poisson(rate=60/min)", "poisson(rate=60/h)"),
        "s.toml",
        &[],
    )
    .unwrap();
    assert_eq!(s.advisories(), Vec::<String>::new());
    // 6 an hour is one expected user: none at all in 37% of runs.
    let s = parse(
        &with("poisson(rate=60/min)", "poisson(rate=6/h)"),
        "s.toml",
        &[],
    )
    .unwrap();
    let advice = s.advisories();
    assert_eq!(advice.len(), 1, "{advice:?}");
    assert!(
        advice[0].starts_with("users `hardware`: about 1.00 arrivals expected in 10m")
            && advice[0].contains("nobody 37% of the time"),
        "{advice:?}"
    );
    // Evenly spaced arrivals are not left to chance.
    let s = parse(
        &with("poisson(rate=60/min)", "constant(rate=12/h)"),
        "s.toml",
        &[],
    )
    .unwrap();
    assert_eq!(s.advisories(), Vec::<String>::new());
}

#[test]
fn agents_work_that_can_never_start_is_a_warning() {
    let quickstart = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/quickstart.toml"),
    )
    .expect("quickstart");
    let silent = |extra: &[&str]| {
        let mut sets = vec!["users.*.messages=0"];
        sets.extend(extra);
        let overrides: Vec<Override> = sets.iter().map(|s| s.parse().expect("override")).collect();
        parse(&quickstart, "quickstart.toml", &overrides)
            .expect("valid")
            .advisories()
    };
    let advice = silent(&[]);
    assert!(
        advice
            .iter()
            .any(|a| a.starts_with("agents `tier1` start a chat's work")
                && a.contains("never happens")),
        "{advice:?}"
    );
    // With a handle time the work starts without an answer.
    assert!(silent(&["agents.*.handle_time=2m"]).is_empty());
    // Users who write: nothing to say.
    let overrides: Vec<Override> = Vec::new();
    assert!(
        parse(&quickstart, "quickstart.toml", &overrides)
            .expect("valid")
            .advisories()
            .is_empty()
    );
}

/// The users who can reach a group are those of its queues and those the transfers of
/// groups they reach lead to: users elsewhere who write do not start its work.
#[test]
fn work_no_writing_user_can_reach_is_a_warning() {
    let two_queues = |transfer: &str| {
        format!(
            r#"
name = "two"
duration = "10m"
[[queues]]
name = "hw"
[[queues]]
name = "sw"
[[agents]]
group = "t1"
count = 1
queues = ["hw"]
{transfer}
[[agents]]
group = "t2"
count = 1
queues = ["sw"]
ticket = {{ probability = 1.0 }}
[[users]]
queue = "hw"
arrival = "poisson(rate=1/min)"
[[users]]
queue = "sw"
arrival = "poisson(rate=1/min)"
messages = "0"
"#
        )
    };
    let advice = |text: &str| parse(text, "two.toml", &[]).expect("valid").advisories();
    let found = advice(&two_queues(""));
    assert!(
        found.len() == 1 && found[0].starts_with("agents `t2` start a chat's work"),
        "{found:?}"
    );
    // A transfer brings t1's writing users to t2, by queue or by group.
    for to in ["to_queue = \"sw\"", "to_agent_group = \"t2\""] {
        let text = two_queues(&format!("transfer = {{ probability = 0.5, {to} }}"));
        assert_eq!(advice(&text), Vec::<String>::new(), "{to}");
    }
}

/// Under auto-accept with `route_queue_transfers = false` a transfer to a queue waits
/// in Transferred for someone to take it by hand: without an agent of that queue who
/// pulls (`manual_accept`), nobody ever does.
#[test]
fn queue_transfers_nobody_takes_are_a_warning() {
    let text = |extra: &str| {
        format!(
            r#"
name = "rqt"
duration = "10m"
[routing]
auto_accept = true
route_queue_transfers = false
[[queues]]
name = "q1"
[[agents]]
group = "a"
count = 2
queues = ["q1"]
transfer = {{ probability = 0.5, to_queue = "q1" }}
{extra}
[[users]]
queue = "q1"
arrival = "poisson(rate=1/min)"
"#
        )
    };
    let advice = |t: &str| parse(t, "rqt.toml", &[]).expect("valid").advisories();
    let found = advice(&text(""));
    assert!(
        found.len() == 1 && found[0].starts_with("chats transferred to queue `q1` are not routed"),
        "{found:?}"
    );
    let pullers =
        "[[agents]]\ngroup = \"floor\"\ncount = 1\nqueues = [\"q1\"]\nmanual_accept = true";
    assert_eq!(advice(&text(pullers)), Vec::<String>::new());
}

/// Which groups a chat can reach: those serving its queue, one planned transfer on
/// (only the first agent plans one), and wherever transfers racing the user's close
/// lead, step after step.
#[test]
fn the_groups_a_chat_can_reach() {
    let scenario = |race: &str, m_transfers: &str| {
        let text = format!(
            r#"
name = "reach"
duration = "10m"
[[queues]]
name = "q0"
[[queues]]
name = "q1"
[[queues]]
name = "q2"
[[queues]]
name = "q3"
[[agents]]
group = "h"
count = 1
queues = ["q1", "q0"]
handle_time = "3m"
transfer = {{ probability = 1.0, to_queue = "q2" }}
[[agents]]
group = "n"
count = 1
queues = ["q2"]
handle_time = "3m"
transfer = {{ probability = 1.0, to_queue = "q3" }}
[[agents]]
group = "m"
count = 1
queues = ["q3"]
{m_transfers}
[[agents]]
group = "z"
count = 1
queues = ["q0"]
[[users]]
queue = "q1"
arrival = "poisson(rate=1/min)"
[faults]
transfer_close_race = {race}
"#
        );
        parse(&text, "reach.toml", &[]).expect("valid")
    };
    // h plans transfers to q2 (n); n's transfer never happens: the chat came to n
    // transferred already.
    assert_eq!(scenario("0.0", "").groups_reached_from("q1"), [0, 1]);
    // A transfer racing the user's close follows each group's target (h to q2, n to
    // q3), step after step.
    assert_eq!(scenario("0.1", "").groups_reached_from("q1"), [0, 1, 2]);
    // From q0, served by h and z: h's races lead to q2 (n), n's to q3 (m); z, with no
    // target, races to its first queue, q0, where it started.
    assert_eq!(scenario("0.1", "").groups_reached_from("q0"), [0, 1, 2, 3]);
}

#[test]
fn a_threshold_on_a_queue_no_stream_asks_is_a_warning() {
    let text = with(
        "[[queues]]\nname = \"hardware\"",
        "[[queues]]\nname = \"hardware\"\n\n[[queues]]\nname = \"spare\"",
    )
    .replace(
        "queues = [\"hardware\"]",
        "queues = [\"hardware\", \"spare\"]",
    )
    .replace(
        "\"abandon_rate\" = \"< 5%\"",
        "\"abandon_rate\" = \"< 5%\"\n\"queues.spare.chats.lost\" = \"== 0\"\n\"queues.hardware.chats.lost\" = \"== 0\"",
    );
    let s = parse(&text, "s.toml", &[]).expect("valid");
    assert_eq!(
        s.advisories(),
        vec![
            "threshold `queues.spare.chats.lost` will fail for want of data: no user stream \
             asks queue `spare`, and a queue's figures count the users who asked it"
                .to_string()
        ]
    );
}

#[test]
fn a_queue_threshold_names_a_declared_queue() {
    let text = with(
        "\"abandon_rate\" = \"< 5%\"",
        "\"abandon_rate\" = \"< 5%\"\n\"queues.hardware.service_level\" = \">= 80%\"",
    );
    assert_eq!(errors(&text), Vec::<String>::new());
    let text = with(
        "\"abandon_rate\" = \"< 5%\"",
        "\"abandon_rate\" = \"< 5%\"\n\"queues.netwrok.service_level\" = \">= 80%\"",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("queues.netwrok.service_level")
            && errs[0].contains("queue `netwrok` is not declared; declared queues: hardware"),
        "{errs:#?}"
    );
}
