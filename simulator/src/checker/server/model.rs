//! The replay's model of a chat and of an agent, as far as the journal shows them.

use std::collections::{BTreeMap, BTreeSet};
use switchboard_server::domain::{
    AgentId, ArticleId, Availability, ChatId, Entry, Origin, QueueId, TicketId, TransferTarget,
    UserId,
};

/// Where a chat stands in the replay.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum St {
    Queued,
    Active,
    Transferred(TransferTarget),
    Ended(&'static str),
}

impl ChatM {
    /// The agent its end is told to, as it stands: the one it is with, or the one a
    /// transfer of it is addressed to.
    pub(super) fn told_if_ended(&self) -> Option<&AgentId> {
        match (&self.owner, &self.st) {
            (Some((a, _, _)), _) => Some(a),
            (None, St::Transferred(TransferTarget::Agent(t))) => Some(t),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(super) struct ChatM {
    pub(super) user: UserId,
    pub(super) queue: QueueId,
    pub(super) st: St,
    pub(super) owner: Option<(AgentId, Origin, u64)>,
    /// The transcript as the journal shows it, by seq (index seq-1).
    pub(super) transcript: Vec<Option<Entry>>,
    pub(super) last_notes: Option<String>,
    pub(super) ticket: Option<TicketId>,
    pub(super) shared: Vec<ArticleId>,
    pub(super) ended_seq: Option<u64>,
    pub(super) owners: Vec<AgentId>,
    /// Agents a transfer of it was addressed to (a withdrawn transfer is told to its
    /// addressee).
    pub(super) offered: Vec<AgentId>,
    /// The agent told when it ended: the one it was with, or the one a transfer of it
    /// was addressed to (told again at their next sign-in if they were away).
    pub(super) told_of_end: Option<AgentId>,
    /// Who transferred it, while it waits for its next agent: routing never gives a
    /// chat back to its transferrer.
    pub(super) transferred_by: Option<AgentId>,
}

/// The chats waiting in each queue's line for an agent, by queue (no empty sets): what
/// the work-conserving check looks at after every entry, without scanning every chat.
#[derive(Debug, Default)]
pub(super) struct Lines(BTreeMap<QueueId, BTreeSet<ChatId>>);

impl Lines {
    /// Chat `id` waits in `q`'s line.
    pub(super) fn join(&mut self, q: &QueueId, id: ChatId) {
        self.0.entry(q.clone()).or_default().insert(id);
    }

    /// Chat `id` no longer waits in `q`'s line.
    pub(super) fn leave(&mut self, q: &QueueId, id: ChatId) {
        if let Some(set) = self.0.get_mut(q) {
            set.remove(&id);
            if set.is_empty() {
                self.0.remove(q);
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every chat of `q`'s line, oldest first.
    pub(super) fn all(&self, q: &QueueId) -> impl Iterator<Item = ChatId> + '_ {
        self.0.get(q).into_iter().flatten().copied()
    }
}

#[derive(Debug, Default)]
pub(super) struct AgentM {
    pub(super) queues: Vec<QueueId>,
    pub(super) signed_in: bool,
    pub(super) offline_since: Option<u64>,
    /// Transfers addressed to the agent were retargeted after its grace period (once
    /// per disconnect).
    pub(super) transfers_released: bool,
    pub(super) auto_accept: bool,
    pub(super) availability: Option<Availability>,
    pub(super) open: BTreeMap<ChatId, Origin>,
}

impl AgentM {
    fn online(&self) -> bool {
        self.signed_in && self.offline_since.is_none()
    }

    pub(super) fn n(&self) -> u8 {
        match self.availability {
            Some(Availability::AvailableFor(n)) => n.min(4),
            _ => 0,
        }
    }

    pub(super) fn free_slot(&self) -> bool {
        self.online() && self.auto_accept && usize::from(self.n()) > self.open.len()
    }
}
