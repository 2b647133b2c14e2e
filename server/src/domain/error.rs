//! Why the Desk refused a command. Each error has a stable machine-readable code.

use super::ids::{AgentId, ArticleId, ChatId, QueueId, TemplateId, TicketId};
use thiserror::Error;

/// A refused command. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DeskError {
    /// R1: the agent lacks the live-chat permission.
    #[error("agent `{0}` does not hold the ESChat_Agent permission needed for live chat")]
    PermissionDenied(AgentId),
    /// The principal may not send this command at all.
    #[error("{role} may not `{command}`")]
    WrongRole {
        /// Who tried.
        role: &'static str,
        /// What.
        command: &'static str,
    },
    /// The agent must sign in first.
    #[error("agent `{0}` is not signed in")]
    NotSignedIn(AgentId),
    /// Unknown agent.
    #[error("no agent `{0}`")]
    UnknownAgent(AgentId),
    /// Unknown queue.
    #[error("no support queue `{0}`")]
    UnknownQueue(QueueId),
    /// Unknown chat, or one the caller may not see.
    #[error("no chat {0}")]
    UnknownChat(ChatId),
    /// Unknown ticket.
    #[error("no ticket {0}")]
    UnknownTicket(TicketId),
    /// Unknown article.
    #[error("no knowledge article `{0}`")]
    UnknownArticle(ArticleId),
    /// Unknown template.
    #[error("no template `{0}`")]
    UnknownTemplate(TemplateId),
    /// R8: someone else accepted it first.
    #[error("chat {chat} was already accepted by `{by}`")]
    AlreadyAccepted {
        /// The chat.
        chat: ChatId,
        /// The winner.
        by: AgentId,
    },
    /// The chat has ended.
    #[error("chat {0} has ended")]
    ChatEnded(ChatId),
    /// Accept from Queue on a chat that is not queued (it is transferred).
    #[error("chat {0} is not in Queue; it is waiting in Transferred")]
    NotQueued(ChatId),
    /// Accept from Transferred on a chat that is not transferred.
    #[error("chat {0} is not waiting in Transferred")]
    NotTransferred(ChatId),
    /// R3/R5: the chat is in a queue, or addressed to someone, the agent cannot see.
    #[error("chat {chat} is not visible to `{agent}`")]
    NotVisible {
        /// The chat.
        chat: ChatId,
        /// The agent.
        agent: AgentId,
    },
    /// The agent does not own the chat.
    #[error("chat {chat} is not one of `{agent}`'s chats")]
    NotOwner {
        /// The chat.
        chat: ChatId,
        /// The agent.
        agent: AgentId,
    },
    /// R6: already as many open chats accepted from Transferred under auto-accept as
    /// `routing.max_transfer_accepts` allows.
    #[error(
        "agent `{0}` already holds the most chats accepted from Transferred allowed under auto-accept ({1})"
    )]
    TransferLimit(AgentId, u8),
    /// R2: the availability does not fit the auto-accept setting.
    #[error("{0}")]
    InvalidAvailability(String),
    /// Transfer to the agent who holds it, or to an agent who cannot take it.
    #[error("{0}")]
    InvalidTransfer(String),
    /// R14: the chat already has a ticket.
    #[error("chat {chat} already has ticket {ticket}")]
    TicketExists {
        /// The chat.
        chat: ChatId,
        /// Its ticket.
        ticket: TicketId,
    },
    /// R13: required fields still blank.
    #[error("required fields are blank: {}", .0.join(", "))]
    RequiredFieldsBlank(Vec<String>),
    /// A field the template does not have.
    #[error("template has no field `{0}`")]
    UnknownField(String),
    /// Fill or confirm on a ticket that is no longer a draft.
    #[error("ticket {0} is not a draft")]
    NotDraft(TicketId),
    /// Sign out with open chats.
    #[error("agent `{0}` still has {1} open chats; close or transfer them first")]
    ChatsOpen(AgentId, usize),
    /// A configuration that does not hold together.
    #[error("{0}")]
    InvalidConfig(String),
    /// Adding something that exists.
    #[error("`{0}` already exists")]
    AlreadyExists(String),
    /// An empty message or subject.
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

impl DeskError {
    /// The stable code sent in error frames and counted in metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DeskError::PermissionDenied(_) => "permission_denied",
            DeskError::WrongRole { .. } => "wrong_role",
            DeskError::NotSignedIn(_) => "not_signed_in",
            DeskError::UnknownAgent(_) => "unknown_agent",
            DeskError::UnknownQueue(_) => "unknown_queue",
            DeskError::UnknownChat(_) => "unknown_chat",
            DeskError::UnknownTicket(_) => "unknown_ticket",
            DeskError::UnknownArticle(_) => "unknown_article",
            DeskError::UnknownTemplate(_) => "unknown_template",
            DeskError::AlreadyAccepted { .. } => "already_accepted",
            DeskError::ChatEnded(_) => "chat_ended",
            DeskError::NotQueued(_) => "not_queued",
            DeskError::NotTransferred(_) => "not_transferred",
            DeskError::NotVisible { .. } => "not_visible",
            DeskError::NotOwner { .. } => "not_owner",
            DeskError::TransferLimit(..) => "transfer_limit",
            DeskError::InvalidAvailability(_) => "invalid_availability",
            DeskError::InvalidTransfer(_) => "invalid_transfer",
            DeskError::TicketExists { .. } => "ticket_exists",
            DeskError::RequiredFieldsBlank(_) => "required_fields_blank",
            DeskError::UnknownField(_) => "unknown_field",
            DeskError::NotDraft(_) => "not_draft",
            DeskError::ChatsOpen(..) => "chats_open",
            DeskError::InvalidConfig(_) => "invalid_config",
            DeskError::AlreadyExists(_) => "already_exists",
            DeskError::Empty(_) => "empty",
        }
    }

    /// Every code, for documentation and metrics.
    pub const CODES: [&'static str; 26] = [
        "permission_denied",
        "wrong_role",
        "not_signed_in",
        "unknown_agent",
        "unknown_queue",
        "unknown_chat",
        "unknown_ticket",
        "unknown_article",
        "unknown_template",
        "already_accepted",
        "chat_ended",
        "not_queued",
        "not_transferred",
        "not_visible",
        "not_owner",
        "transfer_limit",
        "invalid_availability",
        "invalid_transfer",
        "ticket_exists",
        "required_fields_blank",
        "unknown_field",
        "not_draft",
        "chats_open",
        "invalid_config",
        "already_exists",
        "empty",
    ];
}
