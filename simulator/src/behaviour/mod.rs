//! Virtual users and agents, written once as event-driven state machines and driven by
//! two runtimes: live (tokio timers and one WebSocket per participant) and virtual time
//! (an event queue calling the Desk directly).
//!
//! A participant reacts to an [`Input`] — its start, a timer it set, the reply or error
//! to a command it sent, a notice from the server — by pushing [`Effects`]: commands to
//! send (each with a tag the runtime echoes back as the request id) and timers to set.
//! It never sleeps, reads a clock or touches a socket; `now` is scenario time since the
//! run began. Stale timers are told apart by the participant itself.
//!
//! Scenario-time metrics (`accept_wait`, `transfer_wait`, `handle_time`) and counters
//! are recorded here, from the *intended* time of each action; transport metrics belong
//! to the live runtime.

pub mod agent;
pub mod heard;
pub mod user;

pub use agent::{AgentBot, AgentFaults, AgentPlan};
pub use user::{UserBot, UserPlan};

use crate::metrics::Recorder;
use rand::Rng as _;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use switchboard_server::domain::{ChatId, Command, Notice, Reply};

/// A request tag chosen by the participant and echoed with the reply.
pub type Tag = u64;

/// A timer a participant set, handed back when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The user's patience ran out (valid for this wait generation only).
    Patience(u32),
    /// The user sends the next message (valid for this flow generation only).
    UserMessage(u32),
    /// The user ends the conversation.
    UserClose(u32),
    /// The agent answers the user's latest message in this chat. Per-chat agent timers
    /// carry the holding they were set for (the agent's count of chats taken when it
    /// took the chat): one left over from an earlier holding of the same chat is void.
    AgentReply(ChatId, u64),
    /// The agent does the next planned step (article, ticket, transfer) in this chat.
    AgentWork(ChatId, u64),
    /// The agent's handle time for this chat is over: close it.
    AgentClose(ChatId, u64),
    /// The agent looks at Queue / Transferred to pull a chat (manual accept).
    Pull,
    /// The agent accepts a transfer addressed to them.
    TakeTransfer(ChatId),
    /// The agent, back from a drop, lists Transferred again (the first listing was
    /// refused).
    ListOffers,
    /// Fault injection: the agent's connection drops (if it still holds this chat, in
    /// the same holding).
    FaultDrop(ChatId, u64),
    /// Fault injection: the agent changes its "Available for N".
    FaultFlip,
    /// Fault injection: the agent stops reading its socket.
    FaultStall,
}

/// A transport fault a participant asks its runtime to inject (the runtime records it
/// in the history as a `fault` event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection now; connect again (same token) and start over with
    /// [`Input::Start`] after this much scenario time.
    Drop {
        /// Scenario time until the reconnect.
        reconnect_after: Duration,
        /// Whether the reconnect is meant to land within the server's grace period.
        within_grace: bool,
    },
    /// Stop reading the connection for this much scenario time (a slow consumer).
    Stall {
        /// Scenario time without reading.
        stall: Duration,
    },
}

/// What a participant is told.
#[derive(Debug)]
pub enum Input<'a> {
    /// The participant's start time came.
    Start,
    /// A timer it set fired.
    Timer(Timer),
    /// The reply to the command sent with this tag.
    Reply(Tag, &'a Reply),
    /// The command sent with this tag was refused with this error code.
    Error(Tag, &'a str),
    /// A notice from the server.
    Notice(&'a Notice),
    /// The connection dropped (injected or closed by the server); replies to commands
    /// in flight will never come. An [`Input::Start`] follows when it reconnects.
    Disconnected,
}

/// What a participant wants done, collected per input.
#[derive(Debug, Default)]
pub struct Effects {
    /// Commands to send, in order.
    pub send: Vec<(Tag, Command)>,
    /// Timers to set: fire after this much scenario time.
    pub timers: Vec<(Duration, Timer)>,
    /// A transport fault to inject after the commands are sent.
    pub fault: Option<Fault>,
}

impl Effects {
    /// Empties the effects for the next input.
    pub fn clear(&mut self) {
        self.send.clear();
        self.timers.clear();
        self.fault = None;
    }
}

/// A virtual participant: a user or an agent.
pub trait Participant {
    /// Reacts to one input at scenario time `now`.
    fn on(&mut self, now: Duration, input: Input<'_>, fx: &mut Effects, rec: &mut Recorder);

    /// The run is over at `now`: count what is still open.
    fn finish(&mut self, now: Duration, rec: &mut Recorder);

    /// The support queue a user asks (what its chat counts towards); `None` for an
    /// agent.
    fn queue(&self) -> Option<&str> {
        None
    }
}

/// Counts an error reply by its code.
fn count_error(rec: &mut Recorder, code: &str) {
    rec.counters.error(code);
}

/// `true` with probability `p`, drawing nothing when `p` is 0 (so a run without
/// faults draws the same numbers as before faults existed).
fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && rng.random_bool(p.clamp(0.0, 1.0))
}
