//! Invariants over the server's journal: the Desk's own record of every command, its
//! reply and the notices it produced, in the order the Desk handled them. The checker
//! replays it into a model of chats and agents and checks each step.

use super::Options;
use super::violation::{Invariant, Violation};
use std::collections::{BTreeMap, BTreeSet};
use switchboard_server::domain::{
    AgentId, ArticleId, Availability, ChatId, ChatState, Command, Entry, EntryBody, LeftReason,
    Notice, Origin, Party, Principal, QueueId, Recipient, Reply, Ticket, TicketId, TicketStatus,
    TransferTarget, UserId, render_transcript,
};
use switchboard_server::protocol::{JournalEntry, JournalResult};

/// Where a chat stands in the replay.
#[derive(Clone, Debug, PartialEq)]
enum St {
    Queued,
    Active,
    Transferred(TransferTarget),
    Ended(&'static str),
}

#[derive(Debug)]
struct ChatM {
    user: UserId,
    queue: QueueId,
    st: St,
    owner: Option<(AgentId, Origin, u64)>,
    /// The transcript as the journal shows it, by seq (index seq-1).
    transcript: Vec<Option<Entry>>,
    last_notes: Option<String>,
    ticket: Option<TicketId>,
    shared: Vec<ArticleId>,
    ended_seq: Option<u64>,
    owners: Vec<AgentId>,
}

#[derive(Debug, Default)]
struct AgentM {
    queues: Vec<QueueId>,
    signed_in: bool,
    offline_since: Option<u64>,
    /// Transfers addressed to the agent were retargeted after its grace period (once
    /// per disconnect).
    transfers_released: bool,
    auto_accept: bool,
    availability: Option<Availability>,
    open: BTreeMap<ChatId, Origin>,
}

impl AgentM {
    fn online(&self) -> bool {
        self.signed_in && self.offline_since.is_none()
    }

    fn n(&self) -> u8 {
        match self.availability {
            Some(Availability::AvailableFor(n)) => n.min(4),
            _ => 0,
        }
    }

    fn free_slot(&self) -> bool {
        self.online() && self.auto_accept && usize::from(self.n()) > self.open.len()
    }
}

/// What the replay found besides violations.
#[derive(Debug, Default)]
pub struct ServerFacts {
    /// Chats started, in order.
    pub started: Vec<ChatId>,
    /// Per chat, the agents that got it, in order.
    pub owners: BTreeMap<ChatId, Vec<AgentId>>,
    /// Chats still queued, active or transferred when the journal ends.
    pub open_at_end: BTreeMap<ChatId, String>,
    /// Chats closed / abandoned.
    pub closed: usize,
    /// Chats abandoned.
    pub abandoned: usize,
}

/// Replays the journal and reports violations.
pub fn check(journal: &[JournalEntry], opts: &Options) -> (Vec<Violation>, ServerFacts) {
    let mut r = Replay {
        opts,
        chats: BTreeMap::new(),
        queued: BTreeMap::new(),
        agents: BTreeMap::new(),
        tickets: BTreeMap::new(),
        out: Vec::new(),
        facts: ServerFacts::default(),
        last_msg: BTreeMap::new(),
        undelivered: BTreeMap::new(),
        starved_since: None,
        starved_reported: false,
        now: 0,
        max_transfer_accepts: opts.max_transfer_accepts,
    };
    for e in journal {
        r.now = e.at_ms;
        r.entry(e);
        r.work_conserving(e);
    }
    r.finish(journal.last().map_or(0, |e| e.at_ms));
    (r.out, r.facts)
}

struct Replay<'a> {
    opts: &'a Options,
    chats: BTreeMap<ChatId, ChatM>,
    /// The chats in the `Queued` state, by queue (no empty sets): what the
    /// work-conserving check looks at after every entry, without scanning every chat.
    queued: BTreeMap<QueueId, BTreeSet<ChatId>>,
    agents: BTreeMap<AgentId, AgentM>,
    tickets: BTreeMap<TicketId, (ChatId, bool)>,
    out: Vec<Violation>,
    facts: ServerFacts,
    /// Last message seq delivered per (recipient, chat).
    last_msg: BTreeMap<(String, ChatId), (u64, u64)>,
    /// Messages in the transcript not yet delivered: (chat, seq) → (recipient, journal seq).
    undelivered: BTreeMap<(ChatId, u64), (String, u64)>,
    starved_since: Option<(u64, u64, ChatId, AgentId)>,
    starved_reported: bool,
    now: u64,
    /// The limit of chats accepted from Transferred under auto-accept: the scenario's,
    /// then whatever a `set_routing` made it.
    max_transfer_accepts: u8,
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
        self.retarget_gone_transfers(e.at_ms);
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
                        },
                    );
                    self.queued.entry(queue.clone()).or_default().insert(*chat);
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
                let m = self.agents.entry(s.agent.clone()).or_default();
                m.queues = s.queues.clone();
                m.signed_in = true;
                m.offline_since = None;
                m.auto_accept = s.auto_accept;
                m.availability = Some(s.availability);
                let mine: BTreeSet<ChatId> = s.my_chats.iter().copied().collect();
                m.open.retain(|c, _| mine.contains(c));
            }
            // New routing settings: the transfer-accept limit from now on; and with
            // auto-accept switched on or off, an available agent takes the new mode's
            // default, an unavailable one stays so (as the Desk does, docs/desk.md).
            (Command::SetRouting { .. }, Reply::Routing(r)) => {
                self.max_transfer_accepts = r.max_transfer_accepts;
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
                        .chats
                        .iter()
                        .filter(|(_, c)| c.user == *u && !matches!(c.st, St::Ended(_)))
                        .map(|(id, _)| *id)
                        .collect();
                    for c in mine {
                        let how = if self.chats[&c].owners.is_empty() {
                            "abandoned"
                        } else {
                            "closed"
                        };
                        self.end(c, how, e);
                    }
                }
                _ => {}
            },
            (Command::Accept { chat } | Command::AcceptTransfer { chat }, Reply::Accepted(v)) => {
                if let Some(a) = &agent {
                    self.accepted(*chat, a, v.origin, e);
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
                                Violation::new(
                                    Invariant::TransferVisibility,
                                    format!(
                                        "Transferred list of {a} shows a transfer addressed to {}",
                                        target(to)
                                    ),
                                )
                                .chat(s.chat.0)
                                .agent(a.as_str())
                                .at(e.at_ms as f64)
                                .proof(cite(e)),
                            );
                        }
                    }
                }
            }
            (Command::Transfer { chat, to, notes }, _) => {
                self.release(*chat);
                if let Some(c) = self.chats.get_mut(chat) {
                    c.st = St::Transferred(to.clone());
                    c.last_notes = Some(notes.clone());
                    // A transfer to a queue moves the chat there (the Desk's `queue`):
                    // if it comes back later (agent gone), it waits in that queue.
                    if let TransferTarget::Queue(q) = to {
                        c.queue = q.clone();
                    }
                }
            }
            (Command::Close { chat }, _) => {
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

    /// After a timekeeping step: an agent whose grace period ran out must have no
    /// chats left (they go back to the queue with `agent_left`).
    fn grace_expired(&mut self, e: &JournalEntry) {
        let grace = self.opts.agent_grace_ms;
        let gone: Vec<(AgentId, Vec<ChatId>)> = self
            .agents
            .iter()
            .filter(|(_, m)| {
                m.offline_since.is_some_and(|t| t + grace <= e.at_ms) && !m.open.is_empty()
            })
            .map(|(a, m)| (a.clone(), m.open.keys().copied().collect()))
            .collect();
        for (a, chats) in gone {
            for c in chats {
                self.out.push(
                    Violation::new(
                        Invariant::ChatEnd,
                        format!("chat {c} is lost: {a}'s grace period ran out but the chat was not put back in its queue"),
                    )
                    .chat(c.0)
                    .agent(a.as_str())
                    .at(e.at_ms as f64)
                    .proof(cite(e)),
                );
                if let Some(ch) = self.chats.get_mut(&c) {
                    ch.owner = None;
                }
            }
            if let Some(m) = self.agents.get_mut(&a) {
                m.open.clear();
                m.offline_since = None;
                m.signed_in = false;
            }
        }
    }

    /// Transfers addressed to an agent whose grace period has run out go to the chat's
    /// queue (DisconnectRules): the Desk does it, without a notice, in the `tick` or
    /// late `sign_in` that releases the agent, and may route the chat on in the same
    /// step — so the replay retargets them before it reads that step's notices.
    fn retarget_gone_transfers(&mut self, now_ms: u64) {
        let grace = self.opts.agent_grace_ms;
        let mut gone: Vec<AgentId> = Vec::new();
        for (a, m) in &mut self.agents {
            if !m.transfers_released && m.offline_since.is_some_and(|t| t + grace <= now_ms) {
                m.transfers_released = true;
                gone.push(a.clone());
            }
        }
        if gone.is_empty() {
            return;
        }
        for c in self.chats.values_mut() {
            if let St::Transferred(TransferTarget::Agent(to)) = &c.st
                && gone.contains(to)
            {
                c.st = St::Transferred(TransferTarget::Queue(c.queue.clone()));
            }
        }
    }

    fn may_see(&self, a: &AgentId, to: &TransferTarget) -> bool {
        match to {
            TransferTarget::Agent(t) => t == a,
            TransferTarget::Queue(q) => self.agents.get(a).is_some_and(|m| m.queues.contains(q)),
        }
    }

    /// An agent back from a dropped connection gets every chat it resumed whole, so
    /// that what the user wrote meanwhile reaches it (R10).
    fn every_chat_resumed(
        &mut self,
        a: &AgentId,
        resumed: &[ChatId],
        deliveries: &[switchboard_server::domain::Delivery],
        e: &JournalEntry,
    ) {
        for c in resumed {
            let given = deliveries.iter().any(|d| {
                matches!(&d.notice, Notice::Resumed(v) if v.chat == *c)
                    && matches!(&d.to, Recipient::Agent(to) if to == a)
            });
            if !given {
                self.out.push(
                    Violation::new(
                        Invariant::MessageOrder,
                        format!(
                            "{a} resumed chat {c} without being given it (what the user \
                             wrote meanwhile never reaches it, R10)"
                        ),
                    )
                    .chat(c.0)
                    .agent(a.as_str())
                    .at(e.at_ms as f64)
                    .proof(cite(e)),
                );
            }
        }
    }

    /// An agent back within its grace period is given a chat it held: it must own it.
    fn resumed(&mut self, c: ChatId, a: &AgentId, e: &JournalEntry) {
        let Some(chat) = self.chats.get(&c) else {
            return;
        };
        let owner = chat.owner.as_ref().map(|(o, _, _)| o);
        if owner != Some(a) {
            let whose = owner.map_or_else(|| "nobody's".to_string(), |o| format!("{o}'s"));
            self.out.push(
                Violation::new(
                    Invariant::SingleOwner,
                    format!("{a} resumed chat {c}, which was {whose}"),
                )
                .chat(c.0)
                .agent(a.as_str())
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
    }

    fn accepted(&mut self, c: ChatId, a: &AgentId, origin: Origin, e: &JournalEntry) {
        let Some(chat) = self.chats.get(&c) else {
            return;
        };
        if let St::Ended(how) = chat.st {
            self.out.push(
                Violation::new(
                    Invariant::ChatEnd,
                    format!("{a} was given chat {c} after it ended ({how})"),
                )
                .chat(c.0)
                .agent(a.as_str())
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
        if let Some((prev, _, since)) = &chat.owner {
            self.out.push(
                Violation::new(
                    Invariant::SingleOwner,
                    format!(
                        "{a} was given chat {c} while {prev} still owned it (since {since} ms)"
                    ),
                )
                .chat(c.0)
                .agent(prev.as_str())
                .agent(a.as_str())
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
        if let St::Transferred(to) = &chat.st
            && !self.may_see(a, to)
        {
            self.out.push(
                Violation::new(
                    Invariant::TransferVisibility,
                    format!(
                        "{a} took chat {c}, transferred to {}, which they may not see",
                        target(to)
                    ),
                )
                .chat(c.0)
                .agent(a.as_str())
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
        let chat = self.chats.get_mut(&c).expect("checked above");
        unqueue(&mut self.queued, chat, c);
        chat.st = St::Active;
        chat.owner = Some((a.clone(), origin, e.at_ms));
        chat.owners.push(a.clone());
        self.facts.owners.entry(c).or_default().push(a.clone());
        let m = self.agents.entry(a.clone()).or_default();
        m.open.insert(c, origin);
        let autos = m.open.values().filter(|o| **o == Origin::Auto).count();
        let transfers = m
            .open
            .values()
            .filter(|o| **o == Origin::Transferred)
            .count();
        let (n, auto_on) = (m.n(), m.auto_accept);
        // Free slots are N minus every open chat, whatever its origin (docs/desk.md):
        // auto-accept may only fill a slot that is free.
        let open = m.open.len();
        if origin == Origin::Auto && open > usize::from(n) {
            self.out.push(
                Violation::new(
                    Invariant::Capacity,
                    format!(
                        "{a} was auto-assigned a chat that makes {open} open ({autos} \
                         auto-assigned) but is Available for {n}"
                    ),
                )
                .chat(c.0)
                .agent(a.as_str())
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
        if origin == Origin::Transferred
            && auto_on
            && transfers > usize::from(self.max_transfer_accepts)
        {
            self.out.push(
                Violation::new(
                    Invariant::Capacity,
                    format!(
                        "{a} holds {transfers} chats accepted from Transferred under auto-accept (limit {})",
                        self.max_transfer_accepts
                    ),
                )
                .chat(c.0)
                .agent(a.as_str())
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
    }

    /// R8: the history handed over equals the transcript; a transferred chat carries
    /// the last transfer's notes.
    fn check_view(
        &mut self,
        c: ChatId,
        a: &AgentId,
        history: &[Entry],
        notes: &[switchboard_server::domain::TransferNote],
        e: &JournalEntry,
    ) {
        let Some(chat) = self.chats.get(&c) else {
            return;
        };
        let known: Vec<u64> = chat.transcript.iter().flatten().map(|x| x.seq).collect();
        let given: Vec<u64> = history.iter().map(|x| x.seq).collect();
        if known.iter().any(|s| !given.contains(s)) || given.len() != chat.transcript.len() {
            self.out.push(
                Violation::new(
                    Invariant::Transcript,
                    format!(
                        "{a} got a history of {} entries but the transcript holds {}",
                        given.len(),
                        chat.transcript.len()
                    ),
                )
                .chat(c.0)
                .agent(a.as_str())
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
        if let Some(n) = &chat.last_notes
            && !notes.iter().any(|x| &x.notes == n)
        {
            self.out.push(
                Violation::new(
                    Invariant::TransferNotes,
                    format!("{a} accepted transferred chat {c} without the notes {n:?}"),
                )
                .chat(c.0)
                .agent(a.as_str())
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
    }

    fn release(&mut self, c: ChatId) {
        if let Some(chat) = self.chats.get_mut(&c)
            && let Some((a, _, _)) = chat.owner.take()
            && let Some(m) = self.agents.get_mut(&a)
        {
            m.open.remove(&c);
        }
    }

    fn end(&mut self, c: ChatId, how: &'static str, e: &JournalEntry) {
        let Some(chat) = self.chats.get(&c) else {
            return;
        };
        if let (St::Ended(first), Some(at)) = (&chat.st, chat.ended_seq) {
            self.out.push(
                Violation::new(
                    Invariant::ChatEnd,
                    format!("chat {c} ended twice: {first} at journal#{at}, then {how}"),
                )
                .chat(c.0)
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
            return;
        }
        self.release(c);
        let chat = self.chats.get_mut(&c).expect("checked above");
        unqueue(&mut self.queued, chat, c);
        chat.st = St::Ended(how);
        chat.ended_seq = Some(e.seq);
        if how == "abandoned" {
            self.facts.abandoned += 1;
        }
        self.facts.closed += 1;
    }

    fn appended(
        &mut self,
        c: ChatId,
        seq: u64,
        from: Party,
        body: Option<EntryBody>,
        e: &JournalEntry,
    ) {
        let Some(chat) = self.chats.get_mut(&c) else {
            return;
        };
        if let St::Ended(how) = chat.st {
            self.out.push(
                Violation::new(
                    Invariant::ChatEnd,
                    format!("a message entered chat {c} after it ended ({how})"),
                )
                .chat(c.0)
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
        let expected = chat.transcript.len() as u64 + 1;
        if seq != expected {
            self.out.push(
                Violation::new(
                    Invariant::Transcript,
                    format!("transcript position {seq} given where {expected} was next"),
                )
                .chat(c.0)
                .at(e.at_ms as f64)
                .proof(cite(e)),
            );
        }
        let idx = usize::try_from(seq.saturating_sub(1)).unwrap_or(usize::MAX);
        if chat.transcript.len() <= idx {
            chat.transcript.resize(idx.min(100_000) + 1, None);
        }
        let entry = body.map(|body| Entry {
            seq,
            at: switchboard_server::domain::Time(e.at_ms),
            from: from.clone(),
            body,
        });
        if let Some(slot) = chat.transcript.get_mut(idx) {
            *slot = entry;
        }
        // Who must get it: the user for agents' entries, the owner for the user's.
        let to = match (&from, &chat.owner, &chat.st) {
            (Party::Agent(_), _, _) => Some(format!("user:{}", chat.user)),
            (Party::User, Some((a, _, _)), St::Active) => Some(format!("agent:{a}")),
            _ => None,
        };
        if let Some(to) = to {
            self.undelivered.insert((c, seq), (to, e.seq));
        }
    }

    fn ticket(&mut self, t: &Ticket, e: &JournalEntry) {
        let c = t.chat;
        let Some(chat) = self.chats.get_mut(&c) else {
            return;
        };
        match chat.ticket {
            Some(id) if id != t.id => {
                self.out.push(
                    Violation::new(
                        Invariant::Ticket,
                        format!("chat {c} got a second ticket {} (R14)", t.number),
                    )
                    .chat(c.0)
                    .agent(t.agent.as_str())
                    .at(e.at_ms as f64)
                    .proof(cite(e)),
                );
            }
            _ => chat.ticket = Some(t.id),
        }
        let first_created = t.status == TicketStatus::Created
            && !self.tickets.get(&t.id).is_some_and(|(_, created)| *created);
        self.tickets
            .insert(t.id, (c, t.status == TicketStatus::Created));
        if !first_created {
            return;
        }
        if chat.transcript.iter().all(Option::is_some) {
            let entries: Vec<Entry> = chat.transcript.iter().flatten().cloned().collect();
            let expected = render_transcript(&entries);
            if !t.description.ends_with(&expected) {
                self.out.push(
                    Violation::new(
                        Invariant::Ticket,
                        format!("ticket {} description does not hold the transcript as it stood at creation", t.number),
                    )
                    .chat(c.0)
                    .agent(t.agent.as_str())
                    .at(e.at_ms as f64)
                    .proof(cite(e)),
                );
            }
        }
        for art in &chat.shared {
            if !t.activity.iter().any(|x| x.text.contains(art.as_str())) {
                self.out.push(
                    Violation::new(
                        Invariant::Ticket,
                        format!("article {art} shared in chat {c} is missing from the activity log of {} (R11)", t.number),
                    )
                    .chat(c.0)
                    .at(e.at_ms as f64)
                    .proof(cite(e)),
                );
            }
        }
    }

    fn delivery(&mut self, to: &Recipient, n: &Notice, e: &JournalEntry) {
        match n {
            Notice::Assigned(v) => {
                if let Recipient::Agent(a) = to {
                    self.accepted(v.chat, a, Origin::Auto, e);
                    let (h, notes) = (v.history.clone(), v.notes.clone());
                    self.check_view(v.chat, a, &h, &notes, e);
                }
            }
            Notice::Resumed(v) => {
                if let Recipient::Agent(a) = to {
                    self.resumed(v.chat, a, e);
                    self.check_view(v.chat, a, &v.history, &v.notes, e);
                }
            }
            Notice::AgentLeft {
                chat,
                agent,
                reason,
            } => {
                self.release(*chat);
                if let Some(c) = self.chats.get_mut(chat)
                    && c.st == St::Active
                {
                    c.st = St::Queued;
                    self.queued
                        .entry(c.queue.clone())
                        .or_default()
                        .insert(*chat);
                }
                // An agent whose grace ran out is gone — unless this very step is their
                // late `sign_in`, which released the old chats and signed them in afresh
                // (its status reply was read first).
                let signing_in = matches!(e.command, Command::SignIn)
                    && matches!(&e.principal, Principal::Agent(p) if p == agent);
                if *reason == LeftReason::AgentGone
                    && let Some(m) = self.agents.get_mut(agent)
                {
                    m.open.clear();
                    if !signing_in {
                        m.signed_in = false;
                        m.offline_since = None;
                    }
                }
            }
            Notice::ChatEnded { chat, state } => {
                let already = self
                    .chats
                    .get(chat)
                    .is_some_and(|c| c.ended_seq == Some(e.seq));
                if !already {
                    let how = if matches!(state, ChatState::Abandoned) {
                        "abandoned"
                    } else {
                        "closed"
                    };
                    self.end(*chat, how, e);
                }
            }
            Notice::Message { chat, entry } => {
                let r = rcpt(to);
                self.undelivered.remove(&(*chat, entry.seq));
                if let Some(c) = self.chats.get_mut(chat) {
                    let idx = usize::try_from(entry.seq.saturating_sub(1)).unwrap_or(usize::MAX);
                    if let Some(slot) = c.transcript.get_mut(idx)
                        && slot.is_none()
                    {
                        *slot = Some(entry.clone());
                    }
                }
                if let Some((prev, at)) = self.last_msg.get(&(r.clone(), *chat)).copied()
                    && entry.seq <= prev
                {
                    self.out.push(
                        Violation::new(
                            Invariant::MessageOrder,
                            format!("{r} was sent message {} of chat {chat} after message {prev} (journal#{at})", entry.seq),
                        )
                        .chat(chat.0)
                        .at(e.at_ms as f64)
                        .proof(cite(e)),
                    );
                }
                let top = self.last_msg.get(&(r.clone(), *chat)).map_or(0, |x| x.0);
                self.last_msg
                    .insert((r, *chat), (entry.seq.max(top), e.seq));
            }
            _ => {}
        }
    }

    /// Under auto-accept: a chat waiting in a queue while an online member has a free
    /// slot, for longer than the bound.
    fn work_conserving(&mut self, e: &JournalEntry) {
        // The oldest queued chat an online member with a free slot could take, and the
        // first such member.
        let mut found: Option<(ChatId, AgentId)> = None;
        if !self.queued.is_empty() {
            for (a, m) in &self.agents {
                if !m.free_slot() {
                    continue;
                }
                for q in &m.queues {
                    if let Some(&c) = self.queued.get(q).and_then(BTreeSet::first)
                        && found.as_ref().is_none_or(|(best, _)| c < *best)
                    {
                        found = Some((c, a.clone()));
                    }
                }
            }
        }
        match (found, &self.starved_since) {
            (None, _) => {
                self.starved_since = None;
                self.starved_reported = false;
            }
            (Some((c, a)), None) => self.starved_since = Some((e.at_ms, e.seq, c, a)),
            (Some(_), Some((since, seq, c, a))) => {
                if !self.starved_reported
                    && e.at_ms.saturating_sub(*since) > self.opts.work_bound_ms
                {
                    self.starved_reported = true;
                    self.out.push(
                        Violation::new(
                            Invariant::WorkConserving,
                            format!(
                                "chat {c} waited in its queue from {since} ms to at least {} ms while {a} had a free slot",
                                e.at_ms
                            ),
                        )
                        .chat(c.0)
                        .agent(a.as_str())
                        .at(*since as f64)
                        .proof(format!("journal#{seq} (start of the wait)"))
                        .proof(cite(e)),
                    );
                }
            }
        }
    }

    fn finish(&mut self, end_ms: u64) {
        for ((c, seq), (to, at)) in std::mem::take(&mut self.undelivered) {
            self.out.push(
                Violation::new(
                    Invariant::Transcript,
                    format!(
                        "message {seq} of chat {c} is in the transcript but was never sent to {to}"
                    ),
                )
                .chat(c.0)
                .proof(format!("journal#{at} (the message entered the transcript)")),
            );
        }
        for (id, c) in &self.chats {
            let state = match &c.st {
                St::Ended(_) => continue,
                St::Queued => "queued".to_string(),
                St::Transferred(to) => format!("transferred to {}", target(to)),
                St::Active => match &c.owner {
                    Some((a, _, _)) => format!("active with {a}"),
                    None => "active".into(),
                },
            };
            if let (St::Active, Some((a, _, _))) = (&c.st, &c.owner)
                && let Some(m) = self.agents.get(a)
            {
                let gone = match m.offline_since {
                    Some(t) => {
                        end_ms.saturating_sub(t)
                            > self.opts.agent_grace_ms + self.opts.work_bound_ms
                    }
                    None => !m.signed_in,
                };
                if gone {
                    self.out.push(
                        Violation::new(
                            Invariant::ChatEnd,
                            format!("chat {id} is lost: still owned by {a}, whose connection dropped and did not come back within the grace period"),
                        )
                        .chat(id.0)
                        .agent(a.as_str())
                        .at(m.offline_since.unwrap_or(end_ms) as f64),
                    );
                }
            }
            self.facts.open_at_end.insert(*id, state);
        }
    }
}

fn target(t: &TransferTarget) -> String {
    match t {
        TransferTarget::Agent(a) => format!("agent {a}"),
        TransferTarget::Queue(q) => format!("queue {q}"),
    }
}

/// Takes `chat` (id `id`) out of the queued index if it was waiting in a queue.
fn unqueue(queued: &mut BTreeMap<QueueId, BTreeSet<ChatId>>, chat: &ChatM, id: ChatId) {
    if chat.st == St::Queued
        && let Some(set) = queued.get_mut(&chat.queue)
    {
        set.remove(&id);
        if set.is_empty() {
            queued.remove(&chat.queue);
        }
    }
}
