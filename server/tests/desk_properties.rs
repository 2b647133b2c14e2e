//! Property tests: random command sequences from many agents and users, with the
//! Desk's invariants checked after every step.
//!
//! Invariants (DESIGN.md rules in brackets):
//! - a chat has at most one owner, and owners and My Chats agree [R4, R8];
//! - an auto-assignment never takes an agent above their Available-for N [R2, R6];
//! - under auto-accept no chat waits in a queue while a member of it has a free slot
//!   (other than the agent who transferred it there) [R2, R6];
//! - under auto-accept, an agent accepts from Transferred only while holding fewer than
//!   the limit (`max_transfer_accepts`, four by default) accepted from there [R6] (what they accepted by hand before the switch
//!   stays theirs);
//! - no chat is both waiting and owned; every started chat is in exactly one place;
//! - transcripts hold exactly what was sent, in send order [R10];
//! - a ticket's description holds the transcript as it stood at creation [R12, R13];
//! - agents never see or accept transfers outside their queues [R5];
//! - nothing succeeds for a principal without the right role [R1];
//! - a refused command changes nothing;
//! - the same commands with the same seed give the same deliveries.

mod common;

use common::{HW, SW, reference};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use switchboard_server::domain::config::MAX_AVAILABLE_FOR;
use switchboard_server::domain::*;

const AGENTS: [(&str, &[&str]); 6] = [
    ("a0", &[HW]),
    ("a1", &[HW]),
    ("a2", &[HW, SW]),
    ("a3", &[SW]),
    ("a4", &[SW, "network"]),
    ("a5", &["network"]),
];
const QUEUES: [&str; 3] = [HW, SW, "network"];
const ARTICLES: [&str; 3] = ["KA-1", "KA-2", "KA-404"];
const TEMPLATES: [&str; 3] = ["T-LAPTOP", "T-PRINTER", "T-NONE"];

#[derive(Clone, Debug)]
enum Op {
    SignIn(usize),
    SignOut(usize),
    Available(usize, u8),
    Start(u64, usize),
    Accept(usize, usize),
    AcceptTransfer(usize, usize),
    UserSend(usize, bool),
    AgentSend(usize, usize),
    TransferToAgent(usize, usize, usize),
    TransferToQueue(usize, usize, usize),
    AgentClose(usize, usize),
    UserClose(usize, bool),
    AgentDrop(usize),
    UserDrop(usize),
    CreateTicket(usize, usize, bool, Option<usize>),
    Fill(usize, usize),
    Confirm(usize, usize),
    Share(usize, usize, usize),
    Pin(usize, usize, usize),
    Tick,
    ListQueue(usize),
    ListTransferred(usize),
    Routing(RoutingConfig),
    Forbidden(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let a = 0..AGENTS.len();
    let c = 0..64usize;
    prop_oneof![
        4 => a.clone().prop_map(Op::SignIn),
        1 => a.clone().prop_map(Op::SignOut),
        3 => (a.clone(), 0..6u8).prop_map(|(a, n)| Op::Available(a, n)),
        6 => (0..12u64, 0..QUEUES.len()).prop_map(|(u, q)| Op::Start(u, q)),
        5 => (a.clone(), c.clone()).prop_map(|(a, c)| Op::Accept(a, c)),
        3 => (a.clone(), c.clone()).prop_map(|(a, c)| Op::AcceptTransfer(a, c)),
        4 => (c.clone(), any::<bool>()).prop_map(|(c, own)| Op::UserSend(c, own)),
        4 => (a.clone(), c.clone()).prop_map(|(a, c)| Op::AgentSend(a, c)),
        2 => (a.clone(), c.clone(), a.clone()).prop_map(|(a, c, b)| Op::TransferToAgent(a, c, b)),
        2 => (a.clone(), c.clone(), 0..QUEUES.len()).prop_map(|(a, c, q)| Op::TransferToQueue(a, c, q)),
        2 => (a.clone(), c.clone()).prop_map(|(a, c)| Op::AgentClose(a, c)),
        2 => (c.clone(), any::<bool>()).prop_map(|(c, own)| Op::UserClose(c, own)),
        1 => a.clone().prop_map(Op::AgentDrop),
        1 => c.clone().prop_map(Op::UserDrop),
        2 => (a.clone(), c.clone(), any::<bool>(), proptest::option::of(0..TEMPLATES.len()))
            .prop_map(|(a, c, inc, t)| Op::CreateTicket(a, c, inc, t)),
        1 => (a.clone(), 0..16usize).prop_map(|(a, t)| Op::Fill(a, t)),
        1 => (a.clone(), 0..16usize).prop_map(|(a, t)| Op::Confirm(a, t)),
        1 => (a.clone(), c.clone(), 0..ARTICLES.len()).prop_map(|(a, c, k)| Op::Share(a, c, k)),
        1 => (a.clone(), c.clone(), 0..ARTICLES.len()).prop_map(|(a, c, k)| Op::Pin(a, c, k)),
        2 => Just(Op::Tick),
        1 => a.clone().prop_map(Op::ListQueue),
        1 => a.clone().prop_map(Op::ListTransferred),
        // Any settings, the manual policy (auto-accept off) among them.
        1 => (routing(), 0..PolicyKind::ALL.len()).prop_map(|(mut r, p)| {
            r.policy = PolicyKind::ALL[p];
            r.auto_accept &= r.policy != PolicyKind::Manual;
            Op::Routing(r)
        }),
        1 => (0..4usize, c).prop_map(|(k, c)| Op::Forbidden(k, c)),
    ]
}

fn new_desk(routing: RoutingConfig, seed: u64) -> Desk {
    let mut agents: Vec<AgentProfile> = AGENTS
        .iter()
        .map(|(id, qs)| AgentProfile::chat_agent(id, qs))
        .collect();
    agents.push(common::no_permission("dave", &[HW]));
    Desk::new(
        DeskConfig {
            routing,
            disconnect: DisconnectRules {
                agent_grace: Duration::from_secs(10),
                user: UserDisconnect::Abandon,
            },
            seed,
        },
        QUEUES.map(QueueId::from),
        agents,
        reference(),
    )
    .expect("valid desk")
}

/// What the test remembers to check the Desk against.
#[derive(Default)]
struct Model {
    chats: Vec<ChatId>,
    sent: BTreeMap<ChatId, Vec<String>>,
    next_text: u64,
}

impl Model {
    fn chat(&self, i: usize) -> ChatId {
        // Mostly real chats, sometimes one that does not exist.
        if self.chats.is_empty() || i >= 60 {
            ChatId(10_000 + i as u64)
        } else {
            self.chats[i % self.chats.len()]
        }
    }

    fn text(&mut self) -> String {
        self.next_text += 1;
        format!("m{}", self.next_text)
    }
}

fn agent(i: usize) -> Principal {
    Principal::Agent(AGENTS[i].0.into())
}

fn snapshot(d: &Desk) -> String {
    let chats: Vec<&Chat> = d.chats().collect();
    let agents: Vec<&Agent> = d.agents().collect();
    let tickets: Vec<&Ticket> = d.tickets().collect();
    serde_json::to_string(&(chats, agents, tickets)).expect("serialisable state")
}

/// Turns an op into (principal, command), and any text it sends.
fn command(op: &Op, m: &mut Model, d: &Desk) -> (Principal, Command, Option<String>) {
    let user_of = |c: ChatId, own: bool| -> Principal {
        let u = d.chat(c).map_or(UserId(99), |ch| ch.user);
        Principal::User(if own { u } else { UserId(u.0 + 1) })
    };
    match *op {
        Op::SignIn(a) => (agent(a), Command::SignIn, None),
        Op::SignOut(a) => (agent(a), Command::SignOut, None),
        Op::Available(a, n) => {
            let availability = match (d.config().routing.auto_accept, n) {
                (true, 5) => Availability::Available,
                (true, n) => Availability::AvailableFor(n),
                (false, 0) => Availability::Unavailable,
                (false, 5) => Availability::AvailableFor(2),
                (false, _) => Availability::Available,
            };
            (agent(a), Command::SetAvailability { availability }, None)
        }
        Op::Start(u, q) => (
            Principal::User(UserId(u)),
            Command::StartChat {
                queue: QUEUES[q].into(),
                subject: "laptop printer vpn".into(),
                source: if u % 2 == 0 {
                    ChatSource::SelfService
                } else {
                    ChatSource::Chatbot
                },
                customer: Some("jdoe".into()),
            },
            None,
        ),
        Op::Accept(a, c) => (agent(a), Command::Accept { chat: m.chat(c) }, None),
        Op::AcceptTransfer(a, c) => (agent(a), Command::AcceptTransfer { chat: m.chat(c) }, None),
        Op::UserSend(c, own) => {
            let chat = m.chat(c);
            let text = m.text();
            (
                user_of(chat, own),
                Command::Send {
                    chat,
                    text: text.clone(),
                },
                Some(text),
            )
        }
        Op::AgentSend(a, c) => {
            let text = m.text();
            (
                agent(a),
                Command::Send {
                    chat: m.chat(c),
                    text: text.clone(),
                },
                Some(text),
            )
        }
        Op::TransferToAgent(a, c, b) => (
            agent(a),
            Command::Transfer {
                chat: m.chat(c),
                to: TransferTarget::Agent(AGENTS[b].0.into()),
                notes: format!("from {}", AGENTS[a].0),
            },
            None,
        ),
        Op::TransferToQueue(a, c, q) => (
            agent(a),
            Command::Transfer {
                chat: m.chat(c),
                to: TransferTarget::Queue(QUEUES[q].into()),
                notes: "queue".into(),
            },
            None,
        ),
        Op::AgentClose(a, c) => (agent(a), Command::Close { chat: m.chat(c) }, None),
        Op::UserClose(c, own) => {
            let chat = m.chat(c);
            (user_of(chat, own), Command::Close { chat }, None)
        }
        Op::AgentDrop(a) => (agent(a), Command::Disconnect, None),
        Op::UserDrop(c) => (user_of(m.chat(c), true), Command::Disconnect, None),
        Op::CreateTicket(a, c, incident, t) => (
            agent(a),
            Command::CreateTicket {
                chat: m.chat(c),
                kind: if incident {
                    TicketKind::Incident
                } else {
                    TicketKind::WorkOrder
                },
                template: t.map(|t| TEMPLATES[t].into()),
            },
            None,
        ),
        Op::Fill(a, t) => (
            agent(a),
            Command::FillTicket {
                ticket: TicketId(t as u64 + 1),
                fields: BTreeMap::from([("asset".to_string(), "LAPTOP-1".to_string())]),
            },
            None,
        ),
        Op::Confirm(a, t) => (
            agent(a),
            Command::ConfirmTicket {
                ticket: TicketId(t as u64 + 1),
            },
            None,
        ),
        Op::Share(a, c, k) => (
            agent(a),
            Command::ShareArticle {
                chat: m.chat(c),
                article: ARTICLES[k].into(),
            },
            None,
        ),
        Op::Pin(a, c, k) => (
            agent(a),
            Command::PinArticle {
                chat: m.chat(c),
                article: ARTICLES[k].into(),
            },
            None,
        ),
        Op::Tick => (Principal::System, Command::Tick, None),
        Op::ListQueue(a) => (agent(a), Command::ListQueue, None),
        Op::ListTransferred(a) => (agent(a), Command::ListTransferred, None),
        Op::Routing(ref routing) => (
            Principal::Admin,
            Command::SetRouting {
                routing: routing.clone(),
            },
            None,
        ),
        // Commands that must fail whatever the state: wrong roles and R1.
        Op::Forbidden(k, c) => {
            let chat = m.chat(c);
            match k {
                0 => (Principal::Agent("dave".into()), Command::SignIn, None),
                1 => (
                    Principal::Agent("dave".into()),
                    Command::Accept { chat },
                    None,
                ),
                2 => (Principal::User(UserId(1)), Command::Accept { chat }, None),
                _ => (
                    Principal::User(UserId(1)),
                    Command::AddQueue {
                        queue: "rogue".into(),
                    },
                    None,
                ),
            }
        }
    }
}

/// Checks every invariant of the module docs on the state after a step.
fn check_state(d: &Desk, m: &Model) -> Result<(), TestCaseError> {
    let mut owned = BTreeSet::new();
    for a in d.agents() {
        let mut from_transfers = 0;
        for c in &a.chats {
            let chat = d.chat(*c).expect("my chats exist");
            prop_assert!(
                chat.owned_by(&a.profile.id),
                "{} lists {c} it does not own",
                a.profile.id
            );
            prop_assert!(owned.insert(*c), "chat {c} in two agents' My Chats");
            if let ChatState::Active {
                origin: Origin::Transferred,
                ..
            } = chat.state
            {
                from_transfers += 1;
            }
        }
        // The limit of R6 applies to accepting (see `check_step`): what an agent accepted
        // by hand before auto-accept was switched on stays theirs.
        prop_assert_eq!(from_transfers, a.transfer_accepts);
        for c in &a.transfers {
            let chat = d.chat(*c).expect("transfers exist");
            prop_assert!(
                matches!(&chat.state, ChatState::Transferred { to: TransferTarget::Agent(t), .. } if *t == a.profile.id),
                "{} lists transfer {c} not addressed to them",
                a.profile.id
            );
        }
        if !a.signed_in {
            prop_assert!(a.chats.is_empty() && a.transfers.is_empty());
        }
        prop_assert!(
            a.profile.may_chat() || !a.signed_in,
            "R1: {} signed in",
            a.profile.id
        );
    }
    let stats = d.stats();
    let mut queued = BTreeMap::<&QueueId, usize>::new();
    let mut to_queue = BTreeMap::<&QueueId, usize>::new();
    for chat in d.chats() {
        match &chat.state {
            ChatState::Active { agent, .. } => {
                prop_assert!(
                    owned.contains(&chat.id),
                    "active chat {} not in {agent}'s My Chats",
                    chat.id
                )
            }
            ChatState::Queued => {
                prop_assert!(!owned.contains(&chat.id));
                *queued.entry(&chat.queue).or_default() += 1;
            }
            ChatState::Transferred {
                to: TransferTarget::Queue(q),
                ..
            } => {
                prop_assert_eq!(q, &chat.queue);
                *to_queue.entry(q).or_default() += 1;
            }
            ChatState::Transferred {
                to: TransferTarget::Agent(t),
                ..
            } => {
                prop_assert!(d.agent(t).unwrap().transfers.contains(&chat.id));
            }
            ChatState::Closed { .. } | ChatState::Abandoned => {
                prop_assert!(!owned.contains(&chat.id));
            }
        }
        // R10: exactly what was sent, in order, numbered from 1.
        let texts: Vec<&str> = chat
            .transcript
            .iter()
            .filter_map(|e| match &e.body {
                EntryBody::Text { text } => Some(text.as_str()),
                EntryBody::Article { .. } => None,
            })
            .collect();
        let sent: Vec<&str> = m
            .sent
            .get(&chat.id)
            .map_or(vec![], |v| v.iter().map(String::as_str).collect());
        prop_assert_eq!(texts, sent);
        for (i, e) in chat.transcript.iter().enumerate() {
            prop_assert_eq!(e.seq, i as u64 + 1);
        }
    }
    for (q, (nq, nt)) in &stats.queue_depth {
        prop_assert_eq!(
            *nq,
            queued.get(q).copied().unwrap_or(0),
            "queue {} count",
            q
        );
        prop_assert_eq!(
            *nt,
            to_queue.get(q).copied().unwrap_or(0),
            "queue {} transfers",
            q
        );
    }
    // Every started chat is still there, each once.
    prop_assert_eq!(d.chats().count(), m.chats.len());
    // R2/R6: under auto-accept nothing waits while someone could take it. A chat waiting
    // in a queue (or transferred to it, when such transfers are routed) has no member
    // with a free slot, other than the agent who transferred it.
    let routing = &d.config().routing;
    if routing.routes_automatically() {
        for chat in d.chats() {
            let (queue, not_to) = match &chat.state {
                ChatState::Queued => (&chat.queue, None),
                ChatState::Transferred {
                    to: TransferTarget::Queue(q),
                    from,
                } if routing.route_queue_transfers => (q, Some(from)),
                _ => continue,
            };
            for a in d.agents() {
                prop_assert!(
                    a.free_slots() == 0
                        || !a.profile.in_queue(queue)
                        || Some(&a.profile.id) == not_to,
                    "chat {} waits in {queue} while {} has {} free slot(s)",
                    chat.id,
                    a.profile.id,
                    a.free_slots()
                );
            }
        }
    }
    Ok(())
}

/// Checks what one successful step says about the rules.
fn check_step(
    d: &Desk,
    who: &Principal,
    cmd: &Command,
    before: Option<&ChatState>,
    o: &Outcome,
) -> Result<(), TestCaseError> {
    // R1: dave and wrong roles never succeed.
    prop_assert!(
        *who != Principal::Agent("dave".into()),
        "dave succeeded: {cmd:?}"
    );
    // R2/R6: every auto-assignment left its agent within N.
    for dl in &o.deliveries {
        if let (Recipient::Agent(a), Notice::Assigned(_)) = (&dl.to, &dl.notice) {
            let agent = d.agent(a).unwrap();
            prop_assert!(d.config().routing.auto_accept);
            prop_assert!(agent.available && agent.online());
            prop_assert!(
                agent.chats.len() <= agent.available_for as usize,
                "{a} holds {} but is available for {}",
                agent.chats.len(),
                agent.available_for
            );
        }
    }
    // R5: a transfer accepted only by its addressee or a member of its queue; R6:
    // under auto-accept, only while the agent held fewer than the limit from Transferred.
    if let (Principal::Agent(a), Command::AcceptTransfer { .. }) = (who, cmd) {
        let routing = &d.config().routing;
        let held = d.agent(a).unwrap().transfer_accepts;
        prop_assert!(
            !routing.auto_accept || held <= u32::from(routing.max_transfer_accepts),
            "{a} accepted a transfer under auto-accept holding {} already",
            held - 1
        );
        let profile = &d.agent(a).unwrap().profile;
        match before {
            Some(ChatState::Transferred {
                to: TransferTarget::Agent(t),
                ..
            }) => prop_assert_eq!(t, a),
            Some(ChatState::Transferred {
                to: TransferTarget::Queue(q),
                ..
            }) => {
                prop_assert!(profile.in_queue(q))
            }
            other => prop_assert!(false, "accepted a transfer from {:?}", other),
        }
    }
    if let (Principal::Agent(a), Reply::Chats { chats }) = (who, &o.reply) {
        let profile = &d.agent(a).unwrap().profile;
        for c in chats {
            match &c.state {
                ChatState::Transferred {
                    to: TransferTarget::Agent(t),
                    ..
                } if matches!(cmd, Command::ListTransferred) => {
                    prop_assert_eq!(t, a)
                }
                ChatState::Transferred {
                    to: TransferTarget::Queue(q),
                    ..
                } => prop_assert!(profile.in_queue(q)),
                ChatState::Queued => prop_assert!(profile.in_queue(&c.queue)),
                _ => {}
            }
        }
    }
    // R12/R13: a created ticket holds the transcript as it stands now.
    if let Reply::Ticket(t) = &o.reply
        && t.status == TicketStatus::Created
        && matches!(
            cmd,
            Command::CreateTicket { .. } | Command::ConfirmTicket { .. }
        )
    {
        let chat = d.chat(t.chat).unwrap();
        prop_assert!(t.description.contains(&render_transcript(&chat.transcript)));
    }
    Ok(())
}

fn run(ops: &[(Op, u64)], routing: RoutingConfig, seed: u64) -> Result<Vec<String>, TestCaseError> {
    let mut d = new_desk(routing, seed);
    let mut m = Model::default();
    let mut now = 0u64;
    let mut log = Vec::new();
    for (op, dt) in ops {
        now += dt;
        let (who, cmd, text) = command(op, &mut m, &d);
        let target_chat = match &cmd {
            Command::AcceptTransfer { chat } => d.chat(*chat).map(|c| c.state.clone()),
            _ => None,
        };
        let before = snapshot(&d);
        match d.handle(&who, cmd.clone(), Time(now)) {
            Ok(o) => {
                if let Reply::ChatStarted { chat, .. } = o.reply {
                    m.chats.push(chat);
                }
                if let (Some(text), Command::Send { chat, .. }) = (text, &cmd) {
                    m.sent.entry(*chat).or_default().push(text);
                }
                check_step(&d, &who, &cmd, target_chat.as_ref(), &o)?;
                log.push(serde_json::to_string(&o).expect("serialisable outcome"));
            }
            Err(e) => {
                prop_assert_eq!(before, snapshot(&d), "refused {:?} changed the state", cmd);
                log.push(e.code().to_string());
            }
        }
        check_state(&d, &m)?;
    }
    Ok(log)
}

/// Every routing setting at random: the mode, the policy, the limit of chats taken
/// from Transferred, whether queue transfers are routed, and the N a sign-in assumes.
fn routing() -> impl Strategy<Value = RoutingConfig> {
    (
        any::<bool>(),
        1..PolicyKind::ALL.len(),
        1..=MAX_AVAILABLE_FOR,
        any::<bool>(),
        0..=MAX_AVAILABLE_FOR,
    )
        .prop_map(
            |(on, p, max_transfer_accepts, route_queue_transfers, default_available_for)| {
                RoutingConfig {
                    auto_accept: on,
                    policy: PolicyKind::ALL[p],
                    max_transfer_accepts,
                    route_queue_transfers,
                    default_available_for,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_for_random_command_sequences(
        ops in proptest::collection::vec((op(), 0..8_000u64), 1..300),
        routing in routing(),
        seed in any::<u64>(),
    ) {
        run(&ops, routing, seed)?;
    }

    #[test]
    fn same_commands_and_seed_give_same_deliveries(
        ops in proptest::collection::vec((op(), 0..8_000u64), 1..150),
        seed in any::<u64>(),
    ) {
        let routing = RoutingConfig { auto_accept: true, policy: PolicyKind::Random, ..RoutingConfig::default() };
        let first = run(&ops, routing.clone(), seed)?;
        let second = run(&ops, routing, seed)?;
        prop_assert_eq!(first, second);
    }
}
