//! Event counters of a run: chats by outcome, tickets by kind, messages, articles and
//! errors by code. Every counter has a dotted name (`chats.lost`) that thresholds use.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Chats by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatCounts {
    /// Chats requested by users (transfers are not new offers).
    pub offered: u64,
    /// Chats an agent joined for the first time.
    pub accepted: u64,
    /// Chats the user gave up on before an agent joined.
    pub abandoned: u64,
    /// Transfers made (a chat transferred twice counts twice).
    pub transferred: u64,
    /// Chats that ended after an agent joined, however they ended.
    pub closed: u64,
    /// Chat requests that never got a chat: refused, made by a user who could not
    /// connect, or whose user's connection died while waiting. (A chat the server
    /// loses after starting it is still waiting or open at the end: the routing
    /// checker catches it.)
    pub lost: u64,
    /// Chats still waiting in a queue when the run ended.
    pub queued_at_end: u64,
    /// Chats an agent had joined that had not ended when the run ended: in
    /// conversation, or waiting for another agent after a transfer (their handle time
    /// is not known, so not in `handle_time`).
    #[serde(default)]
    pub active_at_end: u64,
}

/// Tickets created from chats.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketCounts {
    /// Incidents created.
    pub incidents: u64,
    /// Work orders created.
    pub work_orders: u64,
    /// Of those, created from a template.
    pub from_template: u64,
    /// Template tickets that opened as drafts and were confirmed.
    pub drafts_confirmed: u64,
}

/// Conversation messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// Sent by users or agents.
    pub sent: u64,
    /// Received by the other side.
    pub received: u64,
    /// Live runs: sent, and not seen by the other side when the run ended (on their
    /// way, or held for an agent whose connection dropped); `message_latency` has no
    /// sample of them. Messages refused, lost with a dropped connection, or written
    /// into a chat that ended are not counted; nor are those that reached nobody
    /// while the chat changed hands and came to the next agent in its history.
    #[serde(default)]
    pub undelivered_at_end: u64,
}

/// Knowledge articles.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleCounts {
    /// Shared into a conversation.
    pub shared: u64,
    /// Pinned on a ticket.
    pub pinned: u64,
}

/// All counters of a run (or of one task, before merging).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Chats by outcome.
    pub chats: ChatCounts,
    /// Tickets by kind.
    pub tickets: TicketCounts,
    /// Messages.
    pub messages: MessageCounts,
    /// Articles.
    pub articles: ArticleCounts,
    /// Error replies by protocol error code (and driver-side failures by a short code).
    pub errors: BTreeMap<String, u64>,
}

impl Counters {
    /// Every fixed counter name; `errors.<code>` may be used for any code as well.
    pub const NAMES: [&'static str; 18] = [
        "chats.offered",
        "chats.accepted",
        "chats.abandoned",
        "chats.transferred",
        "chats.closed",
        "chats.lost",
        "chats.queued_at_end",
        "chats.active_at_end",
        "tickets.incidents",
        "tickets.work_orders",
        "tickets.from_template",
        "tickets.drafts_confirmed",
        "messages.sent",
        "messages.received",
        "messages.undelivered_at_end",
        "articles.shared",
        "articles.pinned",
        "errors",
    ];

    /// Whether `name` is a counter name (`errors.<code>` with a code a run can count).
    pub fn is_name(name: &str) -> bool {
        Counters::NAMES.contains(&name)
            || name
                .strip_prefix("errors.")
                .is_some_and(Counters::is_error_code)
    }

    /// The driver's own error codes (a connection that failed or broke); the server's
    /// are `DeskError::CODES` and `ProtocolError::CODES`.
    pub const DRIVER_ERRORS: [&'static str; 5] = [
        "connect_failed",
        "bad_frame",
        "connection_closed",
        "reconnect_failed",
        "reply_lost",
    ];

    /// Whether the counter `name` is one only a live run fills: the driver's own errors
    /// (connections) and messages unseen at the end. A virtual run leaves them at 0.
    pub fn is_live_only(name: &str) -> bool {
        name == "messages.undelivered_at_end"
            || name
                .strip_prefix("errors.")
                .is_some_and(|code| Counters::DRIVER_ERRORS.contains(&code))
    }

    /// Whether a run can count errors with `code`: a typo in an `errors.<code>`
    /// threshold would otherwise always observe 0.
    pub fn is_error_code(code: &str) -> bool {
        switchboard_server::domain::DeskError::CODES.contains(&code)
            || switchboard_server::protocol::ProtocolError::CODES.contains(&code)
            || Counters::DRIVER_ERRORS.contains(&code)
    }

    /// Every code [`Counters::is_error_code`] accepts, sorted.
    pub fn error_codes() -> Vec<&'static str> {
        let mut codes: Vec<&'static str> = switchboard_server::domain::DeskError::CODES
            .iter()
            .chain(switchboard_server::protocol::ProtocolError::CODES.iter())
            .chain(Counters::DRIVER_ERRORS.iter())
            .copied()
            .collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }

    /// The value of the counter `name`; `None` if there is no such counter. An error
    /// code that never occurred counts zero.
    pub fn get(&self, name: &str) -> Option<u64> {
        let c = &self.chats;
        let t = &self.tickets;
        Some(match name {
            "chats.offered" => c.offered,
            "chats.accepted" => c.accepted,
            "chats.abandoned" => c.abandoned,
            "chats.transferred" => c.transferred,
            "chats.closed" => c.closed,
            "chats.lost" => c.lost,
            "chats.queued_at_end" => c.queued_at_end,
            "chats.active_at_end" => c.active_at_end,
            "tickets.incidents" => t.incidents,
            "tickets.work_orders" => t.work_orders,
            "tickets.from_template" => t.from_template,
            "tickets.drafts_confirmed" => t.drafts_confirmed,
            "messages.sent" => self.messages.sent,
            "messages.received" => self.messages.received,
            "messages.undelivered_at_end" => self.messages.undelivered_at_end,
            "articles.shared" => self.articles.shared,
            "articles.pinned" => self.articles.pinned,
            "errors" => self.errors_total(),
            other => {
                let code = other.strip_prefix("errors.").filter(|c| !c.is_empty())?;
                self.errors.get(code).copied().unwrap_or(0)
            }
        })
    }

    /// Counts one error reply or failure with `code`.
    pub fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_string()).or_insert(0) += 1;
    }

    /// All errors, whatever the code.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Adds another task's counters to these.
    pub fn merge(&mut self, o: &Counters) {
        let (c, oc) = (&mut self.chats, &o.chats);
        c.offered += oc.offered;
        c.accepted += oc.accepted;
        c.abandoned += oc.abandoned;
        c.transferred += oc.transferred;
        c.closed += oc.closed;
        c.lost += oc.lost;
        c.queued_at_end += oc.queued_at_end;
        c.active_at_end += oc.active_at_end;
        let (t, ot) = (&mut self.tickets, &o.tickets);
        t.incidents += ot.incidents;
        t.work_orders += ot.work_orders;
        t.from_template += ot.from_template;
        t.drafts_confirmed += ot.drafts_confirmed;
        self.messages.sent += o.messages.sent;
        self.messages.received += o.messages.received;
        self.messages.undelivered_at_end += o.messages.undelivered_at_end;
        self.articles.shared += o.articles.shared;
        self.articles.pinned += o.articles.pinned;
        for (code, n) in &o.errors {
            *self.errors.entry(code.clone()).or_insert(0) += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves() {
        let c = Counters::default();
        for name in Counters::NAMES {
            assert_eq!(c.get(name), Some(0), "{name}");
            assert!(Counters::is_name(name));
        }
        assert_eq!(c.get("errors.whatever"), Some(0));
        assert_eq!(c.get("chats.nope"), None);
        assert_eq!(c.get("errors."), None);
        assert!(!Counters::is_name("errors."));
        assert!(Counters::is_name("errors.rate_limited"));
        assert!(Counters::is_name("errors.reconnect_failed"));
        assert!(!Counters::is_name("errors.rate_limted"));
    }

    /// The driver's connection errors are all known codes.
    #[test]
    fn connection_error_codes_are_known() {
        use crate::live::conn::ConnError;
        for e in [
            ConnError::Connect(String::new()),
            ConnError::BadFrame(String::new()),
            ConnError::Closed(String::new()),
        ] {
            assert!(Counters::is_error_code(e.code()), "{}", e.code());
        }
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = Counters::default();
        a.chats.offered = 3;
        a.tickets.work_orders = 1;
        a.error("already_accepted");
        let mut b = Counters::default();
        b.chats.offered = 2;
        b.chats.lost = 1;
        b.messages.sent = 7;
        b.error("already_accepted");
        b.error("rate_limited");
        a.merge(&b);
        assert_eq!(a.get("chats.offered"), Some(5));
        assert_eq!(a.get("chats.lost"), Some(1));
        assert_eq!(a.get("tickets.work_orders"), Some(1));
        assert_eq!(a.get("messages.sent"), Some(7));
        assert_eq!(a.get("errors.already_accepted"), Some(2));
        assert_eq!(a.get("errors"), Some(3));
    }
}
