//! A virtual support agent: signs in, declares availability, takes chats (pulled from
//! Queue and Transferred by hand after a reaction delay, or assigned by auto-accept),
//! answers each user message after a reply delay, and on some chats shares an article,
//! creates a ticket (with or without a template, through the draft → confirm path) or
//! transfers the chat with notes, as the scenario's probabilities say. Articles and
//! templates are found by searching by the words of the chat's subject (R11, R13).
//!
//! Fault injection (`[faults]`, see [`AgentFaults`]) lives here too: the agent decides,
//! from its own seeded generator, when its connection drops and when it comes back,
//! when it stops reading, when it flips its availability, when it transfers a chat the
//! instant it answered, and whether it pulls with no reaction delay. After a drop it
//! signs in again and reconciles what it holds with the `my_chats` the server resumed.

use super::{Effects, Fault, Input, Participant, Tag, Timer, count_error};
use crate::dist::DurationDist;
use crate::metrics::Recorder;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use switchboard_server::domain::{
    AcceptedChat, AgentId, ArticleId, Availability, ChatId, Command, Notice, Origin, QueueId,
    Reply, TemplateId, TicketKind, TicketStatus, TransferTarget,
};

/// Where an agent of a group transfers chats.
#[derive(Clone, Debug)]
pub enum TransferTo {
    /// A support queue.
    Queue(QueueId),
    /// One of these agents, picked at random.
    Agents(Vec<AgentId>),
}

/// The faults agents of a group inject (all off in [`AgentFaults::none`]).
#[derive(Clone, Debug)]
pub struct AgentFaults {
    /// Chance per chat taken that the connection drops during it.
    pub drop_probability: f64,
    /// How long after taking the chat it drops.
    pub drop_after: DurationDist,
    /// Share of drops that reconnect within the grace period.
    pub reconnect_within_grace: f64,
    /// Reconnect delay (capped at half the grace within it, added to it otherwise).
    pub reconnect_delay: DurationDist,
    /// The server's grace period, in scenario time.
    pub grace: Duration,
    /// Pull with no reaction delay and always take the oldest chat.
    pub accept_burst: bool,
    /// Chance per reply sent of transferring the chat right after it.
    pub transfer_close_race: f64,
    /// Where a racing transfer goes when the group has no transfer target.
    pub race_queue: Option<QueueId>,
    /// Under auto-accept, how often "Available for N" flips.
    pub flip_every: Option<DurationDist>,
    /// Chance of becoming a slow consumer (once).
    pub stall_probability: f64,
    /// When the agent stops reading.
    pub stall_at: DurationDist,
    /// For how long.
    pub stall_for: DurationDist,
}

impl AgentFaults {
    /// No fault at all.
    pub fn none() -> AgentFaults {
        let zero = DurationDist::constant(Duration::ZERO);
        AgentFaults {
            drop_probability: 0.0,
            drop_after: zero,
            reconnect_within_grace: 0.0,
            reconnect_delay: zero,
            grace: Duration::from_secs(30),
            accept_burst: false,
            transfer_close_race: 0.0,
            race_queue: None,
            flip_every: None,
            stall_probability: 0.0,
            stall_at: zero,
            stall_for: zero,
        }
    }
}

/// `true` with probability `p`, drawing nothing when `p` is 0 (so a run without
/// faults draws the same numbers as before faults existed).
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && rng.random_bool(p.clamp(0.0, 1.0))
}

/// What agents of one group do; shared by all of them.
#[derive(Clone, Debug)]
pub struct AgentPlan {
    /// Auto-accept on in the server (agents declare "Available for N").
    pub auto_accept: bool,
    /// This agent pulls chats from Queue by hand: always when auto-accept is off, and
    /// under auto-accept when its group says so (R6).
    pub pulls: bool,
    /// "Available for N" under auto-accept; under manual accept the most chats an agent
    /// pulls at once.
    pub available_for: u8,
    /// Reaction time before accepting by hand.
    pub accept_delay: DurationDist,
    /// Time to answer a message.
    pub reply_delay: DurationDist,
    /// If set, the agent closes each chat this long after taking it.
    pub handle_time: Option<DurationDist>,
    /// Chance of transferring a chat (first agent only), where, and the notes.
    pub transfer: Option<(f64, TransferTo, String)>,
    /// Chance of creating a ticket on a chat.
    pub ticket_probability: f64,
    /// Of tickets, the share of work orders.
    pub work_order_share: f64,
    /// Of tickets, the share made from a template.
    pub template_probability: f64,
    /// Chance of sharing a knowledge article.
    pub share_probability: f64,
    /// Chance of pinning the shared article.
    pub pin_probability: f64,
    /// Fault injection.
    pub faults: AgentFaults,
    /// The run's seed, from which each chat's own generator is derived (see
    /// [`chat_rng`]).
    pub seed: u64,
}

/// The generator of what happens to chat `c` in the hands of its first agent
/// (`transferred` false) or of the agent it was transferred to: the work planned, the
/// handle time, the delays of the answers. It depends on the run's seed and the chat,
/// not on which agent took it, so variants compared on the same seed (`switchboard
/// compare`) give each chat the same work whatever agent their policy picks (common
/// random numbers). `role` (`chats/work`, `chats/faults`) keeps fault draws apart from
/// the work's.
pub(crate) fn chat_rng(seed: u64, role: &str, c: ChatId, transferred: bool) -> ChaCha8Rng {
    crate::seed::rng_for(seed, role, c.0.wrapping_mul(2) + u64::from(transferred))
}

/// The extra work planned for one chat, done in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Share { pin: bool },
    Ticket { kind: TicketKind, template: bool },
    Transfer,
}

/// What a search by term is for (R11, R13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Search {
    /// An article to share, then pin if `pin`.
    Article { pin: bool },
    /// A template for a ticket of this kind.
    Template { kind: TicketKind },
}

/// What an agent searches by for chat `subject`: its words of three letters or more,
/// longest (most telling) first.
fn search_terms(subject: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in subject
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
    {
        if w.chars().count() >= 3 && !words.contains(&w) {
            words.push(w);
        }
    }
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    words
}

/// What the agent tracks per chat it holds.
#[derive(Debug)]
struct Held {
    /// Which holding of the chat this is (see [`Timer::AgentClose`]).
    holding: u64,
    /// Since when the chat occupies the agent; `None` while the connection is down
    /// (the agent does no work on it then).
    busy_since: Option<Duration>,
    steps: Vec<Step>,
    /// The terms to search articles and templates by ([`search_terms`]).
    terms: Vec<String>,
    /// The search in flight: what for, and the index of its term in `terms`.
    searching: Option<(Search, usize)>,
    /// A user message waits for an answer.
    owes_reply: bool,
    /// The agent asked to close the chat: it answers nothing more and starts no work.
    closing: bool,
    /// A step is in flight (its replies are awaited).
    working: bool,
    pinning: Option<ArticleId>,
    /// The chat's own generator ([`chat_rng`]): every draw about this chat.
    rng: ChaCha8Rng,
}

// Tags: the low byte names the command, the rest the chat.
const SIGN_IN: Tag = 1;
const AVAILABILITY: Tag = 2;
const LIST_QUEUE: Tag = 3;
const LIST_TRANSFERRED: Tag = 4;
const ACCEPT: u64 = 5;
const ACCEPT_TRANSFER: u64 = 6;
const SEND: u64 = 7;
const CLOSE: u64 = 8;
const SHARE: u64 = 9;
const PIN: u64 = 10;
const TICKET: u64 = 11;
const FILL: u64 = 12;
const CONFIRM: u64 = 13;
const TRANSFER: u64 = 14;
const SEARCH: u64 = 15;

/// What a search answered: its best match, if any.
enum Found {
    Articles(Option<ArticleId>),
    Templates(Option<TemplateId>),
}

/// Searches for what `what` needs with term number `term` of chat `c`'s terms; false
/// when there is no such term (every one was tried).
fn search(c: ChatId, h: &mut Held, what: Search, term: usize, fx: &mut Effects) -> bool {
    let Some(word) = h.terms.get(term).cloned() else {
        return false;
    };
    h.searching = Some((what, term));
    let command = match what {
        Search::Article { .. } => Command::SearchArticles { term: word },
        Search::Template { .. } => Command::SearchTemplates { term: word },
    };
    fx.send.push((tag(SEARCH, c), command));
    true
}

fn create_ticket(c: ChatId, kind: TicketKind, template: Option<TemplateId>, fx: &mut Effects) {
    fx.send.push((
        tag(TICKET, c),
        Command::CreateTicket {
            chat: c,
            kind,
            template,
        },
    ));
}

fn tag(kind: u64, chat: ChatId) -> Tag {
    (chat.0 << 8) | kind
}

fn untag(t: Tag) -> (u64, ChatId) {
    (t & 0xff, ChatId(t >> 8))
}

/// One virtual agent.
pub struct AgentBot {
    id: AgentId,
    plan: Arc<AgentPlan>,
    rng: ChaCha8Rng,
    held: BTreeMap<ChatId, Held>,
    /// Chats an accept was sent for and not yet answered.
    accepting: BTreeSet<ChatId>,
    /// Waiting counts of the agent's queues: (queued, transferred to the queue).
    counts: BTreeMap<QueueId, (usize, usize)>,
    /// Transfers addressed to this agent personally.
    offered: BTreeSet<ChatId>,
    /// Transfers refused for the limit of four (R6): tried again once a chat is freed.
    held_back: BTreeSet<ChatId>,
    /// At the transfer limit: pull from Queue, not Transferred, until a chat is freed.
    transfers_blocked: bool,
    pull_scheduled: bool,
    signed_in_at: Option<Duration>,
    busy: Duration,
    /// Slots the agent declares now: its capacity once signed in, what an availability
    /// flip set, 0 while the connection is down.
    declared: usize,
    /// Σ over time of the slots offered (declared, or the open chats if more).
    slot_time: Duration,
    /// Up to when `slot_time` is counted.
    counted_to: Duration,
    chats_taken: u64,
    /// The connection is down (between [`Input::Disconnected`] and the next start).
    offline: bool,
    /// Under auto-accept flips: whether the last flip lowered the availability.
    flipped: bool,
}

impl AgentBot {
    /// An agent named `id` following `plan`.
    pub fn new(id: AgentId, plan: Arc<AgentPlan>, rng: ChaCha8Rng) -> Self {
        AgentBot {
            id,
            plan,
            rng,
            held: BTreeMap::new(),
            accepting: BTreeSet::new(),
            counts: BTreeMap::new(),
            offered: BTreeSet::new(),
            held_back: BTreeSet::new(),
            transfers_blocked: false,
            pull_scheduled: false,
            signed_in_at: None,
            busy: Duration::ZERO,
            declared: 0,
            slot_time: Duration::ZERO,
            counted_to: Duration::ZERO,
            chats_taken: 0,
            offline: false,
            flipped: false,
        }
    }

    /// The agent's id.
    pub fn id(&self) -> &AgentId {
        &self.id
    }

    /// Whether queue counts matter to this agent (it pulls chats by hand).
    pub fn wants_queue_counts(&self) -> bool {
        self.plan.pulls
    }

    fn capacity(&self) -> usize {
        usize::from(self.plan.available_for.max(1))
    }

    /// Counts the slots offered up to `now`, before anything they depend on changes:
    /// the declared slots while connected, or the chats in hand if those are more (an
    /// agent who lowered its availability still works the chats it has).
    fn count_slots(&mut self, now: Duration) {
        let working = self
            .held
            .values()
            .filter(|h| h.busy_since.is_some())
            .count();
        let width = if self.offline {
            0
        } else {
            self.declared.max(working)
        };
        self.slot_time +=
            now.saturating_sub(self.counted_to) * u32::try_from(width).unwrap_or(u32::MAX);
        self.counted_to = now;
    }

    /// Whether the agent still holds chat `c` in the holding a timer was set for.
    fn holds(&self, c: ChatId, holding: u64) -> bool {
        self.held.get(&c).is_some_and(|h| h.holding == holding)
    }

    fn room(&self) -> bool {
        self.held.len() + self.accepting.len() < self.capacity()
    }

    /// Manual accept: look again after the reaction delay if there may be work.
    fn maybe_pull(&mut self, fx: &mut Effects) {
        if !self.transfers_blocked {
            // A chat was freed: try the transfers held back by the limit again.
            for c in std::mem::take(&mut self.held_back) {
                let d = self.plan.accept_delay.sample(&mut self.rng);
                fx.timers.push((d, Timer::TakeTransfer(c)));
            }
        }
        if !self.plan.pulls || self.pull_scheduled || !self.room() {
            return;
        }
        let waiting: usize = self.counts.values().map(|(q, t)| q + t).sum();
        if waiting == 0 {
            return;
        }
        self.pull_scheduled = true;
        let delay = if self.plan.faults.accept_burst {
            Duration::ZERO
        } else {
            self.plan.accept_delay.sample(&mut self.rng)
        };
        fx.timers.push((delay, Timer::Pull));
    }

    fn plan_steps(
        p: &AgentPlan,
        rng: &mut ChaCha8Rng,
        transferred: bool,
        has_ticket: bool,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        if rng.random_bool(p.share_probability.clamp(0.0, 1.0)) {
            let pin = rng.random_bool(p.pin_probability.clamp(0.0, 1.0));
            steps.push(Step::Share { pin });
        }
        if !has_ticket && rng.random_bool(p.ticket_probability.clamp(0.0, 1.0)) {
            let kind = if rng.random_bool(p.work_order_share.clamp(0.0, 1.0)) {
                TicketKind::WorkOrder
            } else {
                TicketKind::Incident
            };
            let template = rng.random_bool(p.template_probability.clamp(0.0, 1.0));
            steps.push(Step::Ticket { kind, template });
        }
        if let Some((prob, _, _)) = &p.transfer {
            // Only the first agent transfers: a chat is not passed around forever.
            if !transferred && rng.random_bool(prob.clamp(0.0, 1.0)) {
                steps.push(Step::Transfer);
            }
        }
        steps
    }

    fn take(&mut self, now: Duration, view: &AcceptedChat, fx: &mut Effects) {
        self.count_slots(now);
        let c = view.chat;
        self.accepting.remove(&c);
        self.offered.remove(&c);
        self.chats_taken += 1;
        let holding = self.chats_taken;
        // A transfer to a queue that auto-accept routes arrives as `auto`: the transfer
        // notes tell that the chat was transferred before.
        let transferred = view.origin == Origin::Transferred || !view.notes.is_empty();
        let mut rng = chat_rng(self.plan.seed, "chats/work", c, transferred);
        let steps = Self::plan_steps(
            &self.plan,
            &mut rng,
            transferred,
            view.resources.ticket.is_some(),
        );
        let owes_reply = view
            .history
            .last()
            .is_some_and(|e| e.from == switchboard_server::domain::Party::User);
        self.held.insert(
            c,
            Held {
                holding,
                busy_since: Some(now),
                steps,
                terms: search_terms(&view.subject),
                searching: None,
                owes_reply,
                closing: false,
                working: false,
                pinning: None,
                rng,
            },
        );
        let Some(h) = self.held.get_mut(&c) else {
            return;
        };
        if owes_reply {
            let d = self.plan.reply_delay.sample(&mut h.rng);
            fx.timers.push((d, Timer::AgentReply(c, holding)));
        }
        if let Some(handle) = &self.plan.handle_time {
            let d = handle.sample(&mut h.rng);
            fx.timers.push((d, Timer::AgentClose(c, holding)));
            // Planned work happens early in the conversation.
            let w = self.plan.reply_delay.sample(&mut h.rng).min(d / 2);
            fx.timers.push((w, Timer::AgentWork(c, holding)));
        }
        let mut faults = chat_rng(self.plan.seed, "chats/faults", c, transferred);
        if chance(&mut faults, self.plan.faults.drop_probability) {
            let d = self.plan.faults.drop_after.sample(&mut faults);
            fx.timers.push((d, Timer::FaultDrop(c, holding)));
        }
    }

    /// Adopts a chat the server says is ours but whose accept we never heard about
    /// (the reply was lost in a drop): no planned work, answer the user, close on time.
    fn adopt(&mut self, now: Duration, c: ChatId, fx: &mut Effects) {
        self.count_slots(now);
        self.accepting.remove(&c);
        self.chats_taken += 1;
        let holding = self.chats_taken;
        self.held.insert(
            c,
            Held {
                holding,
                busy_since: Some(now),
                steps: Vec::new(),
                terms: Vec::new(),
                searching: None,
                owes_reply: true,
                closing: false,
                working: false,
                pinning: None,
                rng: chat_rng(self.plan.seed, "chats/work", c, false),
            },
        );
        let Some(h) = self.held.get_mut(&c) else {
            return;
        };
        let d = self.plan.reply_delay.sample(&mut h.rng);
        fx.timers.push((d, Timer::AgentReply(c, holding)));
        if let Some(handle) = &self.plan.handle_time {
            let d = handle.sample(&mut h.rng);
            fx.timers.push((d, Timer::AgentClose(c, holding)));
        }
    }

    /// After a sign-in that followed a drop: what the server resumed (`my_chats`) is
    /// what we hold. Chats it took back (grace over) are released; resumed chats get an
    /// answer (the user's messages written meanwhile follow, in each `resumed` chat).
    fn reconcile(&mut self, now: Duration, my_chats: &[ChatId], fx: &mut Effects) {
        let held: Vec<ChatId> = self.held.keys().copied().collect();
        for c in held {
            if !my_chats.contains(&c) {
                self.release(now, c);
            }
        }
        for &c in my_chats {
            match self.held.get_mut(&c) {
                Some(h) => {
                    // What was in flight is forgotten: its replies may come, late.
                    h.working = false;
                    h.searching = None;
                    if !h.owes_reply {
                        h.owes_reply = true;
                        let d = self.plan.reply_delay.sample(&mut h.rng);
                        fx.timers.push((d, Timer::AgentReply(c, h.holding)));
                    }
                }
                None => self.adopt(now, c, fx),
            }
        }
    }

    /// Transfers chat `c` at once (a transfer racing the user's close).
    fn race_transfer(&mut self, c: ChatId, fx: &mut Effects) {
        let f = &self.plan.faults;
        // Not while a step (maybe a planned transfer) is in flight: one transfer at a
        // time, so its reply is not mistaken for the other's.
        if self.held.get(&c).is_none_or(|h| h.working || h.closing)
            || !chance(&mut self.rng, f.transfer_close_race)
        {
            return;
        }
        let notes = "transferred in a hurry".to_string();
        let to = match self.plan.transfer.as_ref().map(|(_, to, _)| to) {
            Some(TransferTo::Queue(q)) => TransferTarget::Queue(q.clone()),
            Some(TransferTo::Agents(list)) => {
                let others: Vec<&AgentId> = list.iter().filter(|a| **a != self.id).collect();
                if others.is_empty() {
                    return;
                }
                let i = self.rng.random_range(0..others.len());
                TransferTarget::Agent(others[i].clone())
            }
            None => match &self.plan.faults.race_queue {
                Some(q) => TransferTarget::Queue(q.clone()),
                None => return,
            },
        };
        if let Some(h) = self.held.get_mut(&c) {
            h.steps.clear();
            h.working = true;
        }
        fx.send
            .push((tag(TRANSFER, c), Command::Transfer { chat: c, to, notes }));
    }

    fn release(&mut self, now: Duration, c: ChatId) {
        self.count_slots(now);
        if let Some(h) = self.held.remove(&c) {
            if let Some(since) = h.busy_since {
                self.busy += now.saturating_sub(since);
            }
            self.transfers_blocked = false;
        }
    }

    /// Starts the next planned step of chat `c`, if any and none is in flight.
    fn work(&mut self, c: ChatId, fx: &mut Effects) {
        let transfer_to = self.plan.transfer.clone();
        let Some(h) = self.held.get_mut(&c) else {
            return;
        };
        if h.working || h.steps.is_empty() {
            return;
        }
        let step = h.steps.remove(0);
        h.working = true;
        match step {
            Step::Share { pin } => {
                if !search(c, h, Search::Article { pin }, 0, fx) {
                    h.working = false;
                }
            }
            Step::Ticket { kind, template } => {
                if !(template && search(c, h, Search::Template { kind }, 0, fx)) {
                    create_ticket(c, kind, None, fx);
                }
            }
            Step::Transfer => {
                let Some((_, to, notes)) = transfer_to else {
                    h.working = false;
                    return;
                };
                let to = match to {
                    TransferTo::Queue(q) => TransferTarget::Queue(q),
                    TransferTo::Agents(list) => {
                        let others: Vec<&AgentId> =
                            list.iter().filter(|a| **a != self.id).collect();
                        if others.is_empty() {
                            h.working = false;
                            return;
                        }
                        let i = h.rng.random_range(0..others.len());
                        TransferTarget::Agent(others[i].clone())
                    }
                };
                fx.send
                    .push((tag(TRANSFER, c), Command::Transfer { chat: c, to, notes }));
            }
        }
        if let Some(h) = self.held.get_mut(&c)
            && !h.working
        {
            self.work(c, fx);
        }
    }

    /// A search for chat `c` came back with `found`: go on with what it was for, or,
    /// when it found nothing, try the next term. When no term finds anything, the
    /// agent shares no article, or creates its ticket without a template. A reply that
    /// is not the search in flight (one sent before a reconnect, its step since
    /// dropped) changes nothing.
    fn searched(&mut self, c: ChatId, found: Found, fx: &mut Effects) {
        let Some(h) = self.held.get_mut(&c).filter(|h| !h.closing) else {
            return;
        };
        let Some((what, tried)) = h.searching else {
            return;
        };
        match (what, found) {
            (Search::Article { pin }, Found::Articles(Some(article))) => {
                h.searching = None;
                if pin {
                    h.pinning = Some(article.clone());
                }
                fx.send
                    .push((tag(SHARE, c), Command::ShareArticle { chat: c, article }));
            }
            (Search::Template { kind }, Found::Templates(Some(template))) => {
                h.searching = None;
                create_ticket(c, kind, Some(template), fx);
            }
            (Search::Article { .. }, Found::Articles(None))
            | (Search::Template { .. }, Found::Templates(None)) => {
                h.searching = None;
                if !search(c, h, what, tried + 1, fx) {
                    self.found_nothing(c, what, fx);
                }
            }
            _ => {}
        }
    }

    fn found_nothing(&mut self, c: ChatId, what: Search, fx: &mut Effects) {
        match what {
            Search::Template { kind } => create_ticket(c, kind, None, fx),
            Search::Article { .. } => self.step_done(c, fx),
        }
    }

    fn step_done(&mut self, c: ChatId, fx: &mut Effects) {
        if let Some(h) = self.held.get_mut(&c) {
            h.working = false;
        }
        self.work(c, fx);
    }

    /// Sets the timers of the faults that do not depend on a chat, at the first start.
    fn schedule_faults(&mut self, fx: &mut Effects) {
        let f = self.plan.faults.clone();
        if chance(&mut self.rng, f.stall_probability) {
            fx.timers
                .push((f.stall_at.sample(&mut self.rng), Timer::FaultStall));
        }
        if let Some(every) = f.flip_every
            && self.plan.auto_accept
            && !self.plan.pulls
        {
            fx.timers
                .push((every.sample(&mut self.rng), Timer::FaultFlip));
        }
    }

    fn on_reply(
        &mut self,
        now: Duration,
        t: Tag,
        reply: &Reply,
        fx: &mut Effects,
        rec: &mut Recorder,
    ) {
        match t {
            SIGN_IN => {
                let resumed = self.signed_in_at.is_some();
                if !resumed {
                    self.signed_in_at = Some(now);
                }
                // Signed in: the agent offers its capacity again, and the chats it
                // kept through an outage occupy it again from now.
                self.count_slots(now);
                self.declared = self.capacity();
                for h in self.held.values_mut() {
                    h.busy_since.get_or_insert(now);
                }
                if let (true, Reply::Status(s)) = (resumed, reply) {
                    self.reconcile(now, &s.my_chats, fx);
                }
                let availability = if self.plan.auto_accept {
                    // A puller under auto-accept takes nothing from the router.
                    Availability::AvailableFor(if self.plan.pulls {
                        0
                    } else {
                        self.plan.available_for
                    })
                } else {
                    Availability::Available
                };
                fx.send
                    .push((AVAILABILITY, Command::SetAvailability { availability }));
                if let Reply::Status(s) = reply {
                    // The sign-in status says how much already waits.
                    if s.queue_count + s.transferred_count > 0 {
                        self.counts
                            .insert(QueueId::from("*"), (s.queue_count, s.transferred_count));
                    }
                }
                self.maybe_pull(fx);
            }
            AVAILABILITY => {}
            LIST_TRANSFERRED | LIST_QUEUE => {
                let Reply::Chats { chats } = reply else {
                    return;
                };
                let candidates: Vec<ChatId> = chats
                    .iter()
                    .map(|c| c.chat)
                    .filter(|c| !self.accepting.contains(c) && !self.held.contains_key(c))
                    .take(3)
                    .collect();
                if candidates.is_empty() {
                    if t == LIST_TRANSFERRED {
                        fx.send.push((LIST_QUEUE, Command::ListQueue));
                    } else {
                        self.counts.clear();
                    }
                    return;
                }
                // People do not all click the oldest: pick among the first few (in a
                // burst everyone goes for the oldest).
                let c = if self.plan.faults.accept_burst {
                    candidates[0]
                } else {
                    candidates[self.rng.random_range(0..candidates.len())]
                };
                self.accepting.insert(c);
                if t == LIST_TRANSFERRED {
                    fx.send
                        .push((tag(ACCEPT_TRANSFER, c), Command::AcceptTransfer { chat: c }));
                } else {
                    fx.send.push((tag(ACCEPT, c), Command::Accept { chat: c }));
                }
            }
            _ => {
                let (kind, c) = untag(t);
                match (kind, reply) {
                    (ACCEPT | ACCEPT_TRANSFER, Reply::Accepted(view)) => {
                        self.take(now, view, fx);
                        self.maybe_pull(fx);
                    }
                    (SEND, _) => {
                        rec.counters.messages.sent += 1;
                        if self.plan.handle_time.is_none() {
                            self.work(c, fx);
                        }
                        self.race_transfer(c, fx);
                    }
                    (CLOSE, _) => {
                        self.release(now, c);
                        self.maybe_pull(fx);
                    }
                    (SEARCH, Reply::Articles { articles }) => {
                        let found = Found::Articles(articles.first().map(|a| a.id.clone()));
                        self.searched(c, found, fx);
                    }
                    (SEARCH, Reply::Templates { templates }) => {
                        let found = Found::Templates(templates.first().map(|t| t.id.clone()));
                        self.searched(c, found, fx);
                    }
                    (SHARE, _) => {
                        rec.counters.articles.shared += 1;
                        let pin = self
                            .held
                            .get_mut(&c)
                            .filter(|h| !h.closing)
                            .and_then(|h| h.pinning.take());
                        match pin {
                            Some(article) => fx
                                .send
                                .push((tag(PIN, c), Command::PinArticle { chat: c, article })),
                            None => self.step_done(c, fx),
                        }
                    }
                    (PIN, _) => {
                        rec.counters.articles.pinned += 1;
                        self.step_done(c, fx);
                    }
                    (TICKET | FILL | CONFIRM, Reply::Ticket(ticket)) => match ticket.status {
                        TicketStatus::Created => {
                            match ticket.kind {
                                TicketKind::Incident => rec.counters.tickets.incidents += 1,
                                TicketKind::WorkOrder => rec.counters.tickets.work_orders += 1,
                            }
                            if ticket.template.is_some() {
                                rec.counters.tickets.from_template += 1;
                            }
                            if kind == CONFIRM {
                                rec.counters.tickets.drafts_confirmed += 1;
                            }
                            self.step_done(c, fx);
                        }
                        // A chat being closed gets no more work: the draft stays one.
                        TicketStatus::Draft if self.held.get(&c).is_none_or(|h| h.closing) => {}
                        TicketStatus::Draft if kind == TICKET => {
                            // Edit mode: fill every blank required field, then confirm.
                            let fields = ticket
                                .blank_required()
                                .into_iter()
                                .map(|f| (f, "filled in by the agent".to_string()))
                                .collect();
                            fx.send.push((
                                tag(FILL, c),
                                Command::FillTicket {
                                    ticket: ticket.id,
                                    fields,
                                },
                            ));
                        }
                        TicketStatus::Draft => {
                            fx.send.push((
                                tag(CONFIRM, c),
                                Command::ConfirmTicket { ticket: ticket.id },
                            ));
                        }
                    },
                    (TRANSFER, _) => {
                        rec.counters.chats.transferred += 1;
                        self.release(now, c);
                        self.maybe_pull(fx);
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_error(
        &mut self,
        now: Duration,
        t: Tag,
        code: &str,
        fx: &mut Effects,
        rec: &mut Recorder,
    ) {
        count_error(rec, code);
        let (kind, c) = untag(t);
        match kind {
            ACCEPT_TRANSFER if code == "transfer_limit" => {
                // R6: four from Transferred already. Keep a personal offer (nobody else
                // may take it) for when a chat is freed, and pull from Queue meanwhile.
                self.accepting.remove(&c);
                self.transfers_blocked = true;
                if self.offered.contains(&c) {
                    self.held_back.insert(c);
                }
                self.maybe_pull(fx);
            }
            ACCEPT | ACCEPT_TRANSFER => {
                // Lost the race (R8) or the chat went away: look again.
                self.accepting.remove(&c);
                self.offered.remove(&c);
                self.maybe_pull(fx);
            }
            LIST_QUEUE | LIST_TRANSFERRED => {
                // Refused (rate limited, …): look again after the reaction delay.
                self.maybe_pull(fx);
            }
            SEARCH => {
                // Refused (rate limited, …): as if no term found anything.
                if let Some(what) = self.held.get_mut(&c).and_then(|h| h.searching.take()) {
                    self.found_nothing(c, what.0, fx);
                }
            }
            SHARE | PIN | TICKET | FILL | CONFIRM | TRANSFER
                if code != "chat_ended" && code != "not_owner" =>
            {
                self.step_done(c, fx);
            }
            _ if code == "chat_ended" || code == "not_owner" => self.release(now, c),
            // Any other refusal of an answer or a close (rate limited, …): try again
            // rather than leave the user waiting or the slot taken for ever.
            SEND => {
                if let Some(h) = self.held.get_mut(&c) {
                    h.owes_reply = true;
                    let d = self.plan.reply_delay.sample(&mut h.rng);
                    fx.timers.push((d, Timer::AgentReply(c, h.holding)));
                }
            }
            CLOSE => {
                if let Some(h) = self.held.get_mut(&c) {
                    let d = self.plan.reply_delay.sample(&mut h.rng);
                    fx.timers.push((d, Timer::AgentClose(c, h.holding)));
                }
            }
            _ => {}
        }
    }

    fn on_notice(&mut self, now: Duration, n: &Notice, fx: &mut Effects, rec: &mut Recorder) {
        match n {
            Notice::Assigned(view) => {
                self.take(now, view, fx);
            }
            Notice::Message { chat, entry }
                if entry.from == switchboard_server::domain::Party::User =>
            {
                if self.held.contains_key(chat)
                    && matches!(
                        entry.body,
                        switchboard_server::domain::EntryBody::Text { .. }
                    )
                {
                    rec.counters.messages.received += 1;
                }
                if let Some(h) = self.held.get_mut(chat)
                    && !h.owes_reply
                    && !h.closing
                {
                    h.owes_reply = true;
                    let d = self.plan.reply_delay.sample(&mut h.rng);
                    fx.timers.push((d, Timer::AgentReply(*chat, h.holding)));
                }
            }
            Notice::ChatEnded { chat, .. } => {
                self.release(now, *chat);
                self.offered.remove(chat);
                self.maybe_pull(fx);
            }
            Notice::QueueChanged {
                queue,
                queued,
                transferred,
            } => {
                self.counts.remove(&QueueId::from("*"));
                self.counts.insert(queue.clone(), (*queued, *transferred));
                self.maybe_pull(fx);
            }
            Notice::TransferOffered { chat, .. } => {
                self.offered.insert(*chat);
                let d = self.plan.accept_delay.sample(&mut self.rng);
                fx.timers.push((d, Timer::TakeTransfer(*chat)));
            }
            Notice::TransferWithdrawn { chat, .. } => {
                self.offered.remove(chat);
            }
            _ => {}
        }
    }
}

impl Participant for AgentBot {
    fn on(&mut self, now: Duration, input: Input<'_>, fx: &mut Effects, rec: &mut Recorder) {
        match input {
            Input::Start => {
                if self.signed_in_at.is_none() {
                    self.schedule_faults(fx);
                }
                self.offline = false;
                fx.send.push((SIGN_IN, Command::SignIn));
            }
            Input::Disconnected => {
                // No slot is offered and no chat worked until the agent is back.
                self.count_slots(now);
                for h in self.held.values_mut() {
                    if let Some(since) = h.busy_since.take() {
                        self.busy += now.saturating_sub(since);
                    }
                }
                self.declared = 0;
                // Replies in flight are lost; queue counts and offers are stale.
                self.offline = true;
                self.accepting.clear();
                self.offered.clear();
                self.counts.clear();
            }
            Input::Timer(Timer::FaultDrop(c, holding)) => {
                if !self.offline && self.holds(c, holding) {
                    let f = &self.plan.faults;
                    let within = chance(&mut self.rng, f.reconnect_within_grace);
                    let delay = f.reconnect_delay.sample(&mut self.rng);
                    let reconnect_after = if within {
                        delay.min(f.grace / 2)
                    } else {
                        f.grace + delay
                    };
                    fx.fault = Some(Fault::Drop {
                        reconnect_after,
                        within_grace: within,
                    });
                }
            }
            Input::Timer(Timer::FaultStall) => {
                if !self.offline {
                    let stall = self.plan.faults.stall_for.sample(&mut self.rng);
                    fx.fault = Some(Fault::Stall { stall });
                }
            }
            Input::Timer(Timer::FaultFlip) => {
                if let Some(every) = self.plan.faults.flip_every {
                    let n = if self.flipped {
                        self.plan.available_for
                    } else {
                        self.rng.random_range(0..=self.plan.available_for)
                    };
                    self.flipped = !self.flipped;
                    if !self.offline {
                        self.count_slots(now);
                        self.declared = usize::from(n);
                    }
                    fx.send.push((
                        AVAILABILITY,
                        Command::SetAvailability {
                            availability: Availability::AvailableFor(n),
                        },
                    ));
                    let d = every.sample(&mut self.rng);
                    fx.timers.push((d, Timer::FaultFlip));
                }
            }
            Input::Reply(t, reply) => self.on_reply(now, t, reply, fx, rec),
            Input::Error(t, code) => self.on_error(now, t, code, fx, rec),
            Input::Notice(n) => self.on_notice(now, n, fx, rec),
            Input::Timer(Timer::Pull) => {
                self.pull_scheduled = false;
                if self.room() {
                    let transfers: usize = self.counts.values().map(|(_, t)| t).sum();
                    if transfers > 0 && !self.transfers_blocked {
                        fx.send.push((LIST_TRANSFERRED, Command::ListTransferred));
                    } else {
                        fx.send.push((LIST_QUEUE, Command::ListQueue));
                    }
                }
            }
            Input::Timer(Timer::TakeTransfer(c)) => {
                if self.offered.contains(&c) && !self.accepting.contains(&c) {
                    self.accepting.insert(c);
                    fx.send
                        .push((tag(ACCEPT_TRANSFER, c), Command::AcceptTransfer { chat: c }));
                }
            }
            Input::Timer(Timer::AgentReply(c, holding)) => {
                if let Some(h) = self.held.get_mut(&c)
                    && h.holding == holding
                    && h.owes_reply
                    && !h.closing
                {
                    h.owes_reply = false;
                    let text = "here is what we can do".to_string();
                    fx.send
                        .push((tag(SEND, c), Command::Send { chat: c, text }));
                }
            }
            Input::Timer(Timer::AgentWork(c, holding)) => {
                if self.holds(c, holding) {
                    self.work(c, fx);
                }
            }
            Input::Timer(Timer::AgentClose(c, holding)) => {
                if self.holds(c, holding)
                    && let Some(h) = self.held.get_mut(&c)
                {
                    // Nothing more is said or done in a chat the agent is closing.
                    h.closing = true;
                    h.owes_reply = false;
                    h.steps.clear();
                    fx.send.push((tag(CLOSE, c), Command::Close { chat: c }));
                }
            }
            Input::Timer(_) => {}
        }
    }

    fn finish(&mut self, now: Duration, rec: &mut Recorder) {
        let open: Vec<ChatId> = self.held.keys().copied().collect();
        for c in open {
            self.release(now, c);
        }
        self.count_slots(now);
        rec.agent_work(
            self.id.as_str(),
            self.chats_taken,
            self.busy,
            self.slot_time,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use switchboard_server::domain::outcome::ArticleSummary;
    use switchboard_server::domain::{
        AgentStatus, ChatSource, Resources, Time, TransferNote, UserId,
    };

    fn plan(faults: AgentFaults) -> Arc<AgentPlan> {
        let zero = DurationDist::constant(Duration::ZERO);
        Arc::new(AgentPlan {
            auto_accept: true,
            pulls: false,
            available_for: 2,
            accept_delay: zero,
            reply_delay: DurationDist::constant(Duration::from_secs(1)),
            handle_time: None,
            transfer: None,
            ticket_probability: 0.0,
            work_order_share: 0.0,
            template_probability: 0.0,
            share_probability: 0.0,
            pin_probability: 0.0,
            faults,
            seed: 1,
        })
    }

    fn view(chat: u64) -> AcceptedChat {
        AcceptedChat {
            chat: ChatId(chat),
            queue: "q".into(),
            subject: "help".into(),
            source: ChatSource::SelfService,
            user: UserId(chat),
            origin: Origin::Auto,
            requested_at: Time(0),
            history: Vec::new(),
            notes: Vec::new(),
            customer: None,
            resources: Resources::default(),
        }
    }

    fn status(my_chats: Vec<ChatId>) -> Reply {
        Reply::Status(AgentStatus {
            agent: "a-1".into(),
            name: "a-1".into(),
            queues: vec!["q".into()],
            availability: Availability::AvailableFor(2),
            auto_accept: true,
            my_chats,
            queue_count: 0,
            transferred_count: 0,
        })
    }

    fn step(bot: &mut AgentBot, input: Input<'_>) -> Effects {
        let mut fx = Effects::default();
        let mut rec = Recorder::new(Duration::from_secs(60));
        bot.on(Duration::from_secs(1), input, &mut fx, &mut rec);
        fx
    }

    fn dropping(within: f64) -> AgentBot {
        let faults = AgentFaults {
            drop_probability: 1.0,
            drop_after: DurationDist::constant(Duration::from_secs(3)),
            reconnect_within_grace: within,
            reconnect_delay: DurationDist::constant(Duration::from_secs(4)),
            grace: Duration::from_secs(20),
            ..AgentFaults::none()
        };
        AgentBot::new("a-1".into(), plan(faults), ChaCha8Rng::seed_from_u64(1))
    }

    /// Takes chat 7 and lets its drop timer fire; returns the asked fault.
    fn take_and_drop(bot: &mut AgentBot) -> Option<Fault> {
        step(bot, Input::Start);
        step(bot, Input::Reply(SIGN_IN, &status(Vec::new())));
        let fx = step(bot, Input::Notice(&Notice::Assigned(Box::new(view(7)))));
        assert!(
            fx.timers
                .contains(&(Duration::from_secs(3), Timer::FaultDrop(ChatId(7), 1))),
            "{:?}",
            fx.timers
        );
        step(bot, Input::Timer(Timer::FaultDrop(ChatId(7), 1))).fault
    }

    /// A signed-in agent that closes each chat a minute after taking it.
    fn closing_after_a_minute() -> AgentBot {
        let mut p = (*plan(AgentFaults::none())).clone();
        p.handle_time = Some(DurationDist::constant(Duration::from_secs(60)));
        let mut bot = AgentBot::new("a-1".into(), Arc::new(p), ChaCha8Rng::seed_from_u64(1));
        step(&mut bot, Input::Start);
        step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
        bot
    }

    /// An agent that closes a chat says nothing more in it: an answer it still owed
    /// would only be refused (`chat_ended`) and counted as an error.
    #[test]
    fn a_chat_being_closed_gets_no_more_answers() {
        let mut bot = closing_after_a_minute();
        step(
            &mut bot,
            Input::Notice(&Notice::Assigned(Box::new(view(7)))),
        );
        let chat = ChatId(7);
        let message = |seq| Notice::Message {
            chat,
            entry: switchboard_server::domain::Entry {
                seq,
                at: Time(seq),
                from: switchboard_server::domain::Party::User,
                body: switchboard_server::domain::EntryBody::Text {
                    text: "still there?".into(),
                },
            },
        };
        let fx = step(&mut bot, Input::Notice(&message(1)));
        assert!(
            fx.timers
                .contains(&(Duration::from_secs(1), Timer::AgentReply(chat, 1)))
        );
        let fx = step(&mut bot, Input::Timer(Timer::AgentClose(chat, 1)));
        assert!(
            matches!(fx.send.as_slice(), [(_, Command::Close { .. })]),
            "{:?}",
            fx.send
        );
        // The answer it owed, and a message that crossed the close: nothing.
        let fx = step(&mut bot, Input::Timer(Timer::AgentReply(chat, 1)));
        assert!(fx.send.is_empty(), "{:?}", fx.send);
        let fx = step(&mut bot, Input::Notice(&message(2)));
        assert!(
            fx.timers.is_empty() && fx.send.is_empty(),
            "{:?}",
            fx.timers
        );
    }

    /// R11, R13: the agent searches articles and templates by the words of the chat's
    /// subject, longest first, until a term finds something; it shares the best match,
    /// and when no term finds a template it creates the ticket without one.
    #[test]
    fn planned_work_searches_by_the_subjects_words() {
        let mut p = (*plan(AgentFaults::none())).clone();
        (
            p.share_probability,
            p.ticket_probability,
            p.template_probability,
        ) = (1.0, 1.0, 1.0);
        let mut bot = AgentBot::new("a-1".into(), Arc::new(p), ChaCha8Rng::seed_from_u64(1));
        step(&mut bot, Input::Start);
        step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
        let chat = ChatId(7);
        let v = AcceptedChat {
            subject: "My VPN token expired".into(),
            ..view(7)
        };
        step(&mut bot, Input::Notice(&Notice::Assigned(Box::new(v))));
        // Work starts once the agent has answered.
        step(&mut bot, Input::Timer(Timer::AgentReply(chat, 1)));
        let sent = Reply::Sent { chat, seq: 1 };
        let sends = |fx: Effects| -> Vec<Command> { fx.send.into_iter().map(|(_, c)| c).collect() };
        let articles = |ids: &[&str]| Reply::Articles {
            articles: ids
                .iter()
                .map(|id| ArticleSummary {
                    id: (*id).into(),
                    title: String::new(),
                    link: String::new(),
                })
                .collect(),
        };
        let term = |t: &str| Command::SearchArticles { term: t.into() };
        let fx = step(&mut bot, Input::Reply(tag(SEND, chat), &sent));
        assert_eq!(sends(fx), [term("expired")]);
        // A template search's answer (a stale one) does not answer an article search.
        let stale = Reply::Templates {
            templates: Vec::new(),
        };
        let fx = step(&mut bot, Input::Reply(tag(SEARCH, chat), &stale));
        assert!(fx.send.is_empty(), "{:?}", fx.send);
        let fx = step(&mut bot, Input::Reply(tag(SEARCH, chat), &articles(&[])));
        assert_eq!(sends(fx), [term("token")]);
        let fx = step(
            &mut bot,
            Input::Reply(tag(SEARCH, chat), &articles(&["KA-0002", "KA-0009"])),
        );
        let article = ArticleId::from("KA-0002");
        assert_eq!(sends(fx), [Command::ShareArticle { chat, article }]);
        // Shared: the ticket's template is searched for the same way.
        let fx = step(&mut bot, Input::Reply(tag(SHARE, chat), &sent));
        assert_eq!(
            sends(fx),
            [Command::SearchTemplates {
                term: "expired".into()
            }]
        );
        let none = Reply::Templates {
            templates: Vec::new(),
        };
        for next in ["token", "vpn"] {
            let fx = step(&mut bot, Input::Reply(tag(SEARCH, chat), &none));
            assert_eq!(sends(fx), [Command::SearchTemplates { term: next.into() }]);
        }
        // "my" is too short to search by: nothing found, no template.
        let fx = step(&mut bot, Input::Reply(tag(SEARCH, chat), &none));
        assert_eq!(
            sends(fx),
            [Command::CreateTicket {
                chat,
                kind: TicketKind::Incident,
                template: None
            }]
        );
    }

    #[test]
    fn search_terms_are_the_subjects_longer_words_longest_first() {
        assert_eq!(
            search_terms("Printer jams on every PAGE, printer"),
            ["printer", "every", "jams", "page"]
        );
        assert!(search_terms("a an to").is_empty());
    }

    /// A chat taken again (after the Desk took it back, say) gets its own timers: the
    /// close planned for the first holding does not end the second early.
    #[test]
    fn timers_of_an_earlier_holding_are_void() {
        let mut bot = closing_after_a_minute();
        let first = step(
            &mut bot,
            Input::Notice(&Notice::Assigned(Box::new(view(7)))),
        );
        assert!(
            first
                .timers
                .iter()
                .any(|(_, t)| *t == Timer::AgentClose(ChatId(7), 1))
        );
        // The connection drops past the grace period: the Desk took the chat back (the
        // sign-in's status no longer lists it), then routes it to the agent again.
        step(&mut bot, Input::Disconnected);
        step(&mut bot, Input::Start);
        step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
        assert!(!bot.held.contains_key(&ChatId(7)));
        step(
            &mut bot,
            Input::Notice(&Notice::Assigned(Box::new(view(7)))),
        );
        // The first holding's close fires: nothing happens.
        let stale = step(&mut bot, Input::Timer(Timer::AgentClose(ChatId(7), 1)));
        assert!(stale.send.is_empty(), "{:?}", stale.send);
        let due = step(&mut bot, Input::Timer(Timer::AgentClose(ChatId(7), 2)));
        assert!(
            matches!(
                due.send.as_slice(),
                [(_, Command::Close { chat: ChatId(7) })]
            ),
            "{:?}",
            due.send
        );
    }

    /// A chat transferred to a queue that auto-accept routes arrives as `auto`, but its
    /// notes say it was transferred: only the first agent transfers a chat.
    #[test]
    fn a_routed_queue_transfer_is_not_transferred_again() {
        let mut p = (*plan(AgentFaults::none())).clone();
        p.transfer = Some((1.0, TransferTo::Queue("q".into()), "again".into()));
        let mut bot = AgentBot::new("a-1".into(), Arc::new(p), ChaCha8Rng::seed_from_u64(1));
        step(&mut bot, Input::Start);
        step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
        step(
            &mut bot,
            Input::Notice(&Notice::Assigned(Box::new(view(7)))),
        );
        let mut routed = view(8);
        routed.notes.push(TransferNote {
            from: "a-2".into(),
            to: TransferTarget::Queue("q".into()),
            notes: "for the queue".into(),
            at: Time(0),
        });
        step(&mut bot, Input::Notice(&Notice::Assigned(Box::new(routed))));
        assert!(bot.held[&ChatId(7)].steps.contains(&Step::Transfer));
        assert!(!bot.held[&ChatId(8)].steps.contains(&Step::Transfer));
    }

    /// Occupancy counts neither slots nor chat time while the connection is down: a
    /// chat held from 0 to 30 s with a 10 s outage is 20 s busy out of 2 × 20 s offered.
    #[test]
    fn an_outage_offers_no_slots_and_works_no_chat() {
        let mut bot = dropping(1.0);
        let mut rec = Recorder::new(Duration::from_secs(60));
        let mut at = |bot: &mut AgentBot, secs: u64, input: Input<'_>| {
            bot.on(
                Duration::from_secs(secs),
                input,
                &mut Effects::default(),
                &mut rec,
            );
        };
        at(&mut bot, 0, Input::Start);
        at(&mut bot, 0, Input::Reply(SIGN_IN, &status(Vec::new())));
        at(
            &mut bot,
            0,
            Input::Notice(&Notice::Assigned(Box::new(view(7)))),
        );
        at(&mut bot, 10, Input::Disconnected);
        at(&mut bot, 20, Input::Start);
        at(
            &mut bot,
            20,
            Input::Reply(SIGN_IN, &status(vec![ChatId(7)])),
        );
        bot.finish(Duration::from_secs(30), &mut rec);
        let work = &rec.agents()["a-1"];
        assert_eq!(work.chats, 1);
        assert_eq!(work.busy_slot_seconds, 20.0);
        assert_eq!(work.offered_slot_seconds, 40.0);
    }

    /// An agent who lowers its availability offers fewer slots from then on, but never
    /// fewer than the chats it is working.
    #[test]
    fn lowered_availability_offers_fewer_slots() {
        let faults = AgentFaults {
            flip_every: Some(DurationDist::constant(Duration::from_secs(10))),
            ..AgentFaults::none()
        };
        let mut bot = AgentBot::new("a-1".into(), plan(faults), ChaCha8Rng::seed_from_u64(3));
        let mut rec = Recorder::new(Duration::from_secs(60));
        let mut at = |bot: &mut AgentBot, secs: u64, input: Input<'_>| {
            let mut fx = Effects::default();
            bot.on(Duration::from_secs(secs), input, &mut fx, &mut rec);
            fx
        };
        at(&mut bot, 0, Input::Start);
        at(&mut bot, 0, Input::Reply(SIGN_IN, &status(Vec::new())));
        at(
            &mut bot,
            0,
            Input::Notice(&Notice::Assigned(Box::new(view(7)))),
        );
        let fx = at(&mut bot, 10, Input::Timer(Timer::FaultFlip));
        let lowered = fx
            .send
            .iter()
            .find_map(|(_, c)| match c {
                Command::SetAvailability {
                    availability: Availability::AvailableFor(n),
                } => Some(u64::from(*n)),
                _ => None,
            })
            .expect("a flip lowers the availability");
        bot.finish(Duration::from_secs(30), &mut rec);
        let work = &rec.agents()["a-1"];
        // 2 slots for 10 s, then max(lowered, 1 chat in hand) for 20 s.
        let expected = 2 * 10 + lowered.max(1) * 20;
        assert_eq!(
            work.offered_slot_seconds, expected as f64,
            "lowered to {lowered}"
        );
        assert_eq!(work.busy_slot_seconds, 30.0);
    }

    #[test]
    fn a_drop_within_grace_resumes_and_answers_the_user() {
        let mut bot = dropping(1.0);
        let fault = take_and_drop(&mut bot);
        assert_eq!(
            fault,
            Some(Fault::Drop {
                reconnect_after: Duration::from_secs(4),
                within_grace: true
            })
        );
        step(&mut bot, Input::Disconnected);
        // While offline a second drop is not asked for.
        assert_eq!(
            step(&mut bot, Input::Timer(Timer::FaultDrop(ChatId(7), 1))).fault,
            None
        );
        let fx = step(&mut bot, Input::Start);
        assert!(matches!(fx.send.as_slice(), [(SIGN_IN, Command::SignIn)]));
        // The Desk resumed chat 7: the agent answers (messages may have been missed).
        let fx = step(&mut bot, Input::Reply(SIGN_IN, &status(vec![ChatId(7)])));
        assert!(
            fx.timers
                .contains(&(Duration::from_secs(1), Timer::AgentReply(ChatId(7), 1)))
        );
        assert!(bot.held.contains_key(&ChatId(7)));
    }

    #[test]
    fn a_drop_after_grace_releases_what_the_desk_took_back() {
        let mut bot = dropping(0.0);
        let fault = take_and_drop(&mut bot);
        assert_eq!(
            fault,
            Some(Fault::Drop {
                reconnect_after: Duration::from_secs(24),
                within_grace: false
            })
        );
        step(&mut bot, Input::Disconnected);
        step(&mut bot, Input::Start);
        // Chat 7 went back to the queue; chat 9 was accepted but its reply was lost.
        step(&mut bot, Input::Reply(SIGN_IN, &status(vec![ChatId(9)])));
        assert!(!bot.held.contains_key(&ChatId(7)));
        assert!(bot.held.contains_key(&ChatId(9)));
    }

    #[test]
    fn without_faults_nothing_is_injected() {
        let mut bot = AgentBot::new(
            "a-1".into(),
            plan(AgentFaults::none()),
            ChaCha8Rng::seed_from_u64(5),
        );
        let fx = step(&mut bot, Input::Start);
        assert!(fx.timers.is_empty(), "{:?}", fx.timers);
        step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
        let fx = step(
            &mut bot,
            Input::Notice(&Notice::Assigned(Box::new(view(3)))),
        );
        assert!(
            !fx.timers.iter().any(|(_, t)| matches!(
                t,
                Timer::FaultDrop(..) | Timer::FaultStall | Timer::FaultFlip
            )),
            "{:?}",
            fx.timers
        );
        assert_eq!(fx.fault, None);
    }

    /// R6: a personal transfer refused for the limit is kept and taken again once a
    /// chat is freed; the agent is not stuck with it.
    #[test]
    fn transfer_refused_for_the_limit_is_retried_when_a_chat_ends() {
        let mut bot = AgentBot::new(
            "a-1".into(),
            plan(AgentFaults::none()),
            rand_chacha::ChaCha8Rng::seed_from_u64(1),
        );
        step(
            &mut bot,
            Input::Notice(&Notice::Assigned(Box::new(view(1)))),
        );
        let offer = Notice::TransferOffered {
            chat: ChatId(9),
            queue: "q".into(),
            from: "b-1".into(),
            notes: String::new(),
        };
        let fx = step(&mut bot, Input::Notice(&offer));
        assert!(
            fx.timers
                .iter()
                .any(|(_, t)| *t == Timer::TakeTransfer(ChatId(9)))
        );
        let fx = step(&mut bot, Input::Timer(Timer::TakeTransfer(ChatId(9))));
        let (t, _) = fx.send[0].clone();
        let fx = step(&mut bot, Input::Error(t, "transfer_limit"));
        assert!(
            !fx.timers
                .iter()
                .any(|(_, t)| *t == Timer::TakeTransfer(ChatId(9)))
        );
        let ended = Notice::ChatEnded {
            chat: ChatId(1),
            state: switchboard_server::domain::ChatState::Abandoned,
        };
        let fx = step(&mut bot, Input::Notice(&ended));
        assert!(
            fx.timers
                .iter()
                .any(|(_, t)| *t == Timer::TakeTransfer(ChatId(9))),
            "{fx:?}"
        );
    }

    /// A refused answer is tried again: the user is not left waiting for ever.
    #[test]
    fn refused_reply_is_retried() {
        let mut bot = AgentBot::new(
            "a-1".into(),
            plan(AgentFaults::none()),
            rand_chacha::ChaCha8Rng::seed_from_u64(1),
        );
        step(
            &mut bot,
            Input::Notice(&Notice::Assigned(Box::new(view(1)))),
        );
        let msg = Notice::Message {
            chat: ChatId(1),
            entry: switchboard_server::domain::Entry {
                seq: 1,
                at: Time(0),
                from: switchboard_server::domain::Party::User,
                body: switchboard_server::domain::EntryBody::Text { text: "hi".into() },
            },
        };
        step(&mut bot, Input::Notice(&msg));
        let fx = step(&mut bot, Input::Timer(Timer::AgentReply(ChatId(1), 1)));
        let (t, _) = fx.send[0].clone();
        let fx = step(&mut bot, Input::Error(t, "rate_limited"));
        assert!(
            fx.timers
                .iter()
                .any(|(_, t)| *t == Timer::AgentReply(ChatId(1), 1)),
            "{fx:?}"
        );
    }
}
