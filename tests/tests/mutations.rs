//! Mutation tests of the routing checker: plant one real bug at a time in the server
//! (cargo feature `fault-injection`, this crate's tests only), run a small scenario live
//! against the embedded server, and show that the checker reports it under the right
//! invariant; with no bug planted the same runs are clean.
//!
//! The planted bug is process-wide, so the tests take turns (a mutex).

use std::path::PathBuf;
use switchboard_server::planted::{self, Bug};
use switchboard_sim::checker::{self, CheckReport, Invariant, Options};
use switchboard_sim::live::LiveOptions;
use switchboard_sim::run::{self, Driver};
use switchboard_sim::scenario::{Override, Scenario};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Auto-accept, agents Available for 1, long conversations: capacity is tight.
const AUTO: &str = r#"
name = "mutation-auto"
duration = "4m"
drain = "2m"
time_scale = 60
[routing]
policy = "least-active"
[[queues]]
name = "hardware"
[[agents]]
group = "a"
count = 3
queues = ["hardware"]
available_for = 1
accept_delay = "uniform(1s, 2s)"
reply_delay = "uniform(2s, 4s)"
handle_time = "uniform(60s, 90s)"
[[users]]
queue = "hardware"
arrival = "poisson(rate=12/min)"
messages = "uniform(3, 5)"
think_time = "uniform(3s, 6s)"
"#;

/// Manual accept, many agents reacting at once: accepts race on the same chats.
const MANUAL: &str = r#"
name = "mutation-manual"
duration = "3m"
drain = "2m"
time_scale = 60
[routing]
policy = "manual"
[[queues]]
name = "hardware"
[[queues]]
name = "software"
[[agents]]
group = "hw"
count = 6
queues = ["hardware"]
available_for = 4
accept_delay = "uniform(100ms, 200ms)"
reply_delay = "uniform(2s, 4s)"
transfer = { probability = 0.5, to_queue = "hardware", notes = "over to hardware" }
[[agents]]
group = "sw"
count = 6
queues = ["software"]
available_for = 4
accept_delay = "uniform(100ms, 200ms)"
reply_delay = "uniform(2s, 4s)"
transfer = { probability = 0.5, to_queue = "software", notes = "over to software" }
[[users]]
queue = "hardware"
arrival = "poisson(rate=10/min)"
messages = "uniform(2, 4)"
think_time = "uniform(3s, 6s)"
[[users]]
queue = "software"
arrival = "poisson(rate=10/min)"
messages = "uniform(2, 4)"
think_time = "uniform(3s, 6s)"
"#;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-mut-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn load(text: &str, seed: u64, name: &str) -> Scenario {
    let path = out_dir(&format!("{name}-scenario")).with_extension("toml");
    std::fs::write(&path, text).expect("scenario written");
    let sets: Vec<Override> = vec![format!("seed={seed}").parse().expect("override")];
    Scenario::load(&path, &sets).expect("scenario loads")
}

/// Runs `text` live with `bug` planted and checks the run folder.
async fn run_with(bug: Option<Bug>, text: &str, seed: u64) -> CheckReport {
    planted::plant(bug);
    let name = bug.map_or("none", Bug::name);
    let scenario = load(text, seed, name);
    let out = out_dir(&format!("{name}-{seed}"));
    let opts = LiveOptions {
        history: true,
        interrupt_ends_at_once: false,
        ..LiveOptions::default()
    };
    let summary = run::run(&scenario, &[], Driver::Live(opts), &out)
        .await
        .expect("run completes");
    planted::plant(None);
    let report = checker::check_dir(&out, &Options::for_scenario(&scenario)).expect("checks");
    let inv = summary.invariants.expect("the run recorded its invariants");
    assert_eq!(
        inv.violations,
        report.violations.len(),
        "{}",
        report.render()
    );
    if !report.ok() {
        assert!(!summary.passed, "a violation fails the run");
    }
    report
}

fn expect(report: &CheckReport, inv: Invariant) {
    assert!(
        report.has(inv),
        "expected a {inv} violation:\n{}",
        report.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bug_no_violation() {
    let _turn = TURN.lock().await;
    for seed in [1, 2] {
        for text in [AUTO, MANUAL] {
            let r = run_with(None, text, seed).await;
            assert!(r.ok(), "seed {seed}:\n{}", r.render());
            assert!(r.chats_started > 5, "{}", r.render());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_accept_is_caught() {
    let _turn = TURN.lock().await;
    let r = run_with(Some(Bug::DoubleAccept), MANUAL, 3).await;
    expect(&r, Invariant::SingleOwner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_capacity_is_caught() {
    let _turn = TURN.lock().await;
    let r = run_with(Some(Bug::IgnoreCapacity), AUTO, 3).await;
    expect(&r, Invariant::Capacity);
}

/// In virtual time: whether a hardware agent lists its Transferred chats during the
/// few milliseconds a software transfer waits is luck in a live run; a virtual run is
/// deterministic, and with seed 5 it happens (other seeds may have no such moment).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaked_transfers_are_caught() {
    let _turn = TURN.lock().await;
    let scenario = load(MANUAL, 5, "leak-transfers");
    for bug in [None, Some(Bug::LeakTransfers)] {
        planted::plant(bug);
        let out = out_dir("leak-transfers-virtual");
        let summary = run::run(&scenario, &[], Driver::Virtual, &out)
            .await
            .expect("run completes");
        planted::plant(None);
        let report = checker::check_dir(&out, &Options::for_scenario(&scenario)).expect("checks");
        match bug {
            None => assert!(report.ok() && summary.passed, "{}", report.render()),
            Some(_) => {
                expect(&report, Invariant::TransferVisibility);
                assert!(!summary.passed, "a violation fails the run");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_message_is_caught() {
    let _turn = TURN.lock().await;
    let r = run_with(Some(Bug::DropMessage), AUTO, 3).await;
    expect(&r, Invariant::Transcript);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_messages_are_caught() {
    let _turn = TURN.lock().await;
    // Agents share an article early and answer every message: two agent entries
    // in a row reach the user, which the planted bug swaps.
    let text = AUTO.replace(
        "handle_time",
        "share_article_probability = 1.0\nhandle_time",
    );
    let r = run_with(Some(Bug::ReorderMessages), &text, 3).await;
    expect(&r, Invariant::MessageOrder);
}

/// An agent holding a chat drops and never comes back: after the grace period the
/// chat must go back to the queue; the planted bug forgets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_lost_on_disconnect_is_caught() {
    let _turn = TURN.lock().await;
    for bug in [None, Some(Bug::LoseOnDisconnect)] {
        planted::plant(bug);
        let report = lose_on_disconnect().await.expect("scenario runs");
        planted::plant(None);
        match bug {
            None => assert!(report.ok(), "{}", report.render()),
            Some(_) => expect(&report, Invariant::ChatEnd),
        }
    }
}

async fn lose_on_disconnect() -> anyhow::Result<CheckReport> {
    use serde_json::json;
    use switchboard_tests::TestServer;
    let mut config = switchboard_tests::base_config();
    let dir = out_dir("lose");
    std::fs::create_dir_all(&dir)?;
    let journal = dir.join(checker::JOURNAL_FILE);
    config.journal = Some(journal.clone());
    config.disconnect.agent_grace = std::time::Duration::from_millis(100);
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut user = server.user().await?;
    let started = user
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "laptop"}))
        .await?;
    let chat = started["chat"].clone();
    alice.ok(json!({"type": "accept", "chat": chat})).await?;
    user.notice("agent_joined").await?;
    drop(alice);
    // Alice is gone once the grace period ran out (the server signs her out).
    server
        .wait_for_agents(|v| {
            v["agents"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["id"] == "alice" && x["signed_in"] == json!(false))
            })
        })
        .await?;
    user.close().await?;
    server.stop().await?;
    let entries = checker::read_journal(&journal)?;
    let history = switchboard_sim::history::History::new(true);
    let opts = Options {
        agent_grace_ms: 100,
        ..Options::default()
    };
    Ok(checker::check(&history, Some(&entries), &opts))
}

/// Auto-accept switched on mid-run: an agent who was available takes the new default
/// N at once, so the chat waiting in their queue is theirs in the same step. A journal
/// in which the switch routed nothing shows the chat waiting beside a free agent; the
/// replay must know the switch gave the agent slots (their last status said manual).
#[test]
fn a_chat_left_waiting_after_auto_accept_is_switched_on_is_caught() {
    use switchboard_server::domain::{
        AgentId, Command, Notice, PolicyKind, Principal, RoutingConfig, UserId,
    };
    use switchboard_server::protocol::JournalResult;
    let _turn = TURN.blocking_lock();
    planted::plant(None);
    let config = switchboard_tests::base_config();
    assert!(!config.routing.auto_accept);
    for strip in [false, true] {
        let mut j = DeskJournal::new(&config);
        j.step(
            &Principal::Agent(AgentId::from("alice")),
            Command::SignIn,
            0,
        );
        j.start(&Principal::User(UserId(1)), "hardware", 10);
        let routing = RoutingConfig {
            auto_accept: true,
            policy: PolicyKind::LeastActive,
            default_available_for: 2,
            ..config.routing.clone()
        };
        j.step(&Principal::Admin, Command::SetRouting { routing }, 20);
        if strip
            && let Some(JournalResult::Ok { deliveries, .. }) =
                j.entries.last_mut().map(|e| &mut e.result)
        {
            let before = deliveries.len();
            deliveries.retain(|d| !matches!(d.notice, Notice::Assigned(_)));
            assert!(deliveries.len() < before, "the switch routed the chat");
        }
        j.start(&Principal::User(UserId(2)), "network", 2_000);
        let report = j.check(30_000);
        if strip {
            expect(&report, Invariant::WorkConserving);
        } else {
            assert!(report.ok(), "{}", report.render());
        }
    }
}

/// `set_routing` raises the limit of chats accepted from Transferred under auto-accept
/// (1 in the scenario, 2 after): an agent holding two is within it, and the replay must
/// judge by the limit in force, not by the scenario's.
#[test]
fn the_transfer_accept_limit_in_force_is_the_one_set_last() {
    use switchboard_server::domain::{
        AgentId, Availability, Command, PolicyKind, Principal, RoutingConfig, TransferTarget,
        UserId,
    };
    let _turn = TURN.blocking_lock();
    planted::plant(None);
    let mut config = switchboard_tests::base_config();
    config.routing.auto_accept = true;
    config.routing.policy = PolicyKind::LeastActive;
    config.routing.max_transfer_accepts = 1;
    let mut j = DeskJournal::new(&config);
    let (alice, bob) = (
        Principal::Agent(AgentId::from("alice")),
        Principal::Agent(AgentId::from("bob")),
    );
    let available = |n| Command::SetAvailability {
        availability: Availability::AvailableFor(n),
    };
    j.step(&alice, Command::SignIn, 0);
    j.step(&alice, available(0), 0);
    j.step(&bob, Command::SignIn, 0);
    j.step(&bob, available(2), 0);
    let routing = RoutingConfig {
        max_transfer_accepts: 2,
        ..config.routing.clone()
    };
    j.step(&Principal::Admin, Command::SetRouting { routing }, 1);
    for (u, at) in [(1, 10), (2, 20)] {
        let chat = j.start(&Principal::User(UserId(u)), "software", at);
        let to = TransferTarget::Agent(AgentId::from("alice"));
        let transfer = Command::Transfer {
            chat,
            to,
            notes: String::new(),
        };
        j.step(&bob, transfer, at + 1);
        j.step(&alice, Command::AcceptTransfer { chat }, at + 2);
    }
    let opts = Options {
        agent_grace_ms: 30_000,
        max_transfer_accepts: 1,
        ..Options::default()
    };
    let history = switchboard_sim::history::History::new(true);
    let report = checker::check(&history, Some(&j.entries), &opts);
    assert!(report.ok(), "{}", report.render());
}

/// R10 after a dropped connection: the agent back within its grace period gets each
/// held chat whole (`resumed`), the user's messages written meanwhile included. A
/// resumed history missing one of them, a chat resumed to an agent who does not own
/// it, or a resumed chat not given at all, is caught.
#[test]
fn a_resumed_chat_missing_a_message_or_given_to_another_agent_is_caught() {
    use switchboard_server::domain::{AgentId, Command, Notice, Principal, Recipient, UserId};
    use switchboard_server::protocol::JournalResult;
    let _turn = TURN.blocking_lock();
    planted::plant(None);
    let config = switchboard_tests::base_config();
    for tamper in [None, Some("history"), Some("recipient"), Some("missing")] {
        let mut j = DeskJournal::new(&config);
        let (alice, bob) = (
            Principal::Agent(AgentId::from("alice")),
            Principal::Agent(AgentId::from("bob")),
        );
        let user = Principal::User(UserId(1));
        j.step(&alice, Command::SignIn, 0);
        j.step(&bob, Command::SignIn, 0);
        let chat = j.start(&user, "hardware", 10);
        j.step(&alice, Command::Accept { chat }, 20);
        j.step(&alice, Command::Disconnect, 30);
        let send = Command::Send {
            chat,
            text: "still there?".into(),
        };
        j.step(&user, send, 40);
        j.step(&alice, Command::SignIn, 50);
        let Some(JournalResult::Ok { deliveries, .. }) =
            j.entries.last_mut().map(|e| &mut e.result)
        else {
            panic!("the sign-in was journaled");
        };
        if tamper == Some("missing") {
            deliveries.retain(|d| !matches!(d.notice, Notice::Resumed(_)));
        }
        let resumed = deliveries
            .iter_mut()
            .find(|d| matches!(d.notice, Notice::Resumed(_)));
        match (tamper, resumed) {
            (Some("missing"), None) => {}
            (_, None) => panic!("the chat was resumed"),
            (_, Some(resumed)) => match tamper {
                Some("history") => {
                    if let Notice::Resumed(view) = &mut resumed.notice {
                        view.history.pop();
                    }
                }
                Some(_) => resumed.to = Recipient::Agent(AgentId::from("bob")),
                None => {}
            },
        }
        let report = j.check(30_000);
        match tamper {
            None => assert!(report.ok(), "{}", report.render()),
            Some("history") => expect(&report, Invariant::Transcript),
            Some("missing") => expect(&report, Invariant::MessageOrder),
            Some(_) => expect(&report, Invariant::SingleOwner),
        }
    }
}

/// A journal written straight from a Desk, step by step, for replays of exact
/// interleavings a live run would reach only by luck.
struct DeskJournal {
    desk: switchboard_server::domain::Desk,
    entries: Vec<switchboard_server::protocol::JournalEntry>,
}

impl DeskJournal {
    fn new(config: &switchboard_server::config::ServerConfig) -> DeskJournal {
        DeskJournal {
            desk: config.build_desk().expect("desk"),
            entries: Vec::new(),
        }
    }

    /// Runs `command` for `who` at `at_ms` (the Desk must accept it) and journals it.
    fn step(
        &mut self,
        who: &switchboard_server::domain::Principal,
        command: switchboard_server::domain::Command,
        at_ms: u64,
    ) -> switchboard_server::domain::Reply {
        use switchboard_server::protocol::{JournalEntry, JournalResult};
        let outcome = self
            .desk
            .handle(
                who,
                command.clone(),
                switchboard_server::domain::Time(at_ms),
            )
            .unwrap_or_else(|e| panic!("the Desk refused {command:?}: {e}"));
        let reply = outcome.reply.clone();
        self.entries.push(JournalEntry {
            seq: self.entries.len() as u64 + 1,
            at_ms,
            wall_ms: at_ms,
            principal: who.clone(),
            command,
            result: JournalResult::Ok {
                reply: outcome.reply,
                deliveries: outcome.deliveries,
            },
        });
        reply
    }

    /// Starts a chat for `user` in `queue`.
    fn start(
        &mut self,
        user: &switchboard_server::domain::Principal,
        queue: &str,
        at_ms: u64,
    ) -> switchboard_server::domain::ChatId {
        use switchboard_server::domain::{ChatSource, Command, Reply};
        let started = self.step(
            user,
            Command::StartChat {
                queue: queue.into(),
                subject: "help".into(),
                source: ChatSource::default(),
                customer: None,
            },
            at_ms,
        );
        let Reply::ChatStarted { chat, .. } = started else {
            panic!("start_chat did not start a chat: {started:?}");
        };
        chat
    }

    /// The checker's verdict on the journal.
    fn check(&self, agent_grace_ms: u64) -> CheckReport {
        let opts = Options {
            agent_grace_ms,
            ..Options::default()
        };
        let history = switchboard_sim::history::History::new(true);
        checker::check(&history, Some(&self.entries), &opts)
    }
}

/// An agent whose grace period ran out but who signs in before the server's timer
/// noticed is released inside that `sign_in` (`agent_left` with `agent_gone` to their
/// users) and is signed in afresh: the replay must not take the notices for a sign-out
/// and then report the chat the agent takes again as lost.
#[test]
fn a_late_sign_in_that_releases_old_chats_leaves_the_agent_signed_in() {
    use switchboard_server::domain::{AgentId, Command, Principal, UserId};
    // The planted bugs are process-wide: this Desk must not run with another test's.
    let _turn = TURN.blocking_lock();
    planted::plant(None);
    let mut config = switchboard_tests::base_config();
    config.disconnect.agent_grace = std::time::Duration::from_millis(100);
    let mut j = DeskJournal::new(&config);
    let alice = Principal::Agent(AgentId::from("alice"));
    let user = Principal::User(UserId(1));
    j.step(&alice, Command::SignIn, 0);
    let chat = j.start(&user, "hardware", 10);
    j.step(&alice, Command::Accept { chat }, 20);
    j.step(&alice, Command::Disconnect, 30);
    // Past the grace period (100 ms below) with no tick in between: the sign-in
    // releases the chat to the queue, and alice takes it again.
    j.step(&alice, Command::SignIn, 500);
    j.step(&alice, Command::Accept { chat }, 510);
    let report = j.check(100);
    assert!(report.ok(), "{}", report.render());
}

/// A transfer addressed to an agent who signs out before taking it is withdrawn to the
/// chat's queue (`transfer_withdrawn`): anyone there may take it then, and the replay
/// must not report that as a transfer taken by the wrong agent (R5).
#[test]
fn a_withdrawn_transfer_may_be_taken_from_the_queue() {
    use switchboard_server::domain::{AgentId, Command, Principal, TransferTarget, UserId};
    let _turn = TURN.blocking_lock();
    planted::plant(None);
    let config = switchboard_tests::base_config();
    let mut j = DeskJournal::new(&config);
    let alice = Principal::Agent(AgentId::from("alice"));
    let bob = Principal::Agent(AgentId::from("bob"));
    let user = Principal::User(UserId(1));
    j.step(&alice, Command::SignIn, 0);
    j.step(&bob, Command::SignIn, 0);
    let chat = j.start(&user, "software", 10);
    j.step(&alice, Command::Accept { chat }, 20);
    let to_bob = Command::Transfer {
        chat,
        to: TransferTarget::Agent(AgentId::from("bob")),
        notes: "for bob".into(),
    };
    j.step(&alice, to_bob, 30);
    j.step(&bob, Command::SignOut, 40);
    j.step(&alice, Command::AcceptTransfer { chat }, 50);
    let report = j.check(30_000);
    assert!(report.ok(), "{}", report.render());
}

/// Under auto-accept a chat left waiting while a member of its queue has a free slot
/// is a `work_conserving` violation once it has waited longer than the bound: here the
/// journal is made to forget that the Desk gave the chat to alice.
#[test]
fn a_chat_left_waiting_beside_a_free_agent_is_caught() {
    use switchboard_server::domain::{
        AgentId, Availability, Command, Notice, Principal, Reply, UserId,
    };
    use switchboard_server::protocol::JournalResult;
    let _turn = TURN.blocking_lock();
    planted::plant(None);
    let mut config = switchboard_tests::base_config();
    config.routing.auto_accept = true;
    let mut j = DeskJournal::new(&config);
    let alice = Principal::Agent(AgentId::from("alice"));
    j.step(&alice, Command::SignIn, 0);
    let available = Command::SetAvailability {
        availability: Availability::AvailableFor(2),
    };
    j.step(&alice, available, 0);
    j.start(&Principal::User(UserId(1)), "hardware", 10);
    if let Some(JournalResult::Ok { reply, deliveries }) =
        j.entries.last_mut().map(|e| &mut e.result)
    {
        deliveries.retain(|d| !matches!(d.notice, Notice::Assigned(_)));
        if let Reply::ChatStarted { assigned, .. } = reply {
            *assigned = false;
        }
    }
    // Anything later than the bound (1 s) shows the chat still waiting.
    j.start(&Principal::User(UserId(2)), "network", 2_000);
    let report = j.check(30_000);
    expect(&report, Invariant::WorkConserving);
}
