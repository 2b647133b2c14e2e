//! What a chat holds and who hears it: the transcript (R10), the articles shared and
//! the ticket made from it (R11–R14), and every notice the Desk sent, held to the
//! replay (to whom, in what order, about which chat).

use super::model::St;
use super::{Replay, rcpt, shown_by};
use crate::checker::violation::Invariant;
use switchboard_server::domain::{
    ChatId, ChatState, Command, Entry, EntryBody, LeftReason, Notice, Origin, Party, Principal,
    Recipient, Ticket, TicketStatus, TransferTarget, render_transcript,
};
use switchboard_server::protocol::JournalEntry;

impl Replay<'_> {
    pub(super) fn appended(
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
                shown_by(
                    e,
                    Invariant::ChatEnd,
                    format!("a message entered chat {c} after it ended ({how})"),
                )
                .chat(c.0),
            );
        }
        let expected = chat.transcript.len() as u64 + 1;
        if seq != expected {
            self.out.push(
                shown_by(
                    e,
                    Invariant::Transcript,
                    format!("transcript position {seq} given where {expected} was next"),
                )
                .chat(c.0),
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

    pub(super) fn ticket(&mut self, t: &Ticket, e: &JournalEntry) {
        let c = t.chat;
        let Some(chat) = self.chats.get_mut(&c) else {
            return;
        };
        match chat.ticket {
            Some(id) if id != t.id => {
                self.out.push(
                    shown_by(
                        e,
                        Invariant::Ticket,
                        format!("chat {c} got a second ticket {} (R14)", t.number),
                    )
                    .chat(c.0)
                    .agent(t.agent.as_str()),
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
                    shown_by(
                        e,
                        Invariant::Ticket,
                        format!("ticket {} description does not hold the transcript as it stood at creation", t.number),
                    )
                    .chat(c.0)
                    .agent(t.agent.as_str()),
                );
            }
        }
        for art in &chat.shared {
            if !t.activity.iter().any(|x| x.text.contains(art.as_str())) {
                self.out.push(
                    shown_by(
                        e,
                        Invariant::Ticket,
                        format!("article {art} shared in chat {c} is missing from the activity log of {} (R11)", t.number),
                    )
                    .chat(c.0),
                );
            }
        }
    }

    /// A notice about a chat that went to someone the chat is none of the business of:
    /// `agent_joined` and `agent_left` are the user's; `ticket_created` the user's and
    /// its agents'; `chat_ended` the user's and the one agent it was with or was
    /// transferred to when it ended; `transfer_offered` only the addressee's (R5), and
    /// `transfer_withdrawn` only an agent a transfer of it was addressed to.
    fn outsider(&mut self, to: &Recipient, n: &Notice, e: &JournalEntry) {
        let (chat, kind) = match n {
            Notice::AgentJoined { chat, .. } => (*chat, "agent_joined"),
            Notice::AgentLeft { chat, .. } => (*chat, "agent_left"),
            Notice::TicketCreated { chat, .. } => (*chat, "ticket_created"),
            Notice::ChatEnded { chat, .. } => (*chat, "chat_ended"),
            Notice::TransferOffered { chat, .. } => (*chat, "transfer_offered"),
            Notice::TransferWithdrawn { chat, .. } => (*chat, "transfer_withdrawn"),
            _ => return,
        };
        let Some(c) = self.chats.get_mut(&chat) else {
            return;
        };
        let user = matches!(to, Recipient::User(u) if *u == c.user);
        let held = matches!(to, Recipient::Agent(a) if c.owners.contains(a));
        let offered = matches!(to, Recipient::Agent(a) if c.offered.contains(a));
        let (fits, whose, invariant) = match n {
            Notice::AgentJoined { .. } | Notice::AgentLeft { .. } => {
                (user, "its user", Invariant::MessageOrder)
            }
            Notice::TicketCreated { .. } => (
                user || held,
                "its user or an agent who held it",
                Invariant::MessageOrder,
            ),
            Notice::ChatEnded { .. } => {
                // Ended in this step or before (then told again at a sign-in), or
                // ending with this very notice.
                let told = match c.st {
                    St::Ended(_) => c.told_of_end.as_ref(),
                    _ => c.told_if_ended(),
                };
                let due = matches!(to, Recipient::Agent(a) if told == Some(a));
                (
                    user || due,
                    "its user, or the agent it was with or was transferred to when it ended",
                    Invariant::MessageOrder,
                )
            }
            Notice::TransferWithdrawn { .. } => (
                offered,
                "an agent a transfer of it was addressed to",
                Invariant::TransferVisibility,
            ),
            _ => {
                let addressed = match (&e.command, to) {
                    (
                        Command::Transfer {
                            chat: moved,
                            to: TransferTarget::Agent(t),
                            ..
                        },
                        Recipient::Agent(r),
                    ) => *moved == chat && t == r,
                    _ => false,
                };
                if let (true, Recipient::Agent(r)) = (addressed, to) {
                    c.offered.push(r.clone());
                }
                (
                    addressed,
                    "the agent the transfer is addressed to (R5)",
                    Invariant::TransferVisibility,
                )
            }
        };
        if !fits {
            self.out.push(
                shown_by(
                    e,
                    invariant,
                    format!("{kind} of chat {chat} went to {}, not {whose}", rcpt(to)),
                )
                .chat(chat.0),
            );
        }
    }

    pub(super) fn delivery(&mut self, to: &Recipient, n: &Notice, e: &JournalEntry) {
        self.outsider(to, n, e);
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
                    self.queued.join(&c.queue, *chat);
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
                // Ended by this very step: by its command (a close, whose end, or second
                // end, is already handled) or by an earlier notice of it.
                let closed_here = matches!(&e.command, Command::Close { chat: c } if c == chat);
                // Or told again, at an agent's sign-in, of a chat whose users ended it
                // while the agent's connection was down (the first went to the dropped
                // connection): a chat that had already ended, and that the agent had.
                let told_again = matches!(e.command, Command::SignIn)
                    && matches!((&e.principal, to), (Principal::Agent(p), Recipient::Agent(r)) if p == r)
                    && self.chats.get(chat).is_some_and(|c| {
                        c.ended_seq.is_some_and(|s| s < e.seq)
                            && matches!(to, Recipient::Agent(r) if c.owners.contains(r) || c.transferred_by.is_some())
                    });
                let already = closed_here
                    || told_again
                    || self
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
                // The other side, and only it: the owner for the user's entries, the
                // user for the agent's (R10).
                let due = self.undelivered.remove(&(*chat, entry.seq));
                let meant = due.map(|(want, _)| want).or_else(|| {
                    let c = self.chats.get(chat)?;
                    Some(match (&entry.from, &c.owner) {
                        (Party::User, Some((a, _, _))) => format!("agent:{a}"),
                        (Party::User, None) => "nobody (no agent holds the chat)".to_string(),
                        (Party::Agent(_), _) => format!("user:{}", c.user),
                    })
                });
                if let Some(meant) = meant.filter(|m| *m != r) {
                    self.out.push(
                        shown_by(
                            e,
                            Invariant::MessageOrder,
                            format!(
                                "message {} of chat {chat} went to {r}, not to {meant}",
                                entry.seq
                            ),
                        )
                        .chat(chat.0),
                    );
                }
                let mut altered = None;
                if let Some(c) = self.chats.get_mut(chat) {
                    let idx = usize::try_from(entry.seq.saturating_sub(1)).unwrap_or(usize::MAX);
                    match c.transcript.get_mut(idx) {
                        Some(slot @ None) => *slot = Some(entry.clone()),
                        Some(Some(kept)) if kept.from != entry.from || kept.body != entry.body => {
                            altered = Some(format!(
                                "message {} of chat {chat} reached {r} as {:?}, but was \
                                 written as {:?}",
                                entry.seq,
                                entry.to_string(),
                                kept.to_string()
                            ));
                        }
                        _ => {}
                    }
                }
                if let Some(altered) = altered {
                    self.out
                        .push(shown_by(e, Invariant::Transcript, altered).chat(chat.0));
                }
                if let Some((prev, at)) = self.last_msg.get(&(r.clone(), *chat)).copied()
                    && entry.seq <= prev
                {
                    self.out.push(
                        shown_by(
                            e,
                            Invariant::MessageOrder,
                            format!("{r} was sent message {} of chat {chat} after message {prev} (journal#{at})", entry.seq),
                        )
                        .chat(chat.0),
                    );
                }
                let top = self.last_msg.get(&(r.clone(), *chat)).map_or(0, |x| x.0);
                self.last_msg
                    .insert((r, *chat), (entry.seq.max(top), e.seq));
            }
            _ => {}
        }
    }
}
