//! What the checker reports: the invariants it knows, and one violation of one of them
//! with the chat, the agents, the time and the events that prove it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A routing invariant (see `docs/checker.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// Every chat started reaches exactly one end; none is lost.
    ChatEnd,
    /// Never two owners of one chat; an acknowledged accept is the only one (R8).
    SingleOwner,
    /// No agent above Available-for N in auto-assigned chats, nor above the transfer
    /// limit under auto-accept (R6).
    Capacity,
    /// Transfers seen and accepted only by agents allowed to see them (R5).
    TransferVisibility,
    /// The accepting agent of a transferred chat gets the notes (R8).
    TransferNotes,
    /// Messages reach the other side exactly once, in send order (R10).
    MessageOrder,
    /// The transcript the server keeps equals what was delivered (R10, R8).
    Transcript,
    /// Ticket description holds the transcript; one ticket per chat; shared articles in
    /// the activity log (R11–R14).
    Ticket,
    /// Under auto-accept no chat waits while an eligible agent has a free slot.
    WorkConserving,
    /// Client history and server journal agree.
    Agreement,
}

impl Invariant {
    /// Every invariant, in report order.
    pub const ALL: [Invariant; 10] = [
        Invariant::ChatEnd,
        Invariant::SingleOwner,
        Invariant::Capacity,
        Invariant::TransferVisibility,
        Invariant::TransferNotes,
        Invariant::MessageOrder,
        Invariant::Transcript,
        Invariant::Ticket,
        Invariant::WorkConserving,
        Invariant::Agreement,
    ];

    /// The name used in reports and tests.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::ChatEnd => "chat_end",
            Invariant::SingleOwner => "single_owner",
            Invariant::Capacity => "capacity",
            Invariant::TransferVisibility => "transfer_visibility",
            Invariant::TransferNotes => "transfer_notes",
            Invariant::MessageOrder => "message_order",
            Invariant::Transcript => "transcript",
            Invariant::Ticket => "ticket",
            Invariant::WorkConserving => "work_conserving",
            Invariant::Agreement => "agreement",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One violation of one invariant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// The chat, if one is concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<u64>,
    /// The agents concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// When: server (Desk) milliseconds for journal findings, scenario milliseconds
    /// for history findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<f64>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The events that prove it: `journal#<seq> …` or `history:<line> …`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

impl Violation {
    /// A violation of `invariant` described by `message`.
    pub fn new(invariant: Invariant, message: impl Into<String>) -> Violation {
        Violation {
            invariant,
            chat: None,
            agents: Vec::new(),
            at_ms: None,
            message: message.into(),
            evidence: Vec::new(),
        }
    }

    /// About this chat.
    pub fn chat(mut self, chat: u64) -> Violation {
        self.chat = Some(chat);
        self
    }

    /// Concerning this agent.
    pub fn agent(mut self, agent: impl Into<String>) -> Violation {
        let a = agent.into();
        if !self.agents.contains(&a) {
            self.agents.push(a);
        }
        self
    }

    /// At this time.
    pub fn at(mut self, at_ms: f64) -> Violation {
        self.at_ms = Some(at_ms);
        self
    }

    /// With this proving event.
    pub fn proof(mut self, event: impl Into<String>) -> Violation {
        self.evidence.push(event.into());
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.invariant)?;
        if let Some(c) = self.chat {
            write!(f, " chat {c}")?;
        }
        if !self.agents.is_empty() {
            write!(f, " agents {}", self.agents.join(","))?;
        }
        if let Some(t) = self.at_ms {
            write!(f, " at {t:.0} ms")?;
        }
        write!(f, ": {}", self.message)?;
        for e in &self.evidence {
            write!(f, "\n    {e}")?;
        }
        Ok(())
    }
}
