//! The Desk: Switchboard's domain core.
//!
//! Everything about live-chat routing lives here, as plain data and one state machine
//! ([`Desk`]) — no tokio, no IO, no clock. The reference server runs it behind a lock;
//! the simulator's virtual-time mode calls it directly. See `docs/desk.md` for the
//! state machine and the rules R1–R15 it implements.

pub mod agent;
pub mod chat;
pub mod command;
pub mod config;
mod desk;
pub mod error;
pub mod ids;
pub mod outcome;
pub mod reference;
pub mod routing;
pub mod ticket;
pub mod time;
pub mod transcript;

pub use agent::{Agent, AgentProfile, Availability, CHAT_PERMISSION, Origin};
pub use chat::{
    Chat, ChatSource, ChatState, Entry, EntryBody, Party, TransferNote, TransferTarget,
    render_transcript,
};
pub use command::{Command, Principal};
pub use config::{DeskConfig, DisconnectRules, PolicyKind, RoutingConfig, UserDisconnect};
pub use desk::{Desk, DeskStats};
pub use error::DeskError;
pub use ids::{AgentId, ArticleId, ChatId, QueueId, TemplateId, TicketId, UserId};
pub use outcome::{
    AcceptedChat, AgentStatus, ChatSummary, Delivery, LeftReason, Notice, Outcome, Recipient,
    Reply, Resources,
};
pub use reference::{Customer, KnowledgeArticle, Outage, ReferenceData, Template, TemplateField};
pub use ticket::{Activity, Ticket, TicketKind, TicketStatus};
pub use time::Time;
pub use transcript::Transcript;
