//! The event history of a run as the participants saw it: every command a virtual user
//! or agent sent, and every reply, error and notice it received, in the order they
//! happened. Written to `history.jsonl` (one event per line); the routing checker reads
//! it beside the server's journal.
//!
//! Accepted-chat views are kept without their customer record and resources (reference
//! data, the same for every chat) so histories stay small; everything routing
//! correctness depends on — chats, owners, transcripts, notes, tickets — is kept.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use switchboard_server::domain::{AcceptedChat, Command, Notice, Reply, Resources};

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum What {
    /// The participant sent a command.
    Send {
        /// The command.
        command: Command,
    },
    /// The server answered a command.
    Reply {
        /// The reply.
        reply: Reply,
    },
    /// The server refused a command.
    Error {
        /// The error code.
        code: String,
    },
    /// The server told the participant something.
    Notice {
        /// The notice.
        notice: Notice,
    },
    /// The participant's connection failed or closed.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The simulator injected a fault (`[faults]` of the scenario).
    Fault {
        /// Which: `drop` (the connection is closed by the client), `reconnect`, `stall`
        /// (the client stops reading), `resume` (it reads again).
        kind: String,
        /// Details: delays, whether the reconnect is meant to be within the grace period.
        detail: String,
    },
    /// The run ended while the participant was still connected with business left (a
    /// user waiting or in a chat; any agent): the simulator closes its connection. What
    /// the server does about that (a user's open chat abandoned, …) is the run being
    /// torn down, not part of it.
    RunEnd,
}

/// One event of the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Scenario time, milliseconds since the run began.
    pub t_ms: f64,
    /// Real time, microseconds since the run began (live mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_us: Option<u64>,
    /// Who: `agent:<id>` or `user:<id>` (the server's user id).
    pub who: String,
    /// The request id of a command and of its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req: Option<u64>,
    /// What happened.
    #[serde(flatten)]
    pub what: What,
}

/// The view of a taken chat without reference data.
fn slim(view: &AcceptedChat) -> Box<AcceptedChat> {
    Box::new(AcceptedChat {
        customer: None,
        resources: Resources {
            ticket: view.resources.ticket.clone(),
            ..Resources::default()
        },
        ..view.clone()
    })
}

impl What {
    /// The client closes its connection (a fault), to reconnect after `after` of
    /// scenario time, meant to be within the grace period or not.
    pub fn dropped(after: std::time::Duration, within_grace: bool) -> What {
        What::Fault {
            kind: "drop".into(),
            detail: format!(
                "reconnect after {} ms of scenario time ({} the grace period)",
                after.as_millis(),
                if within_grace { "within" } else { "after" }
            ),
        }
    }

    /// Reconnect attempt `attempt` (from 1) after a drop.
    pub fn reconnecting(attempt: u32) -> What {
        What::Fault {
            kind: "reconnect".into(),
            detail: format!("attempt {attempt}"),
        }
    }

    /// A reply, slimmed.
    pub fn reply(reply: &Reply) -> What {
        What::Reply {
            reply: match reply {
                Reply::Accepted(v) => Reply::Accepted(slim(v)),
                other => other.clone(),
            },
        }
    }

    /// A notice, slimmed.
    pub fn notice(notice: &Notice) -> What {
        What::Notice {
            notice: match notice {
                Notice::Assigned(v) => Notice::Assigned(slim(v)),
                Notice::Resumed(v) => Notice::Resumed(slim(v)),
                other => other.clone(),
            },
        }
    }
}

/// One participant's (or a whole run's) history.
#[derive(Debug, Default)]
pub struct History {
    /// Events in the order they were recorded.
    pub events: Vec<Event>,
    /// Whether events are kept at all.
    pub enabled: bool,
}

impl History {
    /// An empty history that keeps events if `enabled`.
    pub fn new(enabled: bool) -> History {
        History {
            events: Vec::new(),
            enabled,
        }
    }

    /// Records one event.
    pub fn push(
        &mut self,
        t_ms: f64,
        real_us: Option<u64>,
        who: &str,
        req: Option<u64>,
        what: What,
    ) {
        if self.enabled {
            self.events.push(Event {
                t_ms,
                real_us,
                who: who.to_string(),
                req,
                what,
            });
        }
    }

    /// Merges many histories into one ordered by time (real time when known), keeping
    /// each participant's own order.
    pub fn merge(parts: Vec<History>) -> History {
        let enabled = parts.iter().any(|h| h.enabled);
        let mut events: Vec<Event> = parts.into_iter().flat_map(|h| h.events).collect();
        events.sort_by(|a, b| {
            let ka = (a.real_us.unwrap_or(0), a.t_ms);
            let kb = (b.real_us.unwrap_or(0), b.t_ms);
            ka.partial_cmp(&kb).unwrap_or(std::cmp::Ordering::Equal)
        });
        History { events, enabled }
    }

    /// Writes `history.jsonl`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut w = BufWriter::new(std::fs::File::create(path)?);
        for e in &self.events {
            serde_json::to_writer(&mut w, e)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    }

    /// Reads a `history.jsonl`, naming the line of anything it cannot read.
    pub fn read(path: &Path) -> Result<History, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut events = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            events.push(
                serde_json::from_str(&line)
                    .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?,
            );
        }
        Ok(History {
            events,
            enabled: true,
        })
    }
}

/// The file name in a run folder.
pub const HISTORY_FILE: &str = "history.jsonl";
