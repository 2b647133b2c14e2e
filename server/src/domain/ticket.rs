//! Tickets created from chats: incidents and work orders (R12–R14).

use super::ids::{AgentId, ArticleId, ChatId, TemplateId, TicketId};
use super::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Incident or work order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// Create Incident.
    Incident,
    /// Create Work Order.
    WorkOrder,
}

impl TicketKind {
    /// The display prefix of the ticket number (`INC000001`, `WO000001`).
    pub fn prefix(self) -> &'static str {
        match self {
            TicketKind::Incident => "INC",
            TicketKind::WorkOrder => "WO",
        }
    }
}

/// Draft (edit mode, R13) or created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Opened from a template with required fields blank; waits for Confirm + Save.
    Draft,
    /// Created, with the transcript in its description.
    Created,
}

/// A line of a ticket's activity log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// When.
    pub at: Time,
    /// What happened.
    pub text: String,
}

/// A ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Its id.
    pub id: TicketId,
    /// Display number (`INC000001`).
    pub number: String,
    /// Incident or work order.
    pub kind: TicketKind,
    /// The chat it was created from.
    pub chat: ChatId,
    /// The agent who created it.
    pub agent: AgentId,
    /// The template it was created with, if any.
    pub template: Option<TemplateId>,
    /// Field values (from the template, then the agent).
    pub fields: BTreeMap<String, String>,
    /// Fields that must not be blank to confirm.
    pub required: Vec<String>,
    /// Draft or created.
    pub status: TicketStatus,
    /// Summary line.
    pub summary: String,
    /// The description: the chat transcript as it stood at creation (shared: a ticket
    /// is copied into replies and read API pages, its description is not).
    pub description: Arc<str>,
    /// Activity log (shared articles, R11).
    pub activity: Vec<Activity>,
    /// Pinned knowledge articles (R11).
    pub pinned: Vec<ArticleId>,
    /// When it was created (confirmed), if it was.
    pub created_at: Option<Time>,
}

impl Ticket {
    /// Required fields that are still blank.
    pub fn blank_required(&self) -> Vec<String> {
        self.required
            .iter()
            .filter(|f| self.fields.get(*f).is_none_or(|v| v.trim().is_empty()))
            .cloned()
            .collect()
    }
}
