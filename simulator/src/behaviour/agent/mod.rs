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

mod answers;
mod plan;
mod tags;
#[cfg(test)]
mod tests;
mod work;

pub(crate) use plan::chat_rng;
pub use plan::{AgentFaults, AgentPlan, DroppedChats, TransferTo};
use tags::{
    ACCEPT_TRANSFER, AVAILABILITY, CLOSE, LIST_QUEUE, LIST_TRANSFERRED, OFFERS_AFTER_DROP, SEND,
    SHARE, SIGN_IN, TRANSFER, tag,
};
use work::{Found, Held, Search, Step, create_ticket, search, search_terms};

use super::{Effects, Fault, Input, Participant, Timer, chance};
use crate::metrics::Recorder;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use switchboard_server::domain::{
    AcceptedChat, AgentId, Availability, ChatId, Command, Origin, QueueId, TicketKind,
    TransferTarget,
};

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
    /// Back from a drop and signed in again, until the sign-in's reply says which
    /// chats it still holds.
    resuming: bool,
    /// Per-chat timers that fired while the agent was away or resuming: they fire
    /// again once it knows which chats it still holds (a command sent blindly would act
    /// on a chat the Desk took back, or on a later holding of it).
    deferred: Vec<Timer>,
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
            resuming: false,
            deferred: Vec::new(),
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
        // An article is pinned on the chat's ticket: without one (none before, none
        // planned) there is nothing to pin it on. (Drawn all the same, so that the
        // draws after it do not depend on the ticket.)
        let ticket = has_ticket || steps.iter().any(|s| matches!(s, Step::Ticket { .. }));
        if !ticket {
            for s in &mut steps {
                if let Step::Share { pin } = s {
                    *pin = false;
                }
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
        let mut steps = Self::plan_steps(
            &self.plan,
            &mut chat_rng(self.plan.seed, "chats/work", c, transferred),
            transferred,
            view.resources.ticket.is_some(),
        );
        // A chat back from an agent who was lost replays the plan of its first holding:
        // an article that agent shared already is in the history, not shared again.
        let shared_before = view.history.iter().any(|e| {
            matches!(
                e.body,
                switchboard_server::domain::EntryBody::Article { .. }
            )
        });
        if shared_before {
            steps.retain(|s| !matches!(s, Step::Share { .. }));
        }
        // The conversation's timing (answers, handle time) from a generator of its own:
        // how many draws the plan took depends on its probabilities (a share draws its
        // pin, a ticket its kind), and variants that differ only in those see the same
        // conversations (common random numbers).
        let rng = chat_rng(self.plan.seed, "chats/timing", c, transferred);
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
        // Drawn for this holding of the chat: the first the same whichever agent takes
        // it (common random numbers), and a chat back in the queue after a drop draws
        // afresh for whoever takes it next.
        let holding_after_drops = self.plan.faults.dropped.times(c);
        let mut faults = chat_rng(
            self.plan.seed,
            &format!("chats/faults/{holding_after_drops}"),
            c,
            transferred,
        );
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
                rng: chat_rng(self.plan.seed, "chats/timing", c, false),
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
                    // What was in flight is forgotten: its answers went with the
                    // dropped connection (live runs count them `reply_lost`).
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
}

impl Participant for AgentBot {
    fn on(&mut self, now: Duration, input: Input<'_>, fx: &mut Effects, rec: &mut Recorder) {
        match input {
            Input::Start => {
                if self.signed_in_at.is_none() {
                    self.schedule_faults(fx);
                }
                self.resuming = self.offline;
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
                    // The drop ends this agent's holding of every chat it holds: whoever
                    // takes one of them next draws its drop afresh.
                    for &held in self.held.keys() {
                        self.plan.faults.dropped.add(held);
                    }
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
            Input::Timer(
                t @ (Timer::AgentReply(..) | Timer::AgentWork(..) | Timer::AgentClose(..)),
            ) if self.offline || self.resuming => self.deferred.push(t),
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
            Input::Timer(Timer::ListOffers) => {
                if !self.offline {
                    fx.send.push((OFFERS_AFTER_DROP, Command::ListTransferred));
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
