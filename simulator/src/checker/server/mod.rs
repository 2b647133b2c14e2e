//! Invariants over the server's journal: the Desk's own record of every command, its
//! reply and the notices it produced, in the order the Desk handled them. The checker
//! replays it into a model of chats and agents and checks each step.

mod content;
mod model;
mod ownership;
mod progress;

use super::Options;
use super::violation::{Invariant, Violation};
use model::{AgentM, ChatM, Lines, St};
use std::collections::{BTreeMap, BTreeSet};
use switchboard_server::domain::{
    AgentId, Availability, ChatId, ChatState, Command, EntryBody, Notice, Origin, Party, Principal,
    Recipient, Reply, TicketId, TransferTarget, UserId,
};
use switchboard_server::protocol::{JournalEntry, JournalResult};

/// What the replay found besides violations.
#[derive(Debug, Default)]
pub struct ServerFacts {
    /// Chats started, in order.
    pub started: Vec<ChatId>,
    /// Per chat, the agents that got it, in order.
    pub owners: BTreeMap<ChatId, Vec<AgentId>>,
    /// Chats still queued, active or transferred when the run ended: when the journal
    /// ends, or, for a live run, just before the simulator closed its connections.
    pub open_at_end: BTreeMap<ChatId, String>,
    /// Chats closed / abandoned.
    pub closed: usize,
    /// Chats abandoned.
    pub abandoned: usize,
}

/// Replays the journal and reports violations. `run_end` is the entry the run ended
/// at, if the journal goes on after it (a live run's simulator closing its
/// connections): the chats open just before it are the ones open at the end, and the
/// end-of-run checks look at the state there. Everything after it is checked as well.
pub fn check(
    journal: &[JournalEntry],
    opts: &Options,
    run_end: Option<u64>,
) -> (Vec<Violation>, ServerFacts) {
    let mut r = Replay::new(opts);
    let mut ended = false;
    for e in journal {
        r.now = e.at_ms;
        if !ended && run_end == Some(e.seq) {
            r.open_chats_at_end(e.at_ms);
            ended = true;
        }
        r.entry(e);
        r.work_conserving(e);
    }
    r.undelivered_at_end();
    if !ended {
        r.open_chats_at_end(journal.last().map_or(0, |e| e.at_ms));
    }
    (r.out, r.facts)
}

/// A chat waiting while an agent could take it (work conservation).
struct Starving {
    since: u64,
    seq: u64,
    agent: AgentId,
    reported: bool,
}

struct Replay<'a> {
    opts: &'a Options,
    chats: BTreeMap<ChatId, ChatM>,
    /// The chats waiting in a queue's line, by queue (no empty sets): `Queued`, and
    /// transferred to the queue when such transfers are routed. What the
    /// work-conserving check looks at after every entry, without scanning every chat.
    queued: Lines,
    agents: BTreeMap<AgentId, AgentM>,
    tickets: BTreeMap<TicketId, (ChatId, bool)>,
    out: Vec<Violation>,
    facts: ServerFacts,
    /// Last message seq delivered per (recipient, chat).
    last_msg: BTreeMap<(String, ChatId), (u64, u64)>,
    /// Messages in the transcript not yet delivered: (chat, seq) → (recipient, journal seq).
    undelivered: BTreeMap<(ChatId, u64), (String, u64)>,
    /// Every chat each user started, so that a user's disconnect finds theirs without
    /// scanning every chat of the run.
    by_user: BTreeMap<UserId, Vec<ChatId>>,
    /// The chats transferred to each agent since its grace period last ran out (some
    /// since taken or moved on), so that the transfers it still holds then are found
    /// without scanning every chat of the run.
    addressed: BTreeMap<AgentId, Vec<ChatId>>,
    /// Chats at the head of a line that an online agent with a free slot could take:
    /// since when (Desk ms and journal seq), the first such agent, and whether the wait
    /// was reported.
    starving: BTreeMap<ChatId, Starving>,
    now: u64,
    /// The limit of chats accepted from Transferred under auto-accept: the scenario's,
    /// then whatever a `set_routing` made it.
    max_transfer_accepts: u8,
    /// Whether auto-accept routes transfers to a queue: the scenario's, then a
    /// `set_routing`'s.
    route_queue_transfers: bool,
}

impl<'a> Replay<'a> {
    /// A replay that has read nothing yet.
    fn new(opts: &'a Options) -> Self {
        Replay {
            opts,
            chats: BTreeMap::new(),
            queued: Lines::default(),
            agents: BTreeMap::new(),
            tickets: BTreeMap::new(),
            out: Vec::new(),
            facts: ServerFacts::default(),
            last_msg: BTreeMap::new(),
            undelivered: BTreeMap::new(),
            by_user: BTreeMap::new(),
            addressed: BTreeMap::new(),
            starving: BTreeMap::new(),
            now: 0,
            max_transfer_accepts: opts.max_transfer_accepts,
            route_queue_transfers: opts.route_queue_transfers,
        }
    }
}

fn rcpt(r: &Recipient) -> String {
    match r {
        Recipient::Agent(a) => format!("agent:{a}"),
        Recipient::User(u) => format!("user:{u}"),
        Recipient::QueueMembers(q) => format!("queue:{q}"),
    }
}

fn who(p: &Principal) -> String {
    match p {
        Principal::Agent(a) => format!("agent:{a}"),
        Principal::User(u) => format!("user:{u}"),
        Principal::Admin => "admin".into(),
        Principal::System => "system".into(),
    }
}

/// A violation journal entry `e` shows: dated by it, with it as the proof.
fn shown_by(e: &JournalEntry, invariant: Invariant, message: impl Into<String>) -> Violation {
    Violation::new(invariant, message)
        .at(e.at_ms as f64)
        .proof(cite(e))
}

fn cite(e: &JournalEntry) -> String {
    let result = match &e.result {
        JournalResult::Ok { reply, .. } => {
            let kind = serde_json::to_value(reply)
                .ok()
                .and_then(|v| v.get("reply").and_then(|k| k.as_str()).map(String::from))
                .unwrap_or_default();
            format!("ok {kind}")
        }
        JournalResult::Error { code, .. } => format!("error {code}"),
    };
    format!(
        "journal#{} at {} ms: {} {} -> {}",
        e.seq,
        e.at_ms,
        who(&e.principal),
        serde_json::to_string(&e.command).unwrap_or_default(),
        result
    )
}

impl Replay<'_> {
    fn entry(&mut self, e: &JournalEntry) {
        let JournalResult::Ok { reply, deliveries } = &e.result else {
            return;
        };
        self.retarget_gone_transfers(e);
        // A transfer withdrawn in this step (its target signed out, or signed in again
        // past the grace period) went to the chat's queue before anything the step
        // then did with it (routing it to someone else, say). A notice of a transfer
        // withdrawn earlier (the grace period ran out while its target was away; it is
        // told at its next sign-in) changes nothing: the chat is no longer addressed
        // to them.
        for d in deliveries {
            if let (Notice::TransferWithdrawn { chat, to }, Recipient::Agent(addressee)) =
                (&d.notice, &d.to)
                && let Some(c) = self.chats.get_mut(chat)
                && matches!(&c.st, St::Transferred(TransferTarget::Agent(t)) if t == addressee)
            {
                c.st = St::Transferred(to.clone());
                if let TransferTarget::Queue(q) = to
                    && self.route_queue_transfers
                {
                    self.queued.join(q, *chat);
                }
            }
        }
        let agent = match &e.principal {
            Principal::Agent(a) => Some(a.clone()),
            _ => None,
        };
        // The command's own effect first (replies), then what its notices say.
        match (&e.command, reply) {
            (Command::StartChat { queue, .. }, Reply::ChatStarted { chat, .. }) => {
                if let Principal::User(u) = e.principal {
                    self.facts.started.push(*chat);
                    self.chats.insert(
                        *chat,
                        ChatM {
                            user: u,
                            queue: queue.clone(),
                            st: St::Queued,
                            owner: None,
                            transcript: Vec::new(),
                            last_notes: None,
                            ticket: None,
                            shared: Vec::new(),
                            ended_seq: None,
                            owners: Vec::new(),
                            offered: Vec::new(),
                            told_of_end: None,
                            transferred_by: None,
                        },
                    );
                    self.queued.join(queue, *chat);
                    self.by_user.entry(u).or_default().push(*chat);
                }
            }
            (Command::SignIn | Command::SetAvailability { .. }, Reply::Status(s)) => {
                let back = matches!(e.command, Command::SignIn)
                    && self
                        .agents
                        .get(&s.agent)
                        .is_some_and(|m| m.offline_since.is_some());
                if back {
                    self.every_chat_resumed(&s.agent, &s.my_chats, deliveries, e);
                }
                let mine: BTreeSet<ChatId> = s.my_chats.iter().copied().collect();
                // A chat the agent held that its status no longer lists left it in
                // this step, which must say so (`agent_left`: back to the queue);
                // otherwise the sign-in dropped it and nobody will ever take it.
                let dropped: Vec<ChatId> = self.agents.get(&s.agent).map_or_else(Vec::new, |m| {
                    m.open
                        .keys()
                        .filter(|c| !mine.contains(c))
                        .copied()
                        .collect()
                });
                for c in dropped {
                    let released = deliveries.iter().any(|d| {
                        matches!(&d.notice, Notice::AgentLeft { chat, agent, .. } if *chat == c && *agent == s.agent)
                    });
                    let ended = self
                        .chats
                        .get(&c)
                        .is_some_and(|ch| matches!(ch.st, St::Ended(_)));
                    if !released && !ended {
                        self.out.push(
                            shown_by(
                                e,
                                Invariant::ChatEnd,
                                format!(
                                    "chat {c} is lost: {}'s status no longer lists it, and it was neither resumed nor put back in its queue",
                                    s.agent
                                ),
                            )
                            .chat(c.0)
                            .agent(s.agent.as_str()),
                        );
                    }
                }
                let m = self.agents.entry(s.agent.clone()).or_default();
                m.queues = s.queues.clone();
                m.signed_in = true;
                m.offline_since = None;
                m.auto_accept = s.auto_accept;
                m.availability = Some(s.availability);
                m.open.retain(|c, _| mine.contains(c));
            }
            // New routing settings: the transfer-accept limit from now on; and with
            // auto-accept switched on or off, an available agent takes the new mode's
            // default, an unavailable one stays so (as the Desk does, docs/desk.md).
            (Command::SetRouting { .. }, Reply::Routing(r)) => {
                self.max_transfer_accepts = r.max_transfer_accepts;
                if self.route_queue_transfers != r.route_queue_transfers {
                    self.route_queue_transfers = r.route_queue_transfers;
                    // Chats already transferred to a queue join its line, or leave it,
                    // with the setting.
                    for (id, c) in &self.chats {
                        if let St::Transferred(TransferTarget::Queue(q)) = &c.st {
                            if r.route_queue_transfers {
                                self.queued.join(q, *id);
                            } else {
                                self.queued.leave(q, *id);
                            }
                        }
                    }
                }
                for m in self.agents.values_mut().filter(|m| m.signed_in) {
                    if m.auto_accept == r.auto_accept {
                        continue;
                    }
                    let available = match m.availability {
                        Some(Availability::Available) => true,
                        Some(Availability::AvailableFor(n)) => n > 0,
                        _ => false,
                    };
                    m.auto_accept = r.auto_accept;
                    m.availability = Some(match (r.auto_accept, available) {
                        (true, true) => Availability::AvailableFor(r.default_available_for),
                        (true, false) => Availability::AvailableFor(0),
                        (false, true) => Availability::Available,
                        (false, false) => Availability::Unavailable,
                    });
                }
            }
            (Command::SignOut, _) => {
                if let Some(a) = &agent
                    && let Some(m) = self.agents.get_mut(a)
                {
                    m.signed_in = false;
                }
            }
            (Command::Disconnect, _) => match &e.principal {
                Principal::Agent(a) => {
                    // A second disconnect changes nothing at the Desk: the grace
                    // period still runs from the first.
                    if let Some(m) = self.agents.get_mut(a)
                        && m.offline_since.is_none()
                    {
                        m.offline_since = Some(e.at_ms);
                        m.transfers_released = false;
                    }
                }
                Principal::User(u) => {
                    let mine: Vec<ChatId> = self
                        .by_user
                        .get(u)
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|c| {
                            self.chats
                                .get(c)
                                .is_some_and(|c| !matches!(c.st, St::Ended(_)))
                        })
                        .collect();
                    for c in mine {
                        let how = if self.chats[&c].owners.is_empty() {
                            "abandoned"
                        } else {
                            "closed"
                        };
                        let told = self.chats[&c].told_if_ended().cloned();
                        self.told_of_end(c, told.map(Recipient::Agent), deliveries, "lost", e);
                        self.end(c, how, e);
                    }
                }
                _ => {}
            },
            (Command::Accept { chat } | Command::AcceptTransfer { chat }, Reply::Accepted(v)) => {
                if let Some(a) = &agent {
                    // Where the chat came from is the command's, not the reply's word:
                    // the transfer limit (R6) counts on it.
                    let origin = match &e.command {
                        Command::AcceptTransfer { .. } => Origin::Transferred,
                        _ => Origin::Queue,
                    };
                    if v.origin != origin {
                        self.out.push(
                            shown_by(
                                e,
                                Invariant::Agreement,
                                format!(
                                    "{a} took chat {chat} from {origin:?} but the reply says {:?}",
                                    v.origin
                                ),
                            )
                            .chat(chat.0)
                            .agent(a.as_str()),
                        );
                    }
                    self.accepted(*chat, a, origin, e);
                    self.check_view(*chat, a, &v.history, &v.notes, e);
                }
            }
            (Command::ListTransferred, Reply::Chats { chats }) => {
                if let Some(a) = &agent {
                    for s in chats {
                        if let ChatState::Transferred { to, .. } = &s.state
                            && !self.may_see(a, to)
                        {
                            self.out.push(
                                shown_by(
                                    e,
                                    Invariant::TransferVisibility,
                                    format!(
                                        "Transferred list of {a} shows a transfer addressed to {}",
                                        target(to)
                                    ),
                                )
                                .chat(s.chat.0)
                                .agent(a.as_str()),
                            );
                        }
                    }
                }
            }
            (Command::Transfer { chat, to, notes }, _) => {
                self.release(*chat);
                let routed = self.route_queue_transfers;
                if let TransferTarget::Agent(t) = to {
                    self.addressed.entry(t.clone()).or_default().push(*chat);
                }
                if let Some(c) = self.chats.get_mut(chat) {
                    c.st = St::Transferred(to.clone());
                    c.last_notes = Some(notes.clone());
                    c.transferred_by = agent.clone();
                    // A transfer to a queue moves the chat there (the Desk's `queue`):
                    // if it comes back later (agent gone), it waits in that queue; and
                    // under auto-accept it waits in that queue's line.
                    if let TransferTarget::Queue(q) = to {
                        c.queue = q.clone();
                        if routed {
                            self.queued.join(q, *chat);
                        }
                    }
                }
            }
            (Command::Close { chat }, _) => {
                // The other side is told (R10's other end): the owner when the user
                // closes, the user when the owner does.
                // The other side: the agent the chat is with, or was transferred to,
                // when the user closes; the user when the agent does.
                let other = match (&e.principal, self.chats.get(chat)) {
                    (Principal::User(_), Some(c)) => {
                        c.told_if_ended().cloned().map(Recipient::Agent)
                    }
                    (Principal::Agent(_), Some(c)) if !matches!(c.st, St::Ended(_)) => {
                        Some(Recipient::User(c.user))
                    }
                    _ => None,
                };
                self.told_of_end(*chat, other, deliveries, "closed", e);
                let how = match (&e.principal, self.chats.get(chat)) {
                    (Principal::User(_), Some(c)) if c.owners.is_empty() => "abandoned",
                    (Principal::User(_), Some(c)) if c.st == St::Queued && c.owners.is_empty() => {
                        "abandoned"
                    }
                    _ => "closed",
                };
                self.end(*chat, how, e);
            }
            (Command::Send { chat, text }, Reply::Sent { seq, .. }) => {
                let from = match &e.principal {
                    Principal::Agent(a) => Party::Agent(a.clone()),
                    _ => Party::User,
                };
                let body = EntryBody::Text { text: text.clone() };
                self.appended(*chat, *seq, from, Some(body), e);
            }
            (Command::ShareArticle { chat, article }, Reply::Sent { seq, .. }) => {
                if let Some(a) = &agent {
                    self.appended(*chat, *seq, Party::Agent(a.clone()), None, e);
                    if let Some(c) = self.chats.get_mut(chat) {
                        c.shared.push(article.clone());
                    }
                }
            }
            (_, Reply::Ticket(t)) => self.ticket(t, e),
            _ => {}
        }
        for d in deliveries {
            self.delivery(&d.to, &d.notice, e);
        }
        if matches!(e.command, Command::Tick) {
            self.grace_expired(e);
        }
    }
}

impl Replay<'_> {
    /// A chat ending in step `e` (`how`: closed by one side, or lost with its user's
    /// connection) must tell `other`, the side still there, if any.
    fn told_of_end(
        &mut self,
        chat: ChatId,
        other: Option<Recipient>,
        deliveries: &[switchboard_server::domain::Delivery],
        how: &str,
        e: &JournalEntry,
    ) {
        let Some(other) = other else {
            return;
        };
        let told = deliveries.iter().any(|d| {
            d.to == other && matches!(&d.notice, Notice::ChatEnded { chat: c, .. } if *c == chat)
        });
        if !told {
            self.out.push(
                shown_by(
                    e,
                    Invariant::ChatEnd,
                    format!(
                        "chat {chat} was {how} but {} was never told it ended",
                        rcpt(&other)
                    ),
                )
                .chat(chat.0),
            );
        }
    }
}

fn target(t: &TransferTarget) -> String {
    match t {
        TransferTarget::Agent(a) => format!("agent {a}"),
        TransferTarget::Queue(q) => format!("queue {q}"),
    }
}

/// Takes `chat` (id `id`) out of its queue's line if it was waiting in a queue.
fn unqueue(queued: &mut Lines, chat: &ChatM, id: ChatId) {
    if matches!(
        chat.st,
        St::Queued | St::Transferred(TransferTarget::Queue(_))
    ) {
        queued.leave(&chat.queue, id);
    }
}
