//! Agents: sign-in and out, availability (R2), the three lists (R3–R5) and what a
//! dropped connection does (grace period, then back to the queue).

use super::Desk;
use crate::domain::agent::{Agent, Availability};
use crate::domain::chat::{ChatState, TransferTarget};
use crate::domain::config::MAX_AVAILABLE_FOR;
use crate::domain::error::DeskError;
use crate::domain::ids::{AgentId, ChatId, QueueId};
use crate::domain::outcome::{
    AgentStatus, ChatSummary, Delivery, LeftReason, Notice, Recipient, Reply,
};
use crate::domain::time::Time;

impl Desk {
    pub(super) fn sign_in(
        &mut self,
        a: &AgentId,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let agent = self.chat_agent(a)?;
        let grace = self.config.disconnect.agent_grace;
        match agent.disconnected_at {
            Some(at) if now < at.plus(grace) => {
                // Back in time: resume the held chats, each as it stands, so that the
                // messages written to the agent while it was away reach it (R10).
                self.grace.remove(&(at.plus(grace), a.clone()));
                if let Some(agent) = self.agents.get_mut(a) {
                    agent.disconnected_at = None;
                }
                self.resume_chats(a, out);
            }
            Some(at) => {
                // Too late: what they held goes back (their users are told), and the
                // agent, online again, is told which transfers to them were withdrawn.
                self.grace.remove(&(at.plus(grace), a.clone()));
                self.release_agent(a, true, out);
                self.fresh_sign_in(a, now);
            }
            None if agent.signed_in => {}
            None => self.fresh_sign_in(a, now),
        }
        // Transfers withdrawn while the agent was away (its grace period ran out), of
        // chats still waiting in the queue they went to: one taken, ended or sent on
        // since is no news, and where it waits now is not this agent's to see (R5).
        let withdrawn = self
            .agents
            .get_mut(a)
            .map(|agent| std::mem::take(&mut agent.withdrawn))
            .unwrap_or_default();
        let still_in = |c: &ChatId, q: &QueueId| {
            self.chats.get(c).is_some_and(|chat| {
                matches!(
                    &chat.state,
                    ChatState::Transferred { to: TransferTarget::Queue(now_in), .. } if now_in == q
                )
            })
        };
        out.extend(
            withdrawn
                .into_iter()
                .filter(|(c, q)| still_in(c, q))
                .map(|(chat, q)| Delivery {
                    to: Recipient::Agent(a.clone()),
                    notice: Notice::TransferWithdrawn {
                        chat,
                        to: TransferTarget::Queue(q),
                    },
                }),
        );
        // Chats its users ended while the agent was away: their `chat_ended` went to the
        // dropped connection.
        let ended = self
            .agents
            .get_mut(a)
            .map(|agent| std::mem::take(&mut agent.ended_while_away))
            .unwrap_or_default();
        out.extend(ended.into_iter().map(|(chat, state)| Delivery {
            to: Recipient::Agent(a.clone()),
            notice: Notice::ChatEnded { chat, state },
        }));
        self.refresh_agent(a);
        Ok(Reply::Status(self.status(a)))
    }

    /// The full view of every chat agent `a` holds, one `resumed` notice each.
    fn resume_chats(&self, a: &AgentId, out: &mut Vec<Delivery>) {
        let held = self.agents[a]
            .chats
            .iter()
            .filter_map(|&c| match &self.chats.get(&c)?.state {
                ChatState::Active { origin, .. } => Some((c, *origin)),
                _ => None,
            });
        out.extend(held.map(|(c, origin)| Delivery {
            to: Recipient::Agent(a.clone()),
            notice: Notice::Resumed(Box::new(self.accepted_view(c, origin))),
        }));
    }

    fn fresh_sign_in(&mut self, a: &AgentId, now: Time) {
        self.sign_ins += 1;
        let seq = self.sign_ins;
        let default_n = self.config.routing.default_available_for;
        let auto = self.config.routing.auto_accept;
        if let Some(agent) = self.agents.get_mut(a) {
            agent.signed_in = true;
            agent.disconnected_at = None;
            agent.signed_in_at = now;
            agent.sign_in_seq = seq;
            // R2: available by default on sign-in; under auto-accept for the default N.
            agent.available_for = default_n;
            agent.available = !auto || default_n > 0;
        }
    }

    pub(super) fn sign_out(
        &mut self,
        a: &AgentId,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let open = self.agents.get(a).map_or(0, |ag| ag.chats.len());
        if open > 0 {
            return Err(DeskError::ChatsOpen(a.clone(), open));
        }
        self.release_agent(a, true, out);
        Ok(Reply::Done)
    }

    pub(super) fn set_availability(
        &mut self,
        a: &AgentId,
        availability: Availability,
    ) -> Result<Reply, DeskError> {
        let auto = self.config.routing.auto_accept;
        let (available, n) = match (auto, availability) {
            (_, Availability::Unavailable) => (false, None),
            (false, Availability::Available) => (true, None),
            (true, Availability::AvailableFor(n)) if n <= MAX_AVAILABLE_FOR => (n > 0, Some(n)),
            (true, Availability::AvailableFor(n)) => {
                return Err(DeskError::InvalidAvailability(format!(
                    "Available for {n}: N must be 0..={MAX_AVAILABLE_FOR}"
                )));
            }
            (true, Availability::Available) => {
                return Err(DeskError::InvalidAvailability(format!(
                    "Agent Auto Accept is on: declare `available_for` N (0..={MAX_AVAILABLE_FOR}) instead of `available`"
                )));
            }
            (false, Availability::AvailableFor(_)) => {
                return Err(DeskError::InvalidAvailability(
                    "Agent Auto Accept is off: declare `available` or `unavailable`".into(),
                ));
            }
        };
        if let Some(agent) = self.agents.get_mut(a) {
            agent.available = available;
            if let Some(n) = n {
                agent.available_for = n;
            }
        }
        self.refresh_agent(a);
        Ok(Reply::Status(self.status(a)))
    }

    pub(super) fn status(&self, a: &AgentId) -> AgentStatus {
        let agent = &self.agents[a];
        let (queue_count, transferred_count) = self.visible_counts(agent);
        let auto = self.config.routing.auto_accept;
        let availability = match (auto, agent.available) {
            (true, true) => Availability::AvailableFor(agent.available_for),
            (true, false) => Availability::AvailableFor(0),
            (false, true) => Availability::Available,
            (false, false) => Availability::Unavailable,
        };
        AgentStatus {
            agent: a.clone(),
            name: agent.profile.name.clone(),
            queues: agent.profile.queues.clone(),
            availability,
            auto_accept: auto,
            my_chats: agent.chats.iter().copied().collect(),
            queue_count,
            transferred_count,
        }
    }

    /// How many chats [`Desk::visible_queued`] and [`Desk::visible_transfers`] list,
    /// from the queues' running counts: a status costs the agent's queues, not a scan
    /// of everything waiting in them.
    fn visible_counts(&self, agent: &Agent) -> (usize, usize) {
        if crate::planted::active(crate::planted::Bug::LeakTransfers) {
            return (
                self.visible_queued(agent).count(),
                self.visible_transfers(agent).count(),
            );
        }
        let (queued, transferred) = agent
            .profile
            .queues
            .iter()
            .filter_map(|q| self.queues.get(q))
            .fold((0, 0), |(q, t), s| (q + s.queued, t + s.transferred));
        let counts = (queued, transferred + agent.transfers.len());
        debug_assert_eq!(
            counts,
            (
                self.visible_queued(agent).count(),
                self.visible_transfers(agent).count()
            ),
            "running queue counts disagree with the waiting chats"
        );
        counts
    }

    /// The chats waiting in the agent's queues whose state matches, by wait key.
    fn waiting_in(&self, agent: &Agent, keep: impl Fn(&ChatState) -> bool) -> Vec<(Time, ChatId)> {
        agent
            .profile
            .queues
            .iter()
            .filter_map(|q| self.queues.get(q))
            .flat_map(|qs| qs.waiting.iter().copied())
            .filter(|(_, c)| keep(&self.chats[c].state))
            .collect()
    }

    /// R3: queued chats of the agent's queues, oldest first.
    fn visible_queued<'a>(&'a self, agent: &'a Agent) -> impl Iterator<Item = ChatId> + 'a {
        let mut ids = self.waiting_in(agent, |s| matches!(s, ChatState::Queued));
        ids.sort_unstable();
        ids.into_iter().map(|(_, c)| c)
    }

    /// R5: transfers addressed to the agent or to one of their queues, oldest first.
    fn visible_transfers<'a>(&'a self, agent: &'a Agent) -> impl Iterator<Item = ChatId> + 'a {
        let mut ids = self.waiting_in(agent, |s| matches!(s, ChatState::Transferred { .. }));
        ids.extend(
            agent
                .transfers
                .iter()
                .map(|c| (self.chats[c].waiting_since, *c)),
        );
        if crate::planted::active(crate::planted::Bug::LeakTransfers) {
            // A planted bug (test builds only): every queue's transfers show.
            ids.extend(
                self.queues
                    .values()
                    .flat_map(|qs| qs.waiting.iter().copied())
                    .filter(|(_, c)| matches!(self.chats[c].state, ChatState::Transferred { .. })),
            );
            ids.sort_unstable();
            ids.dedup();
        }
        ids.sort_unstable();
        ids.into_iter().map(|(_, c)| c)
    }

    fn summaries(&self, ids: impl Iterator<Item = ChatId>) -> Reply {
        let chats = ids
            .map(|c| {
                let chat = &self.chats[&c];
                ChatSummary {
                    chat: c,
                    queue: chat.queue.clone(),
                    subject: chat.subject.clone(),
                    source: chat.source,
                    state: chat.state.clone(),
                    waiting_since: chat.waiting_since,
                }
            })
            .collect();
        Reply::Chats { chats }
    }

    pub(super) fn list_queue(&self, a: &AgentId) -> Reply {
        let agent = &self.agents[a];
        self.summaries(self.visible_queued(agent))
    }

    pub(super) fn list_transferred(&self, a: &AgentId) -> Reply {
        let agent = &self.agents[a];
        self.summaries(self.visible_transfers(agent))
    }

    pub(super) fn list_my_chats(&self, a: &AgentId) -> Reply {
        let agent = &self.agents[a];
        self.summaries(agent.chats.iter().copied())
    }

    /// The agent's connection dropped: hold their chats for the grace period.
    pub(super) fn agent_disconnect(
        &mut self,
        a: &AgentId,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let agent = self
            .agents
            .get(a)
            .ok_or_else(|| DeskError::UnknownAgent(a.clone()))?;
        if !agent.signed_in || agent.disconnected_at.is_some() {
            return Ok(Reply::Done);
        }
        let holds = !agent.chats.is_empty() || !agent.transfers.is_empty();
        let grace = self.config.disconnect.agent_grace;
        if holds && !grace.is_zero() {
            if let Some(agent) = self.agents.get_mut(a) {
                agent.disconnected_at = Some(now);
            }
            self.grace.insert((now.plus(grace), a.clone()));
            self.refresh_agent(a);
        } else {
            self.release_agent(a, false, out);
        }
        Ok(Reply::Done)
    }

    /// Grace periods that ran out by `now`: their agents' chats go back to the queue.
    pub(super) fn expire_grace(&mut self, now: Time, out: &mut Vec<Delivery>) {
        while let Some((deadline, a)) = self.grace.first().cloned() {
            if deadline > now {
                break;
            }
            self.grace.pop_first();
            self.release_agent(&a, false, out);
        }
    }

    /// Signs the agent out, sending their open chats back to the front of their queue
    /// (keeping their age) and their personal transfers to the chat's queue. The agent
    /// is told of each transfer that went to the queue instead (`transfer_withdrawn`):
    /// at once when `online` (a sign-out, or a sign-in after the grace period), else
    /// (the grace period of a dropped connection ran out) at its next sign-in.
    fn release_agent(&mut self, a: &AgentId, online: bool, out: &mut Vec<Delivery>) {
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        let chats = std::mem::take(&mut agent.chats);
        let transfers = std::mem::take(&mut agent.transfers);
        agent.transfer_accepts = 0;
        agent.signed_in = false;
        agent.disconnected_at = None;
        agent.available = false;
        for c in chats {
            if crate::planted::active(crate::planted::Bug::LoseOnDisconnect) {
                // A planted bug (test builds only): the chat is forgotten.
                continue;
            }
            let chat = self.chats.get_mut(&c).expect("an agent's chat exists");
            chat.state = ChatState::Queued;
            chat.waiting_since = chat.requested_at;
            let (user, q, since) = (chat.user, chat.queue.clone(), chat.waiting_since);
            self.enqueue(&q, since, c, true);
            out.push(Delivery {
                to: Recipient::User(user),
                notice: Notice::AgentLeft {
                    chat: c,
                    agent: a.clone(),
                    reason: LeftReason::AgentGone,
                },
            });
        }
        for c in transfers {
            let chat = self.chats.get_mut(&c).expect("a transfer's chat exists");
            let ChatState::Transferred { from, .. } = chat.state.clone() else {
                continue;
            };
            let q = chat.queue.clone();
            chat.state = ChatState::Transferred {
                from,
                to: TransferTarget::Queue(q.clone()),
            };
            let since = chat.waiting_since;
            self.enqueue(&q, since, c, false);
            if online {
                out.push(Delivery {
                    to: Recipient::Agent(a.clone()),
                    notice: Notice::TransferWithdrawn {
                        chat: c,
                        to: TransferTarget::Queue(q),
                    },
                });
            } else if let Some(agent) = self.agents.get_mut(a) {
                agent.withdrawn.push((c, q));
            }
        }
        self.refresh_agent(a);
    }
}
