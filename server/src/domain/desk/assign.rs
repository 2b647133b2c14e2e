//! Giving chats to agents: the bookkeeping of waiting lines and pools, taking a chat
//! (by hand or by auto-accept), releasing it, and pushing queue counts.

use super::{Desk, QueueState};
use crate::domain::agent::Origin;
use crate::domain::chat::{ChatState, TransferTarget};
use crate::domain::ids::{AgentId, ChatId, QueueId};
use crate::domain::outcome::{AcceptedChat, Delivery, Notice, Recipient, Resources};
use crate::domain::routing::Load;
use crate::domain::time::Time;
use std::collections::BTreeSet;

/// How many articles and templates a chat's Resources tab suggests.
const SUGGESTIONS: usize = 5;

impl Desk {
    /// Puts a chat in its queue's waiting line.
    pub(super) fn enqueue(&mut self, q: &QueueId, since: Time, c: ChatId, queued: bool) {
        let qs = self.queues.get_mut(q).expect("a chat's queue exists");
        qs.waiting.insert((since, c));
        if queued {
            qs.queued += 1;
        } else {
            qs.transferred += 1;
        }
        self.counts_changed.insert(q.clone());
        self.to_route.insert(q.clone());
    }

    /// Takes a chat out of wherever it waits (queue line or an agent's transfers).
    pub(super) fn unwait(&mut self, c: ChatId) {
        let chat = &self.chats[&c];
        let key = (chat.waiting_since, c);
        match &chat.state {
            ChatState::Queued => {
                let q = chat.queue.clone();
                let qs = self.queues.get_mut(&q).expect("a chat's queue exists");
                if qs.waiting.remove(&key) {
                    qs.queued -= 1;
                }
                self.counts_changed.insert(q);
            }
            ChatState::Transferred {
                to: TransferTarget::Queue(q),
                ..
            } => {
                let q = q.clone();
                let qs = self.queues.get_mut(&q).expect("a transfer's queue exists");
                if qs.waiting.remove(&key) {
                    qs.transferred -= 1;
                }
                self.counts_changed.insert(q);
            }
            ChatState::Transferred {
                to: TransferTarget::Agent(t),
                ..
            } => {
                let t = t.clone();
                if let Some(agent) = self.agents.get_mut(&t) {
                    agent.transfers.remove(&c);
                }
            }
            _ => {}
        }
    }

    /// Gives chat `c` to agent `a`. The caller has checked that it may.
    pub(super) fn take(
        &mut self,
        a: &AgentId,
        c: ChatId,
        origin: Origin,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> AcceptedChat {
        self.unwait(c);
        let chat = self.chats.get_mut(&c).expect("taken chat exists");
        chat.state = ChatState::Active {
            agent: a.clone(),
            origin,
        };
        chat.agents.push(a.clone());
        let user = chat.user;
        let agent = self.agents.get_mut(a).expect("taking agent exists");
        agent.chats.insert(c);
        if origin == Origin::Transferred {
            agent.transfer_accepts = agent.transfer_accepts.saturating_add(1);
        }
        agent.last_assigned = Some(now);
        agent.chats_handled += 1;
        let name = agent.profile.name.clone();
        self.refresh_agent(a);
        // R8: the user is told the agent is online.
        out.push(Delivery {
            to: Recipient::User(user),
            notice: Notice::AgentJoined {
                chat: c,
                agent: a.clone(),
                name,
            },
        });
        self.accepted_view(c, origin)
    }

    /// Takes chat `c` away from its owner `a` (closed or transferred).
    pub(super) fn release(&mut self, a: &AgentId, c: ChatId, origin: Origin) {
        if let Some(agent) = self.agents.get_mut(a) {
            agent.chats.remove(&c);
            if origin == Origin::Transferred {
                agent.transfer_accepts = agent.transfer_accepts.saturating_sub(1);
            }
        }
        self.refresh_agent(a);
    }

    /// What an agent sees on taking a chat: history, notes, customer, resources.
    pub(super) fn accepted_view(&self, c: ChatId, origin: Origin) -> AcceptedChat {
        let chat = &self.chats[&c];
        let lib = &self.library;
        AcceptedChat {
            chat: c,
            queue: chat.queue.clone(),
            subject: chat.subject.clone(),
            source: chat.source,
            user: chat.user,
            origin,
            requested_at: chat.requested_at,
            history: chat.transcript.to_vec(),
            notes: chat.notes.clone(),
            customer: chat
                .customer
                .as_ref()
                .and_then(|id| lib.customers.get(id))
                .cloned(),
            resources: Resources {
                outages: lib.outages.clone(),
                templates: lib
                    .suggest_templates(&chat.subject, SUGGESTIONS)
                    .into_iter()
                    .map(Into::into)
                    .collect(),
                articles: lib
                    .suggest_articles(&chat.subject, SUGGESTIONS)
                    .into_iter()
                    .map(Into::into)
                    .collect(),
                ticket: chat.ticket.and_then(|t| self.tickets.get(&t)).cloned(),
            },
        }
    }

    /// Puts the agent in, or takes it out of, the pools of its queues, as its load and
    /// availability now say.
    pub(super) fn refresh_agent(&mut self, a: &AgentId) {
        if !self.config.routing.routes_automatically() {
            return;
        }
        let Some(agent) = self.agents.get(a) else {
            return;
        };
        let free = agent.free_slots();
        let load = Load {
            agent: a.clone(),
            open: agent.open(),
            free,
            // Idle since this sign-in's last assignment: time signed out is not idle.
            idle_since: agent
                .last_assigned
                .map_or(agent.signed_in_at, |t| t.max(agent.signed_in_at)),
            sign_in_seq: agent.sign_in_seq,
        };
        for q in &agent.profile.queues {
            let Some(qs) = self.queues.get_mut(q) else {
                continue;
            };
            let Some(pool) = qs.pool.as_mut() else {
                continue;
            };
            if free > 0 {
                pool.upsert(&load);
                self.to_route.insert(q.clone());
            } else {
                pool.remove(a);
            }
        }
    }

    /// Auto-accept (R6): while a waiting chat and an eligible agent meet, assign the
    /// oldest waiting chat of the queues that changed.
    pub(super) fn route(&mut self, now: Time, out: &mut Vec<Delivery>) {
        if !self.config.routing.routes_automatically() {
            self.to_route.clear();
            return;
        }
        loop {
            // The oldest chat an agent could take now, over the queues that changed.
            let oldest = self
                .to_route
                .iter()
                .filter_map(|q| self.first_routable(q).map(|(key, ex)| (key, q.clone(), ex)))
                .min_by(|a, b| a.0.cmp(&b.0));
            let Some(((_, c), q, exclude)) = oldest else {
                break;
            };
            let picked = {
                let pool = self.queues.get_mut(&q).and_then(|qs| qs.pool.as_mut());
                pool.and_then(|p| p.pick(exclude.as_ref(), &mut self.rng))
            };
            match picked {
                Some(a) => {
                    let view = self.take(&a, c, Origin::Auto, now, out);
                    out.push(Delivery {
                        to: Recipient::Agent(a),
                        notice: Notice::Assigned(Box::new(view)),
                    });
                }
                None => {
                    self.to_route.remove(&q);
                }
            }
        }
        self.to_route.clear();
    }

    /// The first waiting chat of `q` that an agent of its pool could take now, and the
    /// agent it must not go to (the one who transferred it). A transfer only its own
    /// transferrer could take is passed over: a later chat may still go to them.
    fn first_routable(&self, q: &QueueId) -> Option<((Time, ChatId), Option<AgentId>)> {
        let qs = self.queues.get(q)?;
        let pool = qs.pool.as_ref().filter(|p| !p.is_empty())?;
        let route_transfers = self.config.routing.route_queue_transfers;
        qs.waiting
            .iter()
            .find_map(|key| match &self.chats[&key.1].state {
                ChatState::Queued => Some((*key, None)),
                ChatState::Transferred { from, .. }
                    if route_transfers && (pool.len() > 1 || !pool.contains(from)) =>
                {
                    Some((*key, Some(from.clone())))
                }
                _ => None,
            })
    }

    /// Tells the members of every queue whose counts changed.
    pub(super) fn push_counts(&mut self, out: &mut Vec<Delivery>) {
        for q in std::mem::take(&mut self.counts_changed) {
            let qs = &self.queues[&q];
            out.push(Delivery {
                to: Recipient::QueueMembers(q.clone()),
                notice: Notice::QueueChanged {
                    queue: q.clone(),
                    queued: qs.queued,
                    transferred: qs.transferred,
                },
            });
        }
    }

    /// A new, empty queue state.
    pub(super) fn new_queue_state(&self) -> QueueState {
        QueueState {
            members: BTreeSet::new(),
            waiting: BTreeSet::new(),
            queued: 0,
            transferred: 0,
            pool: if self.config.routing.routes_automatically() {
                crate::domain::routing::new_pool(self.config.routing.policy)
            } else {
                None
            },
        }
    }
}
