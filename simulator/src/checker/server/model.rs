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
    /// Agents a transfer of it was addressed to (told when its user ends it).
    pub(super) offered: Vec<AgentId>,
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

    /// The first chat of `q`'s line that `may` allows.
    pub(super) fn first(&self, q: &QueueId, may: impl FnMut(&&ChatId) -> bool) -> Option<ChatId> {
        self.0.get(q)?.iter().find(may).copied()
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
