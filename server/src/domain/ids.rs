//! Identifiers of the things the Desk keeps.
//!
//! Agents, support queues, knowledge articles and templates are named by the people
//! who provision them (`"alice"`, `"hardware"`, `"KA-0042"`), so their ids are those
//! names. Chats, tickets and user connections are numbered by the Desk or the server.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Arc<str>);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(Arc::from(s))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(Arc::from(s))
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

macro_rules! number_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

name_id!(
    /// An agent's login name.
    AgentId
);
name_id!(
    /// A support queue's name.
    QueueId
);
name_id!(
    /// A knowledge article's id (`KA-0042`).
    ArticleId
);
name_id!(
    /// A ticket template's id.
    TemplateId
);
number_id!(
    /// A chat, numbered by the Desk from 1.
    ChatId
);
number_id!(
    /// A ticket (incident or work order), numbered by the Desk from 1.
    TicketId
);
number_id!(
    /// A user connection, numbered by whoever connects users to the Desk.
    UserId
);
