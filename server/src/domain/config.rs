//! Routing configuration and the documented assumptions for behaviour the seed leaves
//! open (what disconnects do, whether queue transfers are auto-routed).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The most chats an agent may declare "Available for" (R2), and the highest
/// `max_transfer_accepts` may be set to (R6: the most an agent may hold accepted from
/// Transferred under auto-accept).
pub const MAX_AVAILABLE_FOR: u8 = 4;

/// How queued chats are given to agents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// No auto-accept: agents pull chats from Queue themselves.
    Manual,
    /// Agents in sign-in order, continuing after the last one picked in that queue.
    RoundRobin,
    /// Fewest open chats first.
    #[default]
    LeastActive,
    /// Largest free capacity (Available-for N minus open chats) first.
    MostAvailable,
    /// Longest since last assignment first.
    LongestIdle,
    /// The busiest agent that still has a free slot, so one fills before the next.
    FillFirst,
    /// Uniformly at random among agents with a free slot (seeded).
    Random,
}

impl PolicyKind {
    /// Every policy, in documentation order.
    pub const ALL: [PolicyKind; 7] = [
        PolicyKind::Manual,
        PolicyKind::RoundRobin,
        PolicyKind::LeastActive,
        PolicyKind::MostAvailable,
        PolicyKind::LongestIdle,
        PolicyKind::FillFirst,
        PolicyKind::Random,
    ];

    /// The policy's name as written in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Manual => "manual",
            PolicyKind::RoundRobin => "round-robin",
            PolicyKind::LeastActive => "least-active",
            PolicyKind::MostAvailable => "most-available",
            PolicyKind::LongestIdle => "longest-idle",
            PolicyKind::FillFirst => "fill-first",
            PolicyKind::Random => "random",
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyKind::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = PolicyKind::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown policy `{s}`; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}

/// What happens to a user's open chat when the user's connection drops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserDisconnect {
    /// The chat ends as abandoned, whether or not an agent had joined.
    #[default]
    Abandon,
    /// An accepted chat ends as closed by the user; one still waiting is abandoned.
    Close,
}

/// The auto-accept settings an admin controls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Agent Auto Accept (R6/R7). When on, agents declare "Available for N".
    pub auto_accept: bool,
    /// Which agent gets the next waiting chat under auto-accept.
    pub policy: PolicyKind,
    /// Under auto-accept, the most open chats an agent may hold that they accepted
    /// from Transferred (R6: four).
    pub max_transfer_accepts: u8,
    /// Under auto-accept, whether a chat transferred to a support queue is routed
    /// automatically like a new one (assumption: yes). When off it waits in the
    /// Transferred list of the queue's agents.
    pub route_queue_transfers: bool,
    /// "Available for N" assumed for an agent who signs in while auto-accept is on
    /// and has not declared N yet (0 = not available until they do).
    pub default_available_for: u8,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            auto_accept: false,
            policy: PolicyKind::LeastActive,
            max_transfer_accepts: MAX_AVAILABLE_FOR,
            route_queue_transfers: true,
            default_available_for: 1,
        }
    }
}

impl RoutingConfig {
    /// Whether waiting chats are assigned by the Desk rather than pulled by agents.
    pub fn routes_automatically(&self) -> bool {
        self.auto_accept && self.policy != PolicyKind::Manual
    }

    /// Checks the settings, naming the first field that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.auto_accept && self.policy == PolicyKind::Manual {
            return Err("policy `manual` means auto-accept off; set auto_accept = false or pick another policy".into());
        }
        if !(1..=MAX_AVAILABLE_FOR).contains(&self.max_transfer_accepts) {
            return Err(format!(
                "max_transfer_accepts must be 1..={MAX_AVAILABLE_FOR}, got {}",
                self.max_transfer_accepts
            ));
        }
        if self.default_available_for > MAX_AVAILABLE_FOR {
            return Err(format!(
                "default_available_for must be 0..={MAX_AVAILABLE_FOR}, got {}",
                self.default_available_for
            ));
        }
        Ok(())
    }
}

/// Documented assumptions for connections that drop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisconnectRules {
    /// How long an agent whose connection dropped keeps their open chats. If they sign
    /// in again within it they resume them; after it the chats go back to the front of
    /// their queue, keeping their age, and transfers addressed to the agent go to the
    /// chat's queue.
    #[serde(with = "millis")]
    pub agent_grace: Duration,
    /// What a user's disconnect does to their open chats.
    pub user: UserDisconnect,
}

impl Default for DisconnectRules {
    fn default() -> Self {
        DisconnectRules {
            agent_grace: Duration::from_secs(30),
            user: UserDisconnect::Abandon,
        }
    }
}

/// Everything the Desk is configured with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeskConfig {
    /// Auto-accept settings.
    pub routing: RoutingConfig,
    /// Disconnect assumptions.
    pub disconnect: DisconnectRules,
    /// Seed of the Desk's own randomness (the `random` policy).
    pub seed: u64,
}

/// Serde helper: a `Duration` as whole milliseconds.
pub mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes the duration as milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Reads milliseconds into a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
