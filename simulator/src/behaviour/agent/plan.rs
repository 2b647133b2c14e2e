//! What the agents of one group do, and the faults they inject, as the scenario
//! says: shared by every agent of the group.

use crate::dist::DurationDist;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_server::domain::{AgentId, ChatId, QueueId};

/// How many times a fault dropped the agent holding each chat, over every agent of a
/// run (only chats that were dropped): whoever takes a chat next draws the drop of
/// its next holding, so that a dropped chat does not drop every agent after in turn,
/// and the first holding draws the same whichever agent a policy gave it.
#[derive(Debug, Default)]
pub struct DroppedChats(Mutex<HashMap<ChatId, u32>>);

impl DroppedChats {
    /// How many times chat `c` was dropped so far.
    pub fn times(&self, c: ChatId) -> u32 {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&c)
            .copied()
            .unwrap_or(0)
    }

    /// Chat `c` was dropped once more.
    pub fn add(&self, c: ChatId) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(c)
            .or_default() += 1;
    }
}

/// Where an agent of a group transfers chats.
#[derive(Clone, Debug)]
pub enum TransferTo {
    /// A support queue.
    Queue(QueueId),
    /// One of these agents, picked at random.
    Agents(Vec<AgentId>),
}

/// The faults agents of a group inject (all off in [`AgentFaults::none`]).
#[derive(Clone, Debug)]
pub struct AgentFaults {
    /// Chance per chat taken that the connection drops during it.
    pub drop_probability: f64,
    /// How long after taking the chat it drops.
    pub drop_after: DurationDist,
    /// Share of drops that reconnect within the grace period.
    pub reconnect_within_grace: f64,
    /// Reconnect delay (capped at half the grace within it, added to it otherwise).
    pub reconnect_delay: DurationDist,
    /// The server's grace period, in scenario time.
    pub grace: Duration,
    /// Pull with no reaction delay and always take the oldest chat.
    pub accept_burst: bool,
    /// Chance per reply sent of transferring the chat right after it.
    pub transfer_close_race: f64,
    /// Where a racing transfer goes when the group has no transfer target.
    pub race_queue: Option<QueueId>,
    /// Under auto-accept, how often "Available for N" flips.
    pub flip_every: Option<DurationDist>,
    /// Chance of becoming a slow consumer (once).
    pub stall_probability: f64,
    /// When the agent stops reading.
    pub stall_at: DurationDist,
    /// For how long.
    pub stall_for: DurationDist,
    /// The chats dropped so far, shared by every agent of the run.
    pub dropped: Arc<DroppedChats>,
}

impl AgentFaults {
    /// No fault at all.
    pub fn none() -> AgentFaults {
        let zero = DurationDist::constant(Duration::ZERO);
        AgentFaults {
            drop_probability: 0.0,
            drop_after: zero,
            reconnect_within_grace: 0.0,
            reconnect_delay: zero,
            grace: Duration::from_secs(30),
            accept_burst: false,
            transfer_close_race: 0.0,
            race_queue: None,
            flip_every: None,
            stall_probability: 0.0,
            stall_at: zero,
            stall_for: zero,
            dropped: Arc::default(),
        }
    }
}

/// What agents of one group do; shared by all of them.
#[derive(Clone, Debug)]
pub struct AgentPlan {
    /// Auto-accept on in the server (agents declare "Available for N").
    pub auto_accept: bool,
    /// This agent pulls chats from Queue by hand: always when auto-accept is off, and
    /// under auto-accept when its group says so (R6).
    pub pulls: bool,
    /// "Available for N" under auto-accept; under manual accept the most chats an agent
    /// pulls at once.
    pub available_for: u8,
    /// Reaction time before accepting by hand.
    pub accept_delay: DurationDist,
    /// Time to answer a message.
    pub reply_delay: DurationDist,
    /// If set, the agent closes each chat this long after taking it.
    pub handle_time: Option<DurationDist>,
    /// Chance of transferring a chat (first agent only), where, and the notes.
    pub transfer: Option<(f64, TransferTo, String)>,
    /// Chance of creating a ticket on a chat.
    pub ticket_probability: f64,
    /// Of tickets, the share of work orders.
    pub work_order_share: f64,
    /// Of tickets, the share made from a template.
    pub template_probability: f64,
    /// Chance of sharing a knowledge article.
    pub share_probability: f64,
    /// Chance of pinning the shared article.
    pub pin_probability: f64,
    /// Fault injection.
    pub faults: AgentFaults,
    /// The run's seed, from which each chat's own generator is derived (see
    /// [`chat_rng`]).
    pub seed: u64,
}

/// A generator of what happens to chat `c` in the hands of its first agent
/// (`transferred` false) or of the agent it was transferred to. It depends on the run's
/// seed and the chat, not on which agent took it, so variants compared on the same seed
/// (`switchboard compare`) give each chat the same work whatever agent their policy
/// picks (common random numbers). `role` keeps apart what is drawn: `chats/work` the
/// steps planned, `chats/timing` the handle time, the delays of the answers and a
/// transfer's target agent, `chats/faults/<n>` the drop of the holding after `n`
/// drops.
pub(crate) fn chat_rng(seed: u64, role: &str, c: ChatId, transferred: bool) -> ChaCha8Rng {
    crate::seed::rng_for(seed, role, c.0.wrapping_mul(2) + u64::from(transferred))
}
