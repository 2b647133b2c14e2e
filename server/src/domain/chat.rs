//! Chats: their life cycle, transcript and transfer notes.
//!
//! ```text
//!                 accept / auto-assign                close (either side)
//!   start ──► Queued ─────────────────────► Active ───────────────────────► Closed
//!               │  ▲                         │  ▲
//!   user leaves │  │ agent gone after grace  │  │ accept from Transferred /
//!               │  └─────────────────────────┤  │ auto-assign (queue target)
//!               ▼                  transfer  ▼  │
//!           Abandoned ◄──────────────── Transferred
//!                      user leaves
//! ```

use super::agent::Origin;
use super::ids::{AgentId, ArticleId, ChatId, QueueId, TicketId, UserId};
use super::time::Time;
use super::transcript::Transcript;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Where a chat request comes from (R15).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatSource {
    /// A self-service user on the web client.
    #[default]
    SelfService,
    /// A chatbot user handed over to a human.
    Chatbot,
}

/// Who a transfer is addressed to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    /// One agent.
    Agent(AgentId),
    /// Every agent of a support queue.
    Queue(QueueId),
}

/// Who took part in a chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The user who started it.
    User,
    /// An agent.
    Agent(AgentId),
}

/// Where a chat stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ChatState {
    /// Waiting in its queue for an agent.
    Queued,
    /// Owned by one agent.
    Active {
        /// The owner.
        agent: AgentId,
        /// How the owner got it.
        origin: Origin,
    },
    /// Handed over by `from`, waiting for `to` to accept it.
    Transferred {
        /// The agent who transferred it.
        from: AgentId,
        /// The agent or queue it is addressed to.
        to: TransferTarget,
    },
    /// Closed by the user or an agent while an agent held it.
    Closed {
        /// Who closed it.
        by: Party,
    },
    /// Ended by the user while no agent held it (waiting in the Queue or in
    /// Transferred, even after an agent had it), or, by default, by the user's
    /// disconnect.
    Abandoned,
}

impl ChatState {
    /// Whether the chat has ended.
    pub fn is_ended(&self) -> bool {
        matches!(self, ChatState::Closed { .. } | ChatState::Abandoned)
    }

    /// The owning agent, if any.
    pub fn owner(&self) -> Option<&AgentId> {
        match self {
            ChatState::Active { agent, .. } => Some(agent),
            _ => None,
        }
    }

    /// A short name of the state (`queued`, `active`, …).
    pub fn name(&self) -> &'static str {
        match self {
            ChatState::Queued => "queued",
            ChatState::Active { .. } => "active",
            ChatState::Transferred { .. } => "transferred",
            ChatState::Closed { .. } => "closed",
            ChatState::Abandoned => "abandoned",
        }
    }
}

/// What one transcript entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EntryBody {
    /// A typed message (R10).
    Text {
        /// The text.
        text: String,
    },
    /// A knowledge article shared into the conversation (R11).
    Article {
        /// The article.
        article: ArticleId,
        /// Its title.
        title: String,
        /// Its link.
        link: String,
    },
}

/// One line of a transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the transcript, from 1.
    pub seq: u64,
    /// When the Desk received it.
    pub at: Time,
    /// Who wrote it.
    pub from: Party,
    /// What it says.
    #[serde(flatten)]
    pub body: EntryBody,
}

/// A note left by the agent who transferred a chat (R8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferNote {
    /// The agent who transferred.
    pub from: AgentId,
    /// Where it went.
    pub to: TransferTarget,
    /// What they wrote.
    pub notes: String,
    /// When.
    pub at: Time,
}

/// A chat and everything that happened in it.
#[derive(Clone, Debug, Serialize)]
pub struct Chat {
    /// Its id.
    pub id: ChatId,
    /// The user who started it; only they see it.
    pub user: UserId,
    /// The user's customer record key (contact login), if known.
    pub customer: Option<String>,
    /// Self-service or chatbot (R15).
    pub source: ChatSource,
    /// The issue description or question the user gave.
    pub subject: String,
    /// The support queue it is in now (changes on transfer to a queue).
    pub queue: QueueId,
    /// Where it stands (flattened into the chat's JSON: `"state": "active", "agent": …`,
    /// the shape every other message uses).
    #[serde(flatten)]
    pub state: ChatState,
    /// When the user asked for it.
    pub requested_at: Time,
    /// When its current wait began (routing order: oldest first).
    pub waiting_since: Time,
    /// The transcript (R10).
    pub transcript: Transcript,
    /// Notes of every transfer, oldest first (R8).
    pub notes: Vec<TransferNote>,
    /// Its ticket, draft or created (R14: at most one).
    pub ticket: Option<TicketId>,
    /// Articles shared into it, in order (R11).
    pub shared: Vec<ArticleId>,
    /// Articles pinned to its ticket (R11).
    pub pinned: BTreeSet<ArticleId>,
    /// Every agent who has had it, in order.
    pub agents: Vec<AgentId>,
}

impl Chat {
    /// Whether `agent` owns the chat now.
    pub fn owned_by(&self, agent: &AgentId) -> bool {
        self.state.owner() == Some(agent)
    }
}

/// An entry as a transcript line, without its line break: `[user] text`,
/// `[agent alice] shared article KA-1 "Title" link`.
impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.from {
            Party::User => write!(f, "[user] ")?,
            Party::Agent(a) => write!(f, "[agent {a}] ")?,
        }
        match &self.body {
            EntryBody::Text { text } => write!(f, "{text}"),
            EntryBody::Article {
                article,
                title,
                link,
            } => write!(f, "shared article {article} \"{title}\" {link}"),
        }
    }
}

/// The transcript as plain text, one line per entry: the form a ticket description
/// holds (R12, R13).
pub fn render_transcript<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> String {
    let mut out = String::new();
    for e in entries {
        let _ = writeln!(out, "{e}");
    }
    out
}
