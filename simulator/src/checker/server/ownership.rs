//! Who holds a chat: taken from a queue or a transfer by exactly one agent within its
//! capacity, with the history handed over (R2, R5–R8), resumed whole after a dropped
//! connection (R10), released, ended, and what a grace period running out takes back.

use super::model::St;
use super::{Replay, shown_by, target, unqueue};
use crate::checker::violation::Invariant;
use switchboard_server::domain::{
    AgentId, ChatId, Command, Entry, Notice, Origin, Principal, Recipient, TransferTarget,
};
use switchboard_server::protocol::{JournalEntry, JournalResult};

impl Replay<'_> {
    /// After a timekeeping step: an agent whose grace period ran out must have no
    /// chats left (they go back to the queue with `agent_left`).
    pub(super) fn grace_expired(&mut self, e: &JournalEntry) {
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
                    shown_by(
                        e,
                        Invariant::ChatEnd,
                        format!("chat {c} is lost: {a}'s grace period ran out but the chat was not put back in its queue"),
                    )
                    .chat(c.0)
                    .agent(a.as_str()),
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
    /// late `sign_in` that releases the agent (with no grace period at all, in its
    /// `disconnect`), and may route the chat on in the same step — so the replay
    /// retargets them before it reads that step's notices, and not before: until that
    /// step the chat is still the agent's to hear of (a user ending it in between tells
    /// that agent).
    pub(super) fn retarget_gone_transfers(&mut self, e: &JournalEntry) {
        let grace = self.opts.agent_grace_ms;
        let only = match (&e.command, &e.principal) {
            (Command::Disconnect, Principal::Agent(a)) if grace == 0 => {
                let a = a.clone();
                self.retarget_transfers_of(&a);
                return;
            }
            (Command::Tick, _) => None,
            (Command::SignIn, Principal::Agent(a)) => Some(a.clone()),
            _ => return,
        };
        let mut gone: Vec<AgentId> = Vec::new();
        for (a, m) in &mut self.agents {
            if only.as_ref().is_some_and(|o| o != a) {
                continue;
            }
            if !m.transfers_released && m.offline_since.is_some_and(|t| t + grace <= e.at_ms) {
                m.transfers_released = true;
                gone.push(a.clone());
            }
        }
        for a in gone {
            self.retarget_transfers_of(&a);
        }
    }

    /// The transfers still addressed to `a` go to their chats' queues.
    fn retarget_transfers_of(&mut self, a: &AgentId) {
        for id in self.addressed.remove(a).unwrap_or_default() {
            let Some(c) = self.chats.get_mut(&id) else {
                continue;
            };
            // Still waiting for it (not taken, withdrawn or ended since).
            if matches!(&c.st, St::Transferred(TransferTarget::Agent(to)) if to == a) {
                c.st = St::Transferred(TransferTarget::Queue(c.queue.clone()));
                if self.route_queue_transfers {
                    self.queued.join(&c.queue, id);
                }
            }
        }
    }

    pub(super) fn may_see(&self, a: &AgentId, to: &TransferTarget) -> bool {
        match to {
            TransferTarget::Agent(t) => t == a,
            TransferTarget::Queue(q) => self.agents.get(a).is_some_and(|m| m.queues.contains(q)),
        }
    }

    /// An agent back from a dropped connection gets every chat it resumed whole, so
    /// that what the user wrote meanwhile reaches it (R10).
    pub(super) fn every_chat_resumed(
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
                    shown_by(
                        e,
                        Invariant::MessageOrder,
                        format!(
                            "{a} resumed chat {c} without being given it (what the user \
                             wrote meanwhile never reaches it, R10)"
                        ),
                    )
                    .chat(c.0)
                    .agent(a.as_str()),
                );
            }
        }
    }

    /// An agent back within its grace period is given a chat it held: it must own it.
    pub(super) fn resumed(&mut self, c: ChatId, a: &AgentId, e: &JournalEntry) {
        let Some(chat) = self.chats.get(&c) else {
            return;
        };
        let owner = chat.owner.as_ref().map(|(o, _, _)| o);
        if owner != Some(a) {
            let whose = owner.map_or_else(|| "nobody's".to_string(), |o| format!("{o}'s"));
            self.out.push(
                shown_by(
                    e,
                    Invariant::SingleOwner,
                    format!("{a} resumed chat {c}, which was {whose}"),
                )
                .chat(c.0)
                .agent(a.as_str()),
            );
        }
    }

    pub(super) fn accepted(&mut self, c: ChatId, a: &AgentId, origin: Origin, e: &JournalEntry) {
        let Some(chat) = self.chats.get(&c) else {
            return;
        };
        // R8: the user is told the agent is online, in the same step.
        let joined = match &e.result {
            JournalResult::Ok { deliveries, .. } => deliveries.iter().any(|d| {
                d.to == Recipient::User(chat.user)
                    && matches!(&d.notice, Notice::AgentJoined { chat: j, agent, .. } if *j == c && agent == a)
            }),
            JournalResult::Error { .. } => true,
        };
        if !joined {
            self.out.push(
                shown_by(
                    e,
                    Invariant::MessageOrder,
                    format!(
                        "{a} was given chat {c} but user:{} was never told (agent_joined, R8)",
                        chat.user
                    ),
                )
                .chat(c.0)
                .agent(a.as_str()),
            );
        }
        if let St::Ended(how) = chat.st {
            self.out.push(
                shown_by(
                    e,
                    Invariant::ChatEnd,
                    format!("{a} was given chat {c} after it ended ({how})"),
                )
                .chat(c.0)
                .agent(a.as_str()),
            );
        }
        if let Some((prev, _, since)) = &chat.owner {
            self.out.push(
                shown_by(
                    e,
                    Invariant::SingleOwner,
                    format!(
                        "{a} was given chat {c} while {prev} still owned it (since {since} ms)"
                    ),
                )
                .chat(c.0)
                .agent(prev.as_str())
                .agent(a.as_str()),
            );
        }
        // Taken from its queue (by hand or by auto-accept): only by a member (R3).
        if origin != Origin::Transferred
            && !self
                .agents
                .get(a)
                .is_some_and(|m| m.queues.contains(&chat.queue))
        {
            self.out.push(
                shown_by(
                    e,
                    Invariant::TransferVisibility,
                    format!(
                        "{a} was given chat {c} of queue `{}`, which they do not belong to (R3)",
                        chat.queue
                    ),
                )
                .chat(c.0)
                .agent(a.as_str()),
            );
        }
        if let St::Transferred(to) = &chat.st
            && !self.may_see(a, to)
        {
            self.out.push(
                shown_by(
                    e,
                    Invariant::TransferVisibility,
                    format!(
                        "{a} took chat {c}, transferred to {}, which they may not see",
                        target(to)
                    ),
                )
                .chat(c.0)
                .agent(a.as_str()),
            );
        }
        // Reported above: the chat is the new owner's from now on, so that the one
        // fault is not reported again as the old owner's capacity.
        if let Some((prev, _, _)) = &chat.owner
            && prev != a
            && let Some(m) = self.agents.get_mut(prev)
        {
            m.open.remove(&c);
        }
        let chat = self.chats.get_mut(&c).expect("checked above");
        unqueue(&mut self.queued, chat, c);
        chat.transferred_by = None;
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
                shown_by(
                    e,
                    Invariant::Capacity,
                    format!(
                        "{a} was auto-assigned a chat that makes {open} open ({autos} \
                         auto-assigned) but is Available for {n}"
                    ),
                )
                .chat(c.0)
                .agent(a.as_str()),
            );
        }
        if origin == Origin::Transferred
            && auto_on
            && transfers > usize::from(self.max_transfer_accepts)
        {
            self.out.push(
                shown_by(
                    e,
                    Invariant::Capacity,
                    format!(
                        "{a} holds {transfers} chats accepted from Transferred under auto-accept (limit {})",
                        self.max_transfer_accepts
                    ),
                )
                .chat(c.0)
                .agent(a.as_str()),
            );
        }
    }

    /// R8: the history handed over equals the transcript; a transferred chat carries
    /// the last transfer's notes.
    pub(super) fn check_view(
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
                shown_by(
                    e,
                    Invariant::Transcript,
                    format!(
                        "{a} got a history of {} entries but the transcript holds {}",
                        given.len(),
                        chat.transcript.len()
                    ),
                )
                .chat(c.0)
                .agent(a.as_str()),
            );
        }
        if let Some(n) = &chat.last_notes
            && !notes.iter().any(|x| &x.notes == n)
        {
            self.out.push(
                shown_by(
                    e,
                    Invariant::TransferNotes,
                    format!("{a} accepted transferred chat {c} without the notes {n:?}"),
                )
                .chat(c.0)
                .agent(a.as_str()),
            );
        }
    }

    pub(super) fn release(&mut self, c: ChatId) {
        if let Some(chat) = self.chats.get_mut(&c)
            && let Some((a, _, _)) = chat.owner.take()
            && let Some(m) = self.agents.get_mut(&a)
        {
            m.open.remove(&c);
        }
    }

    pub(super) fn end(&mut self, c: ChatId, how: &'static str, e: &JournalEntry) {
        let Some(chat) = self.chats.get(&c) else {
            return;
        };
        if let (St::Ended(first), Some(at)) = (&chat.st, chat.ended_seq) {
            self.out.push(
                shown_by(
                    e,
                    Invariant::ChatEnd,
                    format!("chat {c} ended twice: {first} at journal#{at}, then {how}"),
                )
                .chat(c.0),
            );
            return;
        }
        let told = chat.told_if_ended().cloned();
        self.release(c);
        let chat = self.chats.get_mut(&c).expect("checked above");
        unqueue(&mut self.queued, chat, c);
        chat.told_of_end = told;
        chat.st = St::Ended(how);
        chat.ended_seq = Some(e.seq);
        if how == "abandoned" {
            self.facts.abandoned += 1;
        }
        self.facts.closed += 1;
    }
}
