//! The Desk: every live-chat routing rule as one state machine.
//!
//! `Desk::handle(principal, command, now)` checks the command against the rules,
//! changes the state only if the command is allowed, and returns the reply plus the
//! notices to deliver — or a [`DeskError`] with nothing changed. Time is an argument;
//! grace periods run out when the caller sends [`Command::Tick`] at
//! [`Desk::next_deadline`] (or an agent signs in after theirs ran out).
//!
//! The handlers live in submodules by subject: `agents` (sign-in, availability,
//! lists, disconnects), `chats` (start, accept, messages, transfer, close),
//! `tickets` (R12–R14), `knowledge` (R11), `admin` (configuration, provisioning) and
//! `assign` (taking chats, auto-accept routing, queue counts).

mod admin;
mod agents;
mod assign;
mod chats;
mod knowledge;
mod tickets;

use super::agent::{Agent, AgentProfile};
use super::chat::Chat;
use super::command::{Command, Principal};
use super::config::DeskConfig;
use super::error::DeskError;
use super::ids::{AgentId, ChatId, QueueId, TicketId, UserId};
use super::outcome::{Delivery, Outcome, Reply};
use super::reference::{KnowledgeArticle, Library, ReferenceData, Template};
use super::routing::{Policy, new_pool};
use super::ticket::Ticket;
use super::time::Time;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A support queue and the chats waiting in it.
pub(crate) struct QueueState {
    /// Agents who belong to it.
    members: BTreeSet<AgentId>,
    /// Chats waiting here, oldest first: queued ones and transfers addressed to the
    /// queue, keyed by when their current wait began.
    waiting: BTreeSet<(Time, ChatId)>,
    /// How many of `waiting` are queued (the Queue count).
    queued: usize,
    /// How many of `waiting` are transfers to this queue.
    transferred: usize,
    /// Agents who can be auto-assigned a chat of this queue now, in policy order.
    pool: Option<Box<dyn Policy>>,
}

/// Counts the server exports as metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeskStats {
    /// Chats by state name.
    pub chats_by_state: BTreeMap<&'static str, usize>,
    /// Per queue: (queued, transferred to it).
    pub queue_depth: BTreeMap<QueueId, (usize, usize)>,
    /// Agents by status: `offline`, `disconnected`, `available`, `unavailable`.
    pub agents_by_status: BTreeMap<&'static str, usize>,
    /// Tickets created and drafts.
    pub tickets: usize,
    /// Free auto-accept slots of online, available agents ([`Agent::free_slots`]).
    pub free_slots: usize,
}

/// The domain core. See the module docs.
pub struct Desk {
    config: DeskConfig,
    queues: BTreeMap<QueueId, QueueState>,
    agents: BTreeMap<AgentId, Agent>,
    chats: BTreeMap<ChatId, Chat>,
    /// Chats not ended yet: so [`Desk::stats`] is proportional to the open chats, not
    /// to every chat of the day.
    open_chats: BTreeSet<ChatId>,
    /// The same chats by the user who started them, so that a user's disconnect finds
    /// theirs without scanning every open chat.
    open_by_user: BTreeSet<(UserId, ChatId)>,
    /// How many chats ended in each end state (kept beside `open_chats` for the same
    /// reason).
    ended: BTreeMap<&'static str, usize>,
    /// How many ended chats (transcripts included) to keep, the most recent; `None`:
    /// every one. See [`Desk::keep_ended_chats`].
    keep_ended: Option<usize>,
    /// The ended chats kept, oldest first, when there is a limit.
    ended_kept: VecDeque<ChatId>,
    tickets: BTreeMap<TicketId, Ticket>,
    library: Library,
    rng: ChaCha8Rng,
    next_chat: u64,
    next_ticket: u64,
    /// Incidents and work orders numbered so far, each kind in its own sequence
    /// (`INC000001`, `WO000001`), as the ticketing system numbers them.
    numbered: [u64; 2],
    sign_ins: u64,
    /// Agents whose connection dropped, by when their grace period runs out.
    grace: BTreeSet<(Time, AgentId)>,
    /// Queues whose counts changed during the current command.
    counts_changed: BTreeSet<QueueId>,
    /// Queues where a chat may now be auto-assigned.
    to_route: BTreeSet<QueueId>,
}

impl Desk {
    /// A Desk with the given configuration, support queues, agents and reference data.
    pub fn new(
        config: DeskConfig,
        queues: impl IntoIterator<Item = QueueId>,
        agents: impl IntoIterator<Item = AgentProfile>,
        reference: ReferenceData,
    ) -> Result<Self, DeskError> {
        config
            .routing
            .validate()
            .map_err(DeskError::InvalidConfig)?;
        let mut desk = Desk {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
            chats: BTreeMap::new(),
            open_chats: BTreeSet::new(),
            open_by_user: BTreeSet::new(),
            ended: BTreeMap::new(),
            keep_ended: None,
            ended_kept: VecDeque::new(),
            tickets: BTreeMap::new(),
            library: Library::new(reference),
            next_chat: 1,
            next_ticket: 1,
            numbered: [0; 2],
            sign_ins: 0,
            grace: BTreeSet::new(),
            counts_changed: BTreeSet::new(),
            to_route: BTreeSet::new(),
        };
        for q in queues {
            desk.add_queue(q)?;
        }
        for a in agents {
            desk.add_agent(a)?;
        }
        Ok(desk)
    }

    /// Applies one command at time `now`. On error nothing changed.
    pub fn handle(
        &mut self,
        who: &Principal,
        command: Command,
        now: Time,
    ) -> Result<Outcome, DeskError> {
        let mut out = Vec::new();
        match self.dispatch(who, command, now, &mut out) {
            Ok(mut reply) => {
                self.route(now, &mut out);
                if let Reply::ChatStarted { chat, assigned, .. } = &mut reply {
                    *assigned = self.chats[chat].state.owner().is_some();
                }
                self.push_counts(&mut out);
                // Planted message bugs (test builds only; a no-op otherwise).
                crate::planted::mangle(&mut out);
                Ok(Outcome {
                    reply,
                    deliveries: out,
                })
            }
            Err(e) => {
                // Handlers check before they change anything, so there is nothing to
                // undo; the scratch sets must not leak into the next command.
                debug_assert!(out.is_empty(), "a refused command produced deliveries");
                self.to_route.clear();
                self.counts_changed.clear();
                Err(e)
            }
        }
    }

    fn dispatch(
        &mut self,
        who: &Principal,
        command: Command,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let name = command.name();
        match (who, command) {
            (Principal::System | Principal::Admin, Command::Tick) => {
                self.expire_grace(now, out);
                Ok(Reply::Done)
            }
            (Principal::Agent(a), cmd) => self.agent_command(a, cmd, now, out),
            (Principal::User(u), cmd) => self.user_command(*u, cmd, now, out),
            (Principal::Admin, cmd) => self.admin_command(cmd, out),
            (Principal::System, _) => Err(DeskError::WrongRole {
                role: "the system",
                command: name,
            }),
        }
    }

    fn agent_command(
        &mut self,
        a: &AgentId,
        cmd: Command,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        if let Command::SignIn = cmd {
            return self.sign_in(a, now, out);
        }
        if let Command::Disconnect = cmd {
            return self.agent_disconnect(a, now, out);
        }
        self.signed_in_agent(a)?;
        match cmd {
            Command::SignOut => self.sign_out(a, out),
            Command::SetAvailability { availability } => self.set_availability(a, availability),
            Command::ListQueue => Ok(self.list_queue(a)),
            Command::ListTransferred => Ok(self.list_transferred(a)),
            Command::ListMyChats => Ok(self.list_my_chats(a)),
            Command::Accept { chat } => self.accept(a, chat, now, out),
            Command::AcceptTransfer { chat } => self.accept_transfer(a, chat, now, out),
            Command::Transfer { chat, to, notes } => self.transfer(a, chat, to, notes, now, out),
            Command::SearchArticles { term } => Ok(self.search_articles(&term)),
            Command::ShareArticle { chat, article } => {
                self.share_article(a, chat, article, now, out)
            }
            Command::PinArticle { chat, article } => self.pin_article(a, chat, article),
            Command::SearchTemplates { term } => Ok(self.search_templates(&term)),
            Command::CreateTicket {
                chat,
                kind,
                template,
            } => self.create_ticket(a, chat, kind, template, now, out),
            Command::FillTicket { ticket, fields } => self.fill_ticket(a, ticket, fields),
            Command::ConfirmTicket { ticket } => self.confirm_ticket(a, ticket, now, out),
            Command::Send { chat, text } => self.agent_send(a, chat, text, now, out),
            Command::Close { chat } => self.agent_close(a, chat, out),
            other => Err(DeskError::WrongRole {
                role: "an agent",
                command: other.name(),
            }),
        }
    }

    fn user_command(
        &mut self,
        u: super::ids::UserId,
        cmd: Command,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        match cmd {
            Command::StartChat {
                queue,
                subject,
                source,
                customer,
            } => self.start_chat(u, queue, subject, source, customer, now),
            Command::Send { chat, text } => self.user_send(u, chat, text, now, out),
            Command::Close { chat } => self.user_close(u, chat, out),
            Command::Disconnect => Ok(self.user_disconnect(u, out)),
            other => Err(DeskError::WrongRole {
                role: "a user",
                command: other.name(),
            }),
        }
    }

    /// The agent, if it exists, may chat (R1) and is signed in.
    /// An agent whose connection dropped must sign in again (resuming its chats)
    /// before anything else: acting while the Desk holds it as gone would leave it out
    /// of routing and have its chats requeued under it when the grace runs out.
    fn signed_in_agent(&self, a: &AgentId) -> Result<&Agent, DeskError> {
        let agent = self.chat_agent(a)?;
        if !agent.online() {
            return Err(DeskError::NotSignedIn(a.clone()));
        }
        Ok(agent)
    }

    /// The agent, if it exists and may chat (R1).
    fn chat_agent(&self, a: &AgentId) -> Result<&Agent, DeskError> {
        let agent = self
            .agents
            .get(a)
            .ok_or_else(|| DeskError::UnknownAgent(a.clone()))?;
        if !agent.profile.may_chat() {
            return Err(DeskError::PermissionDenied(a.clone()));
        }
        Ok(agent)
    }

    fn chat_ref(&self, c: ChatId) -> Result<&Chat, DeskError> {
        self.chats.get(&c).ok_or_else(|| self.missing(c))
    }

    /// The error for a chat not held: ended (and forgotten), or never started.
    fn missing(&self, c: ChatId) -> DeskError {
        if self.keep_ended.is_some() && c.0 >= 1 && c.0 < self.next_chat {
            DeskError::ChatEnded(c)
        } else {
            DeskError::UnknownChat(c)
        }
    }

    /// Whether to drop chats, transcripts included, as soon as they end (keep none of
    /// them, [`Desk::keep_ended_chats`]). The virtual driver does so for very large
    /// runs, where a day of ended chats would otherwise hold gigabytes.
    pub fn forget_ended_chats(&mut self, forget: bool) {
        self.keep_ended_chats(forget.then_some(0));
    }

    /// How many ended chats to keep, transcripts included: the `n` that ended last,
    /// or every one (`None`, the default: the server's read APIs show them). A long
    /// soak test with a limit grows only with its tickets. Commands about a dropped chat
    /// get `chat_ended` as before, and [`Desk::stats`] still counts it.
    pub fn keep_ended_chats(&mut self, n: Option<usize>) {
        self.keep_ended = n;
        if let Some(n) = n {
            self.drop_ended_beyond(n);
        }
    }

    /// Drops the oldest ended chats kept until at most `n` are.
    fn drop_ended_beyond(&mut self, n: usize) {
        while self.ended_kept.len() > n {
            if let Some(c) = self.ended_kept.pop_front() {
                self.chats.remove(&c);
            }
        }
    }

    // --- read access for the server and the simulator ---

    /// The configuration in force.
    pub fn config(&self) -> &DeskConfig {
        &self.config
    }

    /// A chat.
    pub fn chat(&self, id: ChatId) -> Option<&Chat> {
        self.chats.get(&id)
    }

    /// Every chat, by id.
    pub fn chats(&self) -> impl Iterator<Item = &Chat> {
        self.chats.values()
    }

    /// Chats with an id above `after`, in id order (for paging through them).
    pub fn chats_after(&self, after: ChatId) -> impl Iterator<Item = &Chat> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.chats
            .range((Excluded(after), Unbounded))
            .map(|(_, c)| c)
    }

    /// A ticket.
    pub fn ticket(&self, id: TicketId) -> Option<&Ticket> {
        self.tickets.get(&id)
    }

    /// Every ticket, by id.
    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.values()
    }

    /// Tickets with an id above `after`, in id order (for paging through them).
    pub fn tickets_after(&self, after: TicketId) -> impl Iterator<Item = &Ticket> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.tickets
            .range((Excluded(after), Unbounded))
            .map(|(_, t)| t)
    }

    /// An agent.
    pub fn agent(&self, id: &AgentId) -> Option<&Agent> {
        self.agents.get(id)
    }

    /// Every agent, by id.
    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.values()
    }

    /// Every support queue name.
    pub fn queues(&self) -> impl Iterator<Item = &QueueId> {
        self.queues.keys()
    }

    /// Signed-in agents of a queue with a live connection (who a
    /// [`super::outcome::Recipient::QueueMembers`] notice reaches).
    pub fn online_members(&self, q: &QueueId) -> impl Iterator<Item = &AgentId> {
        self.queues
            .get(q)
            .into_iter()
            .flat_map(|qs| qs.members.iter())
            .filter(|a| self.agents.get(*a).is_some_and(Agent::online))
    }

    /// Knowledge articles, by id.
    pub fn articles(&self) -> impl Iterator<Item = &KnowledgeArticle> {
        self.library.articles.values()
    }

    /// Templates, by id.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.library.templates.values()
    }

    /// Every article whose title, keywords or body mention each word of `term` (every
    /// article for a blank term), by id: the `search_articles` command without its
    /// limit, on the text the library keeps lower-cased.
    pub fn find_articles(&self, term: &str) -> Vec<&KnowledgeArticle> {
        self.library.search_articles(term, usize::MAX)
    }

    /// Every template whose name or keywords mention each word of `term`, by id.
    pub fn find_templates(&self, term: &str) -> Vec<&Template> {
        self.library.search_templates(term, usize::MAX)
    }

    /// When the next grace period runs out, if one is running: send
    /// [`Command::Tick`] then.
    pub fn next_deadline(&self) -> Option<Time> {
        self.grace.first().map(|(t, _)| *t)
    }

    /// Counts for metrics.
    pub fn stats(&self) -> DeskStats {
        let mut s = DeskStats {
            chats_by_state: self.ended.clone(),
            ..DeskStats::default()
        };
        for c in &self.open_chats {
            *s.chats_by_state
                .entry(self.chats[c].state.name())
                .or_default() += 1;
        }
        for (q, qs) in &self.queues {
            s.queue_depth.insert(q.clone(), (qs.queued, qs.transferred));
        }
        for a in self.agents.values() {
            let status = match (a.signed_in, a.disconnected_at.is_some(), a.available) {
                (false, _, _) => "offline",
                (true, true, _) => "disconnected",
                (true, false, true) => "available",
                (true, false, false) => "unavailable",
            };
            *s.agents_by_status.entry(status).or_default() += 1;
            // Slots are auto-accept's: with it off nobody is assigned anything.
            if self.config.routing.auto_accept {
                s.free_slots += usize::from(a.free_slots());
            }
        }
        s.tickets = self.tickets.len();
        s
    }

    /// Brings every queue's pool up to date with the agents, after making it anew for
    /// the current policy if `fresh`.
    fn rebuild_pools(&mut self, fresh: bool) {
        if fresh {
            let kind = self.config.routing.policy;
            let auto = self.config.routing.routes_automatically();
            for qs in self.queues.values_mut() {
                qs.pool = if auto { new_pool(kind) } else { None };
            }
        }
        let ids: Vec<AgentId> = self.agents.keys().cloned().collect();
        for a in ids {
            self.refresh_agent(&a);
        }
    }
}
