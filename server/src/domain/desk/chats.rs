//! Chats: start (R15), accept from Queue and from Transferred (R6–R8), messages (R10),
//! transfer with notes, close and abandon.

use super::Desk;
use crate::domain::agent::Origin;
use crate::domain::chat::{
    Chat, ChatSource, ChatState, Entry, EntryBody, Party, TransferNote, TransferTarget,
};
use crate::domain::config::UserDisconnect;
use crate::domain::error::DeskError;
use crate::domain::ids::{AgentId, ChatId, QueueId, UserId};
use crate::domain::outcome::{Delivery, LeftReason, Notice, Recipient, Reply};
use crate::domain::time::Time;
use crate::domain::transcript::Transcript;
use crate::planted::Bug;
use std::collections::BTreeSet;

impl Desk {
    pub(super) fn start_chat(
        &mut self,
        u: UserId,
        queue: QueueId,
        subject: String,
        source: ChatSource,
        customer: Option<String>,
        now: Time,
    ) -> Result<Reply, DeskError> {
        if !self.queues.contains_key(&queue) {
            return Err(DeskError::UnknownQueue(queue));
        }
        if subject.trim().is_empty() {
            return Err(DeskError::Empty("subject"));
        }
        let id = ChatId(self.next_chat);
        self.next_chat += 1;
        self.open_chats.insert(id);
        self.open_by_user.insert((u, id));
        self.chats.insert(
            id,
            Chat {
                id,
                user: u,
                customer,
                source,
                subject,
                queue: queue.clone(),
                state: ChatState::Queued,
                requested_at: now,
                waiting_since: now,
                transcript: Transcript::new(),
                notes: Vec::new(),
                ticket: None,
                shared: Vec::new(),
                pinned: BTreeSet::new(),
                agents: Vec::new(),
            },
        );
        self.enqueue(&queue, now, id, true);
        let position = self.queues[&queue].queued - 1;
        Ok(Reply::ChatStarted {
            chat: id,
            queue,
            position,
            // Routing runs after the command; `Desk::handle` fills this in.
            assigned: false,
        })
    }

    /// R8: accept from Queue; exactly one agent wins.
    pub(super) fn accept(
        &mut self,
        a: &AgentId,
        c: ChatId,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let chat = self.chat_ref(c)?;
        // R3 (and R5: nothing about others' chats), checked before anything about the
        // chat's state is told.
        self.visible_to(a, chat)?;
        match &chat.state {
            ChatState::Queued => {}
            // A planted bug (test builds only) lets a second agent win.
            ChatState::Active { .. } if crate::planted::active(Bug::DoubleAccept) => {}
            ChatState::Active { agent, .. } => {
                return Err(DeskError::AlreadyAccepted {
                    chat: c,
                    by: agent.clone(),
                });
            }
            ChatState::Transferred { .. } => return Err(DeskError::NotQueued(c)),
            _ => return Err(DeskError::ChatEnded(c)),
        }
        // A chat the agent once held is visible, but only its queue's members take it
        // from the Queue.
        if !self.agents[a].profile.in_queue(&chat.queue) {
            return Err(DeskError::NotVisible {
                chat: c,
                agent: a.clone(),
            });
        }
        let view = self.take(a, c, Origin::Queue, now, out);
        Ok(Reply::Accepted(Box::new(view)))
    }

    /// R5, R6, R8: accept from Transferred.
    pub(super) fn accept_transfer(
        &mut self,
        a: &AgentId,
        c: ChatId,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let chat = self.chat_ref(c)?;
        let agent = &self.agents[a];
        match &chat.state {
            ChatState::Transferred { to, .. } => {
                let visible = match to {
                    TransferTarget::Agent(t) => t == a,
                    TransferTarget::Queue(q) => agent.profile.in_queue(q),
                };
                if !visible && !crate::planted::active(Bug::LeakTransfers) {
                    return Err(DeskError::NotVisible {
                        chat: c,
                        agent: a.clone(),
                    });
                }
            }
            // R5: nothing about a chat outside the agent's queues that they never held.
            _ if !agent.profile.in_queue(&chat.queue) && !chat.agents.contains(a) => {
                return Err(DeskError::NotVisible {
                    chat: c,
                    agent: a.clone(),
                });
            }
            ChatState::Active { agent, .. } => {
                return Err(DeskError::AlreadyAccepted {
                    chat: c,
                    by: agent.clone(),
                });
            }
            ChatState::Queued => return Err(DeskError::NotTransferred(c)),
            _ => return Err(DeskError::ChatEnded(c)),
        }
        let limit = self.config.routing.max_transfer_accepts;
        if self.config.routing.auto_accept && agent.transfer_accepts >= u32::from(limit) {
            return Err(DeskError::TransferLimit(a.clone(), limit));
        }
        let view = self.take(a, c, Origin::Transferred, now, out);
        Ok(Reply::Accepted(Box::new(view)))
    }

    /// R3, R5: whether agent `a` may learn anything about `chat` (its state, its owner,
    /// its transcript): they held it once, or it is addressed to them, or it waits in or
    /// belongs to one of their queues. A transfer addressed to another agent is visible
    /// only to that agent (and to those who held the chat), whichever queue the chat is
    /// in. The HTTP API shows agents the same chats.
    pub fn may_see(&self, a: &AgentId, chat: &Chat) -> bool {
        let in_queue = |q| self.agents.get(a).is_some_and(|ag| ag.profile.in_queue(q));
        chat.agents.contains(a)
            || match &chat.state {
                ChatState::Transferred {
                    to: TransferTarget::Agent(t),
                    ..
                } => t == a,
                ChatState::Transferred {
                    to: TransferTarget::Queue(q),
                    ..
                } => in_queue(q),
                _ => in_queue(&chat.queue),
            }
    }

    /// [`Desk::may_see`], as the error a command gets (`not_visible`).
    pub(super) fn visible_to(&self, a: &AgentId, chat: &Chat) -> Result<(), DeskError> {
        if self.may_see(a, chat) {
            Ok(())
        } else {
            Err(DeskError::NotVisible {
                chat: chat.id,
                agent: a.clone(),
            })
        }
    }

    /// The chat if `a` owns it, else why not (a chat the agent may not see is
    /// `not_visible`, whatever its state: R3, R5).
    pub(super) fn owned(&self, a: &AgentId, c: ChatId) -> Result<&Chat, DeskError> {
        let chat = self.chat_ref(c)?;
        self.visible_to(a, chat)?;
        if chat.state.is_ended() {
            return Err(DeskError::ChatEnded(c));
        }
        if !chat.owned_by(a) {
            return Err(DeskError::NotOwner {
                chat: c,
                agent: a.clone(),
            });
        }
        Ok(chat)
    }

    /// The chat if user `u` started it and it is still open. Another user's chat is
    /// reported as unknown: users see only their own.
    fn users_open_chat(&self, u: UserId, c: ChatId) -> Result<&Chat, DeskError> {
        let chat = match self.chats.get(&c) {
            Some(ch) if ch.user == u => ch,
            Some(_) => return Err(DeskError::UnknownChat(c)),
            None => return Err(self.missing(c)),
        };
        if chat.state.is_ended() {
            return Err(DeskError::ChatEnded(c));
        }
        Ok(chat)
    }

    /// Appends an entry to the transcript and returns it.
    pub(super) fn append(&mut self, c: ChatId, from: Party, body: EntryBody, now: Time) -> Entry {
        let chat = self.chats.get_mut(&c).expect("appended chat exists");
        let entry = Entry {
            seq: chat.transcript.len() as u64 + 1,
            at: now,
            from,
            body,
        };
        chat.transcript.push(entry.clone());
        entry
    }

    /// R10: an agent's message goes to the user.
    pub(super) fn agent_send(
        &mut self,
        a: &AgentId,
        c: ChatId,
        text: String,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        if text.trim().is_empty() {
            return Err(DeskError::Empty("text"));
        }
        let user = self.owned(a, c)?.user;
        let from = Party::Agent(a.clone());
        Ok(self.post(c, from, text, Some(Recipient::User(user)), now, out))
    }

    /// R10: a user's message goes to the owning agent; while the chat waits it is kept
    /// for whoever accepts it.
    pub(super) fn user_send(
        &mut self,
        u: UserId,
        c: ChatId,
        text: String,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        if text.trim().is_empty() {
            return Err(DeskError::Empty("text"));
        }
        let owner = self.users_open_chat(u, c)?.state.owner().cloned();
        Ok(self.post(c, Party::User, text, owner.map(Recipient::Agent), now, out))
    }

    /// Adds a checked message to the transcript and delivers it to the other side, if
    /// someone is there (R10).
    fn post(
        &mut self,
        c: ChatId,
        from: Party,
        text: String,
        to: Option<Recipient>,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Reply {
        let entry = self.append(c, from, EntryBody::Text { text }, now);
        let seq = entry.seq;
        if let Some(to) = to {
            out.push(Delivery {
                to,
                notice: Notice::Message { chat: c, entry },
            });
        }
        Reply::Sent { chat: c, seq }
    }

    /// Hands an owned chat to an agent or a support queue, with notes.
    pub(super) fn transfer(
        &mut self,
        a: &AgentId,
        c: ChatId,
        to: TransferTarget,
        notes: String,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let chat = self.owned(a, c)?;
        let (user, origin) = match &chat.state {
            ChatState::Active { origin, .. } => (chat.user, *origin),
            _ => unreachable!("owned chats are active"),
        };
        match &to {
            TransferTarget::Agent(t) => {
                let target = self
                    .agents
                    .get(t)
                    .ok_or_else(|| DeskError::UnknownAgent(t.clone()))?;
                if t == a {
                    return Err(DeskError::InvalidTransfer(
                        "cannot transfer a chat to yourself".into(),
                    ));
                }
                if !target.profile.may_chat() {
                    return Err(DeskError::InvalidTransfer(format!(
                        "agent `{t}` does not hold the ESChat_Agent permission"
                    )));
                }
                if !target.online() {
                    let why = if target.signed_in {
                        "lost its connection (its chats are held until it is back)"
                    } else {
                        "is not signed in"
                    };
                    return Err(DeskError::InvalidTransfer(format!("agent `{t}` {why}")));
                }
                // R6: under auto-accept an agent whose chats accepted from Transferred,
                // with the transfers already waiting for them, reach the limit could
                // not take it, and nobody else may: it would wait unseen until that
                // agent freed one.
                let limit = self.config.routing.max_transfer_accepts;
                let taken = target.transfer_accepts as usize + target.transfers.len();
                if self.config.routing.auto_accept && taken >= usize::from(limit) {
                    return Err(DeskError::TransferLimit(t.clone(), limit));
                }
            }
            TransferTarget::Queue(q) => {
                if !self.queues.contains_key(q) {
                    return Err(DeskError::UnknownQueue(q.clone()));
                }
            }
        }
        self.release(a, c, origin);
        let chat = self.chats.get_mut(&c).expect("owned chat exists");
        chat.notes.push(TransferNote {
            from: a.clone(),
            to: to.clone(),
            notes: notes.clone(),
            at: now,
        });
        chat.state = ChatState::Transferred {
            from: a.clone(),
            to: to.clone(),
        };
        chat.waiting_since = now;
        match to {
            TransferTarget::Agent(t) => {
                let queue = chat.queue.clone();
                if let Some(target) = self.agents.get_mut(&t) {
                    target.transfers.insert(c);
                }
                out.push(Delivery {
                    to: Recipient::Agent(t),
                    notice: Notice::TransferOffered {
                        chat: c,
                        queue,
                        from: a.clone(),
                        notes,
                    },
                });
            }
            TransferTarget::Queue(q) => {
                chat.queue = q.clone();
                self.enqueue(&q, now, c, false);
            }
        }
        out.push(Delivery {
            to: Recipient::User(user),
            notice: Notice::AgentLeft {
                chat: c,
                agent: a.clone(),
                reason: LeftReason::Transferred,
            },
        });
        Ok(Reply::Done)
    }

    /// The owning agent closes the chat.
    pub(super) fn agent_close(
        &mut self,
        a: &AgentId,
        c: ChatId,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let user = self.owned(a, c)?.user;
        let state = ChatState::Closed {
            by: Party::Agent(a.clone()),
        };
        self.end(c, state.clone());
        out.push(Delivery {
            to: Recipient::User(user),
            notice: Notice::ChatEnded { chat: c, state },
        });
        Ok(Reply::Done)
    }

    /// The user ends the chat: closed if an agent had it, abandoned if not.
    pub(super) fn user_close(
        &mut self,
        u: UserId,
        c: ChatId,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        self.users_open_chat(u, c)?;
        self.user_ends(c, ChatState::Closed { by: Party::User }, out);
        Ok(Reply::Done)
    }

    /// The user's connection dropped: each open chat ends as the config says.
    pub(super) fn user_disconnect(&mut self, u: UserId, out: &mut Vec<Delivery>) -> Reply {
        let open: Vec<ChatId> = self
            .open_by_user
            .range((u, ChatId(0))..=(u, ChatId(u64::MAX)))
            .map(|&(_, c)| c)
            .collect();
        let ending = match self.config.disconnect.user {
            UserDisconnect::Abandon => ChatState::Abandoned,
            UserDisconnect::Close => ChatState::Closed { by: Party::User },
        };
        for c in open {
            self.user_ends(c, ending.clone(), out);
        }
        Reply::Done
    }

    /// Ends an open chat on the user's side. A chat no agent holds is abandoned whatever
    /// `if_active` says; the agent it was with or offered to is told.
    fn user_ends(&mut self, c: ChatId, if_active: ChatState, out: &mut Vec<Delivery>) {
        let tell = match &self.chats[&c].state {
            ChatState::Active { agent, .. } => Some(agent.clone()),
            ChatState::Transferred {
                to: TransferTarget::Agent(t),
                ..
            } => Some(t.clone()),
            _ => None,
        };
        let ending = if self.chats[&c].state.owner().is_some() {
            if_active
        } else {
            ChatState::Abandoned
        };
        self.end(c, ending.clone());
        if let Some(agent) = tell {
            // An agent whose connection is down hears it at its next sign-in too.
            if let Some(away) = self
                .agents
                .get_mut(&agent)
                .filter(|ag| ag.disconnected_at.is_some())
            {
                away.ended_while_away.push((c, ending.clone()));
            }
            out.push(Delivery {
                to: Recipient::Agent(agent),
                notice: Notice::ChatEnded {
                    chat: c,
                    state: ending,
                },
            });
        }
    }

    /// Moves a chat to an end state, freeing whatever held it.
    fn end(&mut self, c: ChatId, ending: ChatState) {
        let state = self.chats[&c].state.clone();
        match &state {
            ChatState::Active { agent, origin } => self.release(agent, c, *origin),
            ChatState::Queued | ChatState::Transferred { .. } => self.unwait(c),
            ChatState::Closed { .. } | ChatState::Abandoned => return,
        }
        self.open_chats.remove(&c);
        self.open_by_user.remove(&(self.chats[&c].user, c));
        *self.ended.entry(ending.name()).or_default() += 1;
        match self.keep_ended {
            Some(0) => {
                self.chats.remove(&c);
            }
            Some(n) => {
                self.chats.get_mut(&c).expect("ended chat exists").state = ending;
                self.ended_kept.push_back(c);
                self.drop_ended_beyond(n);
            }
            None => self.chats.get_mut(&c).expect("ended chat exists").state = ending,
        }
    }
}
