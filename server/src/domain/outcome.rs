//! What a command produced: the reply to the caller and the notices others must get.

use super::agent::{Availability, Origin};
use super::chat::{ChatSource, ChatState, Entry, TransferNote, TransferTarget};
use super::config::RoutingConfig;
use super::ids::{AgentId, ArticleId, ChatId, QueueId, TemplateId, UserId};
use super::reference::{Customer, KnowledgeArticle, Outage, Template, TemplateField};
use super::ticket::Ticket;
use super::time::Time;
use serde::{Deserialize, Serialize};

/// The result of a command that succeeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The answer for whoever sent the command.
    pub reply: Reply,
    /// Who else must be told what, in order.
    pub deliveries: Vec<Delivery>,
}

/// One notice for one recipient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Who.
    pub to: Recipient,
    /// What.
    pub notice: Notice,
}

/// Who a notice is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// One agent.
    Agent(AgentId),
    /// One user connection.
    User(UserId),
    /// Every signed-in, connected agent of a support queue (the server fans it out).
    QueueMembers(QueueId),
}

/// A chat as listed in Queue, Transferred or My Chats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSummary {
    /// The chat.
    pub chat: ChatId,
    /// Its queue.
    pub queue: QueueId,
    /// Issue description.
    pub subject: String,
    /// Self-service or chatbot.
    pub source: ChatSource,
    /// Where it stands.
    #[serde(flatten)]
    pub state: ChatState,
    /// When its current wait began.
    pub waiting_since: Time,
}

/// What the Resources tab shows (R9).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Current outages.
    pub outages: Vec<Outage>,
    /// Templates that match the subject.
    pub templates: Vec<TemplateSummary>,
    /// Knowledge articles that match the subject.
    pub articles: Vec<ArticleSummary>,
    /// The chat's ticket, if it has one (R12).
    pub ticket: Option<Ticket>,
}

/// Everything an agent gets on taking a chat (R8, R9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedChat {
    /// The chat.
    pub chat: ChatId,
    /// Its queue.
    pub queue: QueueId,
    /// Issue description.
    pub subject: String,
    /// Self-service or chatbot.
    pub source: ChatSource,
    /// The user.
    pub user: UserId,
    /// How the agent got it.
    pub origin: Origin,
    /// When the user asked for it.
    pub requested_at: Time,
    /// The transcript so far.
    pub history: Vec<Entry>,
    /// Notes of previous agents (transferred chats).
    pub notes: Vec<TransferNote>,
    /// Customer Information tab.
    pub customer: Option<Customer>,
    /// Resources tab.
    pub resources: Resources,
}

/// A knowledge article in search results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleSummary {
    /// Its id.
    pub id: ArticleId,
    /// Title.
    pub title: String,
    /// Link.
    pub link: String,
}

impl From<&KnowledgeArticle> for ArticleSummary {
    fn from(a: &KnowledgeArticle) -> Self {
        ArticleSummary {
            id: a.id.clone(),
            title: a.title.clone(),
            link: a.link.clone(),
        }
    }
}

/// A template in search results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSummary {
    /// Its id.
    pub id: TemplateId,
    /// Name.
    pub name: String,
    /// Its fields.
    pub fields: Vec<TemplateField>,
}

impl From<&Template> for TemplateSummary {
    fn from(t: &Template) -> Self {
        TemplateSummary {
            id: t.id.clone(),
            name: t.name.clone(),
            fields: t.fields.clone(),
        }
    }
}

/// An agent's own status, as sign-in and availability changes report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The agent.
    pub agent: AgentId,
    /// Display name.
    pub name: String,
    /// Their queues.
    pub queues: Vec<QueueId>,
    /// What they declared.
    pub availability: Availability,
    /// Whether auto-accept is on.
    pub auto_accept: bool,
    /// Open chats (My Chats), resumed ones included.
    pub my_chats: Vec<ChatId>,
    /// Chats waiting in their queues (Queue count).
    pub queue_count: usize,
    /// Transfers they may accept (Transferred count).
    pub transferred_count: usize,
}

/// The reply to a successful command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reply")]
pub enum Reply {
    /// Done; nothing more to say.
    Done,
    /// Sign-in or availability change: where the agent stands.
    Status(AgentStatus),
    /// A listing.
    Chats {
        /// The chats.
        chats: Vec<ChatSummary>,
    },
    /// A chat was started.
    ChatStarted {
        /// The new chat.
        chat: ChatId,
        /// Its queue.
        queue: QueueId,
        /// Chats ahead of it in that queue.
        position: usize,
        /// Whether auto-accept gave it to an agent at once (a slot was free).
        assigned: bool,
    },
    /// The chat is the caller's now.
    Accepted(Box<AcceptedChat>),
    /// A message (or shared article) was added to the transcript.
    Sent {
        /// The chat.
        chat: ChatId,
        /// Its transcript position.
        seq: u64,
    },
    /// Article search results.
    Articles {
        /// Matches.
        articles: Vec<ArticleSummary>,
    },
    /// Template search results.
    Templates {
        /// Matches.
        templates: Vec<TemplateSummary>,
    },
    /// A ticket, draft or created.
    Ticket(Box<Ticket>),
    /// The routing settings now in force.
    Routing(RoutingConfig),
}

/// Why a chat left an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    /// The agent transferred it.
    Transferred,
    /// The agent's connection dropped and did not come back within the grace period.
    AgentGone,
}

/// Something a participant must be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "notice")]
pub enum Notice {
    /// To the agent: auto-accept assigned them a chat (R6, R8, R9).
    Assigned(Box<AcceptedChat>),
    /// To the agent, signing in again within the grace period of a dropped
    /// connection: a chat it held, as it stands now, so that what was said while it
    /// was away reaches it (R10). One per resumed chat, after the `status` reply.
    Resumed(Box<AcceptedChat>),
    /// To the user: an agent joined their chat, i.e. is online (R8).
    AgentJoined {
        /// The chat.
        chat: ChatId,
        /// The agent.
        agent: AgentId,
        /// Their display name.
        name: String,
    },
    /// To the user: their agent left the chat, which waits for another one.
    AgentLeft {
        /// The chat.
        chat: ChatId,
        /// The agent who left.
        agent: AgentId,
        /// Why.
        reason: LeftReason,
    },
    /// To the other side: a transcript entry (message or shared article, R10, R11).
    Message {
        /// The chat.
        chat: ChatId,
        /// The entry.
        entry: Entry,
    },
    /// To the agent a transfer is addressed to (R5).
    TransferOffered {
        /// The chat.
        chat: ChatId,
        /// Its queue.
        queue: QueueId,
        /// The agent who transferred it.
        from: AgentId,
        /// Their notes.
        notes: String,
    },
    /// To a signed-in agent whose status changed by no command of theirs: an admin
    /// switched Agent Auto Accept, which resets what they declared (R2, R7). The status
    /// as the `sign_in` reply gives it.
    StatusChanged(Box<AgentStatus>),
    /// To queue members: how many chats wait in the queue and in its Transferred list.
    QueueChanged {
        /// The queue.
        queue: QueueId,
        /// Chats waiting in Queue.
        queued: usize,
        /// Transfers addressed to the queue.
        transferred: usize,
    },
    /// To the agent a personal transfer was addressed to, when they sign out before
    /// taking it, or sign in again after their grace period ran out: it went to the
    /// chat's queue instead.
    TransferWithdrawn {
        /// The chat.
        chat: ChatId,
        /// Where it went instead.
        to: TransferTarget,
    },
    /// To the other side: the chat ended.
    ChatEnded {
        /// The chat.
        chat: ChatId,
        /// How it ended.
        #[serde(flatten)]
        state: ChatState,
    },
    /// To the user, and to the chat's owner when another agent confirmed it: a ticket
    /// was created from the chat (R12, R13).
    TicketCreated {
        /// The chat.
        chat: ChatId,
        /// The ticket.
        ticket: Box<Ticket>,
    },
}
