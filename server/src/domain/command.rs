//! What callers ask the Desk to do, and on whose behalf.

use super::agent::{AgentProfile, Availability};
use super::chat::{ChatSource, TransferTarget};
use super::config::RoutingConfig;
use super::ids::{AgentId, ArticleId, ChatId, QueueId, TemplateId, TicketId, UserId};
use super::ticket::TicketKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who is acting. The server decides it from the connection's credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    /// The administrator.
    Admin,
    /// A provisioned agent (the Desk still checks R1).
    Agent(AgentId),
    /// A self-service or chatbot user's connection.
    User(UserId),
    /// The Desk's own timekeeping (grace periods running out).
    System,
}

/// A command to the Desk. Which principals may send which is checked by the Desk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Command {
    // --- agents ---
    /// Sign in (or resume after a dropped connection).
    SignIn,
    /// Sign out; refused while the agent has open chats.
    SignOut,
    /// Declare availability (R2).
    SetAvailability {
        /// The declaration.
        availability: Availability,
    },
    /// List Queue (R3).
    ListQueue,
    /// List Transferred (R5).
    ListTransferred,
    /// List My Chats (R4).
    ListMyChats,
    /// Accept a chat from Queue (R8).
    Accept {
        /// The chat.
        chat: ChatId,
    },
    /// Accept a chat from Transferred (R6, R8).
    AcceptTransfer {
        /// The chat.
        chat: ChatId,
    },
    /// Hand an owned chat to an agent or a support queue, with notes.
    Transfer {
        /// The chat.
        chat: ChatId,
        /// Where it goes.
        to: TransferTarget,
        /// Notes for the next agent.
        #[serde(default)]
        notes: String,
    },
    /// Search knowledge articles (R11).
    SearchArticles {
        /// Words to look for.
        term: String,
    },
    /// Share an article into a chat (R11).
    ShareArticle {
        /// The chat.
        chat: ChatId,
        /// The article.
        article: ArticleId,
    },
    /// Pin an article to the chat's ticket (R11).
    PinArticle {
        /// The chat.
        chat: ChatId,
        /// The article.
        article: ArticleId,
    },
    /// Search ticket templates (R13).
    SearchTemplates {
        /// Words to look for.
        term: String,
    },
    /// Create an incident or work order from a chat, with or without a template.
    CreateTicket {
        /// The chat.
        chat: ChatId,
        /// Incident or work order.
        kind: TicketKind,
        /// Template to start from.
        #[serde(default)]
        template: Option<TemplateId>,
    },
    /// Fill fields of a draft ticket (edit mode, R13).
    FillTicket {
        /// The ticket.
        ticket: TicketId,
        /// Field values.
        fields: BTreeMap<String, String>,
    },
    /// Confirm + Save a draft ticket (R13).
    ConfirmTicket {
        /// The ticket.
        ticket: TicketId,
    },

    // --- users ---
    /// Ask for a chat (R15).
    StartChat {
        /// The support queue asked for.
        queue: QueueId,
        /// The issue description or question.
        subject: String,
        /// Self-service or chatbot.
        #[serde(default)]
        source: ChatSource,
        /// The user's contact login, for the Customer Information tab.
        #[serde(default)]
        customer: Option<String>,
    },

    // --- users and agents ---
    /// Type a message (R10).
    Send {
        /// The chat.
        chat: ChatId,
        /// The text.
        text: String,
    },
    /// End a chat. A user ending one nobody accepted yet abandons it.
    Close {
        /// The chat.
        chat: ChatId,
    },
    /// The connection dropped (see [`super::config::DisconnectRules`]).
    Disconnect,

    // --- admin ---
    /// Change the auto-accept settings.
    SetRouting {
        /// The new settings.
        routing: RoutingConfig,
    },
    /// Add a support queue.
    AddQueue {
        /// Its name.
        queue: QueueId,
    },
    /// Provision an agent.
    AddAgent {
        /// The agent.
        agent: AgentProfile,
    },

    // --- timekeeping ---
    /// Let time pass: apply grace periods that ran out by `now`.
    Tick,
}

impl Command {
    /// The command's name as on the wire (`accept`, `start_chat`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Command::SignIn => "sign_in",
            Command::SignOut => "sign_out",
            Command::SetAvailability { .. } => "set_availability",
            Command::ListQueue => "list_queue",
            Command::ListTransferred => "list_transferred",
            Command::ListMyChats => "list_my_chats",
            Command::Accept { .. } => "accept",
            Command::AcceptTransfer { .. } => "accept_transfer",
            Command::Transfer { .. } => "transfer",
            Command::SearchArticles { .. } => "search_articles",
            Command::ShareArticle { .. } => "share_article",
            Command::PinArticle { .. } => "pin_article",
            Command::SearchTemplates { .. } => "search_templates",
            Command::CreateTicket { .. } => "create_ticket",
            Command::FillTicket { .. } => "fill_ticket",
            Command::ConfirmTicket { .. } => "confirm_ticket",
            Command::StartChat { .. } => "start_chat",
            Command::Send { .. } => "send",
            Command::Close { .. } => "close",
            Command::Disconnect => "disconnect",
            Command::SetRouting { .. } => "set_routing",
            Command::AddQueue { .. } => "add_queue",
            Command::AddAgent { .. } => "add_agent",
            Command::Tick => "tick",
        }
    }
}
