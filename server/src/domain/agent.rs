//! Support agents: who they are (profile), and what the Desk tracks about them.

use super::chat::ChatState;
use super::config::MAX_AVAILABLE_FOR;
use super::ids::{AgentId, ChatId, QueueId};
use super::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The permission an agent needs to use live chat (R1).
pub const CHAT_PERMISSION: &str = "ESChat_Agent";

/// An agent as provisioned: identity, permissions and support-queue memberships.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// Login name, unique.
    pub id: AgentId,
    /// Display name shown to users ("Alice is online").
    #[serde(default)]
    pub name: String,
    /// Permissions held; live chat needs [`CHAT_PERMISSION`].
    #[serde(default)]
    pub permissions: BTreeSet<String>,
    /// Support queues the agent belongs to (R3, R5).
    #[serde(default)]
    pub queues: Vec<QueueId>,
}

impl AgentProfile {
    /// A chat agent with the live-chat permission in the given queues.
    pub fn chat_agent(id: &str, queues: &[&str]) -> Self {
        AgentProfile {
            id: id.into(),
            name: id.to_string(),
            permissions: BTreeSet::from([CHAT_PERMISSION.to_string()]),
            queues: queues.iter().map(|q| QueueId::from(*q)).collect(),
        }
    }

    /// Whether the agent may use live chat (R1).
    pub fn may_chat(&self) -> bool {
        self.permissions.contains(CHAT_PERMISSION)
    }

    /// Whether the agent belongs to `queue`.
    pub fn in_queue(&self, queue: &QueueId) -> bool {
        self.queues.contains(queue)
    }
}

/// What an agent declares (R2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Not taking chats.
    Unavailable,
    /// "Available" (auto-accept off).
    Available,
    /// "Available for N" (auto-accept on), 0 ≤ N ≤ 4; 0 means not available.
    AvailableFor(u8),
}

/// Where an open chat of an agent came from; decides which limits it counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Accepted by hand from Queue.
    Queue,
    /// Accepted by hand from Transferred (counts against the limit of four, R6).
    Transferred,
    /// Assigned by the auto-accept policy.
    Auto,
}

/// What the Desk tracks about a provisioned agent.
#[derive(Clone, Debug, Serialize)]
pub struct Agent {
    /// Who the agent is.
    pub profile: AgentProfile,
    /// Signed in (possibly with a dropped connection inside the grace period).
    pub signed_in: bool,
    /// When the connection dropped, if it did and the grace period is running.
    pub disconnected_at: Option<Time>,
    /// Available at all.
    pub available: bool,
    /// The declared N of "Available for N" (auto-accept on).
    pub available_for: u8,
    /// My Chats (R4): accepted and not closed.
    pub chats: BTreeSet<ChatId>,
    /// How many of [`Agent::chats`] were accepted from Transferred (any number by
    /// hand with auto-accept off: R7).
    pub transfer_accepts: u32,
    /// Transfers addressed to this agent personally, waiting for them (R5).
    pub transfers: BTreeSet<ChatId>,
    /// Personal transfers sent on to the chat's queue while the agent was away (its
    /// grace period ran out): the agent is told at its next sign-in.
    pub withdrawn: Vec<(ChatId, QueueId)>,
    /// Chats of the agent's (held, or transferred to them) that their users ended while
    /// the agent's connection was down, and how: the `chat_ended` went to the dropped
    /// connection, so the agent is told again at its next sign-in.
    pub ended_while_away: Vec<(ChatId, ChatState)>,
    /// Last time a chat was assigned to or accepted by the agent.
    pub last_assigned: Option<Time>,
    /// When the agent signed in last.
    pub signed_in_at: Time,
    /// Sign-in order, the final tie-break of every policy.
    pub sign_in_seq: u64,
    /// Chats this agent has had, in total (fairness).
    pub chats_handled: u64,
}

impl Agent {
    pub(crate) fn new(profile: AgentProfile) -> Self {
        Agent {
            profile,
            signed_in: false,
            disconnected_at: None,
            available: false,
            available_for: 0,
            chats: BTreeSet::new(),
            transfer_accepts: 0,
            transfers: BTreeSet::new(),
            withdrawn: Vec::new(),
            ended_while_away: Vec::new(),
            last_assigned: None,
            signed_in_at: Time::ZERO,
            sign_in_seq: 0,
            chats_handled: 0,
        }
    }

    /// Signed in with a live connection.
    pub fn online(&self) -> bool {
        self.signed_in && self.disconnected_at.is_none()
    }

    /// Open chats (My Chats).
    pub fn open(&self) -> u8 {
        u8::try_from(self.chats.len()).unwrap_or(u8::MAX)
    }

    /// Free auto-accept slots: N minus every open chat, whatever its origin.
    pub fn free_slots(&self) -> u8 {
        if !self.online() || !self.available {
            return 0;
        }
        // A planted bug (test builds only) ignores the declared N.
        if crate::planted::active(crate::planted::Bug::IgnoreCapacity) {
            return MAX_AVAILABLE_FOR.saturating_sub(self.open());
        }
        self.available_for
            .min(MAX_AVAILABLE_FOR)
            .saturating_sub(self.open())
    }
}
