//! Auto-accept routing: which eligible agent gets the next waiting chat.
//!
//! A *pool* holds the agents of one support queue who can take a chat right now
//! (signed in, connected, available, a free slot). Each policy is a pool kept in its
//! own order, so a routing decision is a lookup of the first agent in that order —
//! `O(log n)` — never a scan of every agent. The Desk tells the pool when an agent's
//! load changes ([`Policy::upsert`]) or when the agent stops being eligible
//! ([`Policy::remove`]).
//!
//! Adding a policy is one file: implement [`Policy`] (usually as an [`OrderedPool`]
//! with a key function) and name it in [`new_pool`].

mod fill_first;
mod least_active;
mod longest_idle;
mod most_available;
mod ordered;
mod random;
mod round_robin;

pub use ordered::OrderedPool;

use super::config::PolicyKind;
use super::ids::AgentId;
use super::time::Time;
use rand_chacha::ChaCha8Rng;

/// What a policy may know about an eligible agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Load {
    /// The agent.
    pub agent: AgentId,
    /// Open chats.
    pub open: u8,
    /// Free slots (Available-for N minus open chats), at least 1 in a pool.
    pub free: u8,
    /// Last assignment, or sign-in time if none yet.
    pub idle_since: Time,
    /// Sign-in order, the last tie-break.
    pub sign_in_seq: u64,
}

/// A pool of eligible agents kept in one policy's order.
pub trait Policy: Send {
    /// Adds the agent, or updates its load if present.
    fn upsert(&mut self, load: &Load);
    /// Removes the agent (no longer eligible). Absent agents are ignored.
    fn remove(&mut self, agent: &AgentId);
    /// The agent who should get the next chat, skipping `exclude` (the agent who
    /// transferred the chat). Does not remove it: the Desk upserts the new load.
    fn pick(&mut self, exclude: Option<&AgentId>, rng: &mut ChaCha8Rng) -> Option<AgentId>;
    /// How many agents are in the pool.
    fn len(&self) -> usize;
    /// Whether the agent is in the pool.
    fn contains(&self, agent: &AgentId) -> bool;
    /// Whether the pool is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A new, empty pool for `kind`. `Manual` routes nothing, so it gets no pool.
pub fn new_pool(kind: PolicyKind) -> Option<Box<dyn Policy>> {
    Some(match kind {
        PolicyKind::Manual => return None,
        PolicyKind::RoundRobin => Box::new(round_robin::RoundRobin::default()),
        PolicyKind::LeastActive => Box::new(least_active::pool()),
        PolicyKind::MostAvailable => Box::new(most_available::pool()),
        PolicyKind::LongestIdle => Box::new(longest_idle::pool()),
        PolicyKind::FillFirst => Box::new(fill_first::pool()),
        PolicyKind::Random => Box::new(random::RandomPool::default()),
    })
}

#[cfg(test)]
mod tests;
