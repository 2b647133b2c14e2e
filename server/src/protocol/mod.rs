//! The wire protocol between the reference server and its WebSocket clients (users and
//! agents), shared with the simulator's live driver.
//!
//! One JSON object per text frame. A client message is a Desk [`Command`] as JSON (its
//! `type` tag names the command) plus an optional client-chosen `req` id:
//!
//! ```json
//! {"type": "accept", "req": 7, "chat": 12}
//! ```
//!
//! The server answers every message with exactly one frame echoing `req`: a `reply`
//! (the Desk's [`Reply`], tagged by `reply`) or an `error` (`code`, `message`). Notices
//! for other participants arrive as `notice` frames (the Desk's [`Notice`], tagged by
//! `notice`). The first frame on every connection is `welcome`, saying who the server
//! thinks the client is. `docs/protocol.md` lists every message, field and code.
//!
//! [`parse_client_message`] is what the server uses to read a client frame; it gives
//! each way a frame can be wrong its own [`ProtocolError`] code. [`ServerFrame`]
//! serialises and deserialises the server's frames.

mod encode;
mod parse;
#[cfg(test)]
mod tests;

pub use encode::{encode_error, encode_notice, encode_reply};
pub use parse::parse_client_message;

use crate::domain::{AgentId, Command, Notice, Reply, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A client-chosen request id, echoed in the reply: a non-negative integer or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReqId {
    /// A number.
    Num(u64),
    /// A string.
    Str(String),
}

impl From<u64> for ReqId {
    fn from(n: u64) -> Self {
        ReqId::Num(n)
    }
}

impl fmt::Display for ReqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReqId::Num(n) => write!(f, "{n}"),
            ReqId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A client → server message: a Desk command with an optional request id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientMessage {
    /// Echoed in the reply; lets a client match replies to requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub req: Option<ReqId>,
    /// The command; serialised inline with its `type` tag.
    #[serde(flatten)]
    pub command: Command,
}

impl ClientMessage {
    /// The JSON text of the message, as a client sends it.
    pub fn to_json(&self) -> String {
        // A Command always serialises: its fields are strings, numbers and maps.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Every `type` a client may send over WebSocket.
pub const CLIENT_TYPES: [&str; 22] = [
    "sign_in",
    "sign_out",
    "set_availability",
    "list_queue",
    "list_transferred",
    "list_my_chats",
    "accept",
    "accept_transfer",
    "transfer",
    "search_articles",
    "share_article",
    "pin_article",
    "search_templates",
    "create_ticket",
    "fill_ticket",
    "confirm_ticket",
    "start_chat",
    "send",
    "close",
    // Admin commands are Desk commands too; over WebSocket the Desk refuses them
    // (`wrong_role`): use the HTTP admin API.
    "set_routing",
    "add_queue",
    "add_agent",
];

/// Desk commands the server issues itself and never accepts from a client.
pub const SERVER_ONLY_TYPES: [&str; 2] = ["tick", "disconnect"];

/// Why a client frame could not be read as a message. Nothing was done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, not an object, or `type`/`req` missing or of the wrong kind.
    #[error("{0}")]
    Malformed(String),
    /// `type` names no message.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    /// A known `type` with missing fields or fields of the wrong type.
    #[error("invalid `{kind}` message: {detail}")]
    InvalidFields {
        /// The message type.
        kind: String,
        /// What serde said.
        detail: String,
    },
    /// A command only the server itself issues.
    #[error("`{0}` is issued by the server itself and cannot be sent by a client")]
    ServerOnly(String),
    /// Over the per-connection message rate.
    #[error("rate limit exceeded: at most {0} messages per second; message dropped")]
    RateLimited(u32),
}

impl ProtocolError {
    /// The stable code sent in error frames and counted in metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::Malformed(_) => "malformed",
            ProtocolError::UnknownType(_) => "unknown_type",
            ProtocolError::InvalidFields { .. } => "invalid_fields",
            ProtocolError::ServerOnly(_) => "wrong_role",
            ProtocolError::RateLimited(_) => "rate_limited",
        }
    }

    /// Every code the gateway itself produces (the Desk's are in
    /// [`crate::domain::DeskError::CODES`]; `wrong_role` is shared).
    pub const CODES: [&'static str; 4] = [
        "malformed",
        "unknown_type",
        "invalid_fields",
        "rate_limited",
    ];
}

/// The role a connection was given, as told in the `welcome` frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum Welcome {
    /// An agent, authenticated by their token. They still have to `sign_in`.
    Agent {
        /// Who.
        agent: AgentId,
    },
    /// A self-service (or chatbot) user with a server-assigned id.
    User {
        /// The id the server gave this connection.
        user: UserId,
    },
}

/// A server → client frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ServerFrame {
    /// The first frame of every connection.
    Welcome {
        /// Who the server thinks the client is.
        #[serde(flatten)]
        who: Welcome,
        /// The limits in force for this connection.
        limits: WireLimits,
    },
    /// A command succeeded.
    Reply {
        /// The request id of the command, if it had one.
        #[serde(default)]
        req: Option<ReqId>,
        /// The command's `type`.
        command: String,
        /// The Desk's reply, inline with its `reply` tag.
        #[serde(flatten)]
        reply: Reply,
    },
    /// Something happened that this client must know.
    Notice {
        /// The Desk's notice, inline with its `notice` tag.
        #[serde(flatten)]
        notice: Notice,
    },
    /// A message was refused; nothing changed.
    Error {
        /// The request id of the message, if it could be read.
        #[serde(default)]
        req: Option<ReqId>,
        /// Machine-readable code.
        code: String,
        /// What went wrong, for people.
        message: String,
    },
}

impl ServerFrame {
    /// The JSON text of the frame.
    pub fn to_json(&self) -> String {
        // Frames hold strings, numbers, maps and sequences only: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a server frame (what a client does).
    pub fn parse(text: &str) -> Result<ServerFrame, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Limits a client should respect, sent in the `welcome` frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLimits {
    /// Largest accepted message, in bytes; larger ones close the connection (1009).
    pub max_message_bytes: usize,
    /// Sustained messages per second; more are refused with `rate_limited`.
    pub messages_per_sec: u32,
    /// Burst allowance above the sustained rate.
    pub burst: u32,
    /// Frames the server buffers for this connection before it closes it as a slow
    /// consumer (1008).
    pub outbound_queue: usize,
}

/// WebSocket close codes the server uses.
pub mod close {
    /// Normal closure: the connection was replaced by a newer one of the same agent.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the WebSocket protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A binary frame: the protocol is JSON text.
    pub const UNSUPPORTED: u16 = 1003;
    /// A text frame that is not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy: slow consumer (outbound queue full) or no pong within the idle timeout.
    pub const POLICY: u16 = 1008;
    /// A message over the size limit.
    pub const TOO_BIG: u16 = 1009;
}

/// One line of the server's journal: a command the Desk handled, in the order it
/// handled them (what the simulator's checker reads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position in the journal, from 1, without gaps.
    pub seq: u64,
    /// Desk time: milliseconds since the server started.
    pub at_ms: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub wall_ms: u64,
    /// Who sent the command.
    pub principal: crate::domain::Principal,
    /// The command.
    pub command: Command,
    /// What came of it.
    #[serde(flatten)]
    pub result: JournalResult,
}

/// The result part of a [`JournalEntry`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalResult {
    /// The Desk accepted the command.
    Ok {
        /// The reply to the sender.
        reply: Reply,
        /// Notices for others, in order.
        deliveries: Vec<crate::domain::Delivery>,
    },
    /// The Desk refused it; nothing changed.
    Error {
        /// The error code.
        code: String,
        /// The message.
        message: String,
    },
}
