//! A small support desk to test the rules on: two queues, agents in each, one agent
//! without the live-chat permission, and reference data.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use switchboard_server::domain::*;

pub const HW: &str = "hardware";
pub const SW: &str = "software";

pub fn reference() -> ReferenceData {
    ReferenceData {
        articles: vec![
            KnowledgeArticle {
                id: "KA-1".into(),
                title: "Reset your VPN token".into(),
                body: "Open the portal and reset the token.".into(),
                keywords: vec!["vpn".into(), "token".into()],
                link: "https://kb.example/KA-1".into(),
            },
            KnowledgeArticle {
                id: "KA-2".into(),
                title: "Printer jams".into(),
                body: "Clear the tray.".into(),
                keywords: vec!["printer".into()],
                link: "https://kb.example/KA-2".into(),
            },
        ],
        templates: vec![
            Template {
                id: "T-LAPTOP".into(),
                name: "Laptop replacement".into(),
                keywords: vec!["laptop".into()],
                fields: vec![
                    TemplateField {
                        name: "asset".into(),
                        required: true,
                        value: String::new(),
                    },
                    TemplateField {
                        name: "urgency".into(),
                        required: true,
                        value: "medium".into(),
                    },
                ],
            },
            Template {
                id: "T-PRINTER".into(),
                name: "Printer issue".into(),
                keywords: vec!["printer".into()],
                fields: vec![TemplateField {
                    name: "urgency".into(),
                    required: true,
                    value: "low".into(),
                }],
            },
        ],
        outages: vec![Outage {
            id: "OUT-1".into(),
            title: "Email degraded".into(),
            service: "email".into(),
        }],
        customers: vec![Customer {
            id: "jdoe".into(),
            name: "Jane Doe".into(),
            contact: "jane@example.com".into(),
            site: "Austin".into(),
            company: "Calbro".into(),
            tickets: vec!["INC000042".into()],
            assets: vec!["LAPTOP-7".into()],
        }],
    }
}

pub fn no_permission(id: &str, queues: &[&str]) -> AgentProfile {
    AgentProfile {
        id: id.into(),
        name: id.into(),
        permissions: BTreeSet::new(),
        queues: queues.iter().map(|q| QueueId::from(*q)).collect(),
    }
}

/// A desk with `hardware` (alice, bob) and `software` (carol); dave lacks ESChat_Agent.
pub fn desk(routing: RoutingConfig) -> Desk {
    Desk::new(
        DeskConfig {
            routing,
            disconnect: DisconnectRules {
                agent_grace: Duration::from_secs(30),
                user: UserDisconnect::Abandon,
            },
            seed: 1,
        },
        [QueueId::from(HW), QueueId::from(SW)],
        [
            AgentProfile::chat_agent("alice", &[HW]),
            AgentProfile::chat_agent("bob", &[HW]),
            AgentProfile::chat_agent("carol", &[SW]),
            no_permission("dave", &[HW]),
        ],
        reference(),
    )
    .expect("valid desk")
}

pub fn manual() -> RoutingConfig {
    RoutingConfig::default()
}

pub fn auto(policy: PolicyKind) -> RoutingConfig {
    RoutingConfig {
        auto_accept: true,
        policy,
        ..RoutingConfig::default()
    }
}

pub fn agent(id: &str) -> Principal {
    Principal::Agent(id.into())
}

pub fn user(n: u64) -> Principal {
    Principal::User(UserId(n))
}

pub fn t(ms: u64) -> Time {
    Time(ms)
}

/// Runs a command that must succeed.
pub fn ok(desk: &mut Desk, who: &Principal, cmd: Command, now: u64) -> Outcome {
    let name = cmd.name();
    desk.handle(who, cmd, Time(now))
        .unwrap_or_else(|e| panic!("{name} by {who:?} failed: {e}"))
}

/// Alice signs in, user 1 starts a chat in the hardware queue at 0 ms and Alice
/// accepts it at 1 ms: the chat.
pub fn alice_in_a_chat(desk: &mut Desk) -> ChatId {
    sign_in(desk, "alice");
    let c = start(desk, 1, HW, 0);
    ok(desk, &agent("alice"), Command::Accept { chat: c }, 1);
    c
}

/// `agent_id` creates a ticket of `kind` on chat `c` (from `template`, if any): the
/// ticket the reply holds.
pub fn create_ticket(
    desk: &mut Desk,
    agent_id: &str,
    c: ChatId,
    kind: TicketKind,
    template: Option<&str>,
    now: u64,
) -> Ticket {
    let cmd = Command::CreateTicket {
        chat: c,
        kind,
        template: template.map(Into::into),
    };
    match ok(desk, &agent(agent_id), cmd, now).reply {
        Reply::Ticket(t) => *t,
        other => panic!("create_ticket answered {other:?}"),
    }
}

/// Runs a command that must fail, returning the error code.
pub fn err(desk: &mut Desk, who: &Principal, cmd: Command, now: u64) -> &'static str {
    let name = cmd.name();
    match desk.handle(who, cmd, Time(now)) {
        Ok(o) => panic!("{name} by {who:?} succeeded: {o:?}"),
        Err(e) => e.code(),
    }
}

/// Agent `from` transfers `chat` to `to` with `notes`; the transfer must succeed.
pub fn transfer(
    desk: &mut Desk,
    from: &str,
    chat: ChatId,
    to: TransferTarget,
    notes: &str,
    now: u64,
) -> Outcome {
    let cmd = Command::Transfer {
        chat,
        to,
        notes: notes.into(),
    };
    ok(desk, &agent(from), cmd, now)
}

pub fn sign_in(desk: &mut Desk, id: &str) -> AgentStatus {
    match ok(desk, &agent(id), Command::SignIn, 0).reply {
        Reply::Status(s) => s,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Agent `id` declares "Available for `n`" (auto-accept on).
pub fn available_for(desk: &mut Desk, id: &str, n: u8, now: u64) {
    ok(
        desk,
        &agent(id),
        Command::SetAvailability {
            availability: Availability::AvailableFor(n),
        },
        now,
    );
}

/// User `u` starts a chat in `queue`; returns its id.
pub fn start(desk: &mut Desk, u: u64, queue: &str, now: u64) -> ChatId {
    start_as(
        desk,
        u,
        queue,
        "my laptop will not boot",
        ChatSource::SelfService,
        now,
    )
}

pub fn start_as(
    desk: &mut Desk,
    u: u64,
    queue: &str,
    subject: &str,
    source: ChatSource,
    now: u64,
) -> ChatId {
    let cmd = Command::StartChat {
        queue: queue.into(),
        subject: subject.into(),
        source,
        customer: Some("jdoe".into()),
    };
    match ok(desk, &user(u), cmd, now).reply {
        Reply::ChatStarted { chat, .. } => chat,
        other => panic!("unexpected reply {other:?}"),
    }
}

pub fn accepted(o: &Outcome) -> &AcceptedChat {
    match &o.reply {
        Reply::Accepted(a) => a,
        other => panic!("not accepted: {other:?}"),
    }
}

/// Notices addressed to `to`.
pub fn notices_for<'a>(o: &'a Outcome, to: &Recipient) -> Vec<&'a Notice> {
    o.deliveries
        .iter()
        .filter(|d| &d.to == to)
        .map(|d| &d.notice)
        .collect()
}

/// Agents auto-assigned a chat in this outcome, in order.
pub fn assigned(o: &Outcome) -> Vec<(String, ChatId)> {
    o.deliveries
        .iter()
        .filter_map(|d| match (&d.to, &d.notice) {
            (Recipient::Agent(a), Notice::Assigned(c)) => Some((a.to_string(), c.chat)),
            _ => None,
        })
        .collect()
}

pub fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
