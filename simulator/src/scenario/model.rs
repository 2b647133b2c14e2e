//! The scenario file's data model, as serde reads it. Unknown fields are refused;
//! distributions, durations, rates and thresholds are parsed while reading, so their
//! errors carry the position of the value. Cross-field rules are in `validate`.

use crate::dist::{Arrival, CountDist, DurationDist, format_duration, parse_duration};
use crate::threshold::Threshold;
use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;
use switchboard_server::domain::config::MAX_AVAILABLE_FOR;
use switchboard_server::domain::{ChatSource, PolicyKind, RoutingConfig};

/// A whole scenario: what to simulate, for how long, and what counts as passing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Identifies the scenario in reports and output folders (required: missing, it
    /// is reported with the rest of the file's problems).
    #[serde(default)]
    pub name: String,
    /// Free text shown in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Master seed; every random choice derives from it.
    #[serde(default)]
    pub seed: u64,
    /// Scenario time during which users arrive (required, as `name`).
    #[serde(default, with = "duration_text")]
    pub duration: Duration,
    /// Scenario time after arrivals stop for open chats to finish.
    #[serde(default = "defaults::drain", with = "duration_text")]
    pub drain: Duration,
    /// Live mode: scenario seconds per real second.
    #[serde(default = "defaults::time_scale")]
    pub time_scale: f64,
    /// Accept waits up to this count towards the service level.
    #[serde(default = "defaults::service_level_target", with = "duration_text")]
    pub service_level_target: Duration,
    /// Auto-accept and the routing policy.
    #[serde(default)]
    pub routing: RoutingSpec,
    /// Support queues.
    #[serde(default)]
    pub queues: Vec<QueueSpec>,
    /// Groups of identical agents.
    #[serde(default)]
    pub agents: Vec<AgentGroup>,
    /// Streams of arriving users.
    #[serde(default)]
    pub users: Vec<UserStream>,
    /// Pass/fail conditions evaluated at the end.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Fault injection (all off by default).
    #[serde(default, skip_serializing_if = "FaultSpec::is_off")]
    pub faults: FaultSpec,
}

/// `[faults]`: fault injection. Every fault is off by default; every random choice
/// comes from the participant's own generator (derived from the master seed), and every
/// injected fault is recorded in the history as a `fault` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The embedded server's agent grace period, in scenario time (the server gets it
    /// divided by `time_scale`); absent: the server's default (30 s of server time).
    #[serde(
        default,
        with = "opt_duration_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub agent_grace: Option<Duration>,
    /// The embedded server's outbound queue per connection, in frames (slow consumers
    /// are closed with 1008 when it fills); absent: the server's default (1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_queue: Option<usize>,
    /// Chance per chat an agent takes that its connection drops during the chat.
    #[serde(default)]
    pub drop_probability: f64,
    /// How long after taking the chat the connection drops.
    #[serde(default = "defaults::drop_after")]
    pub drop_after: DurationDist,
    /// Of dropped agents, the share that reconnect within the grace period (and resume
    /// their chats); the others reconnect only after it ran out.
    #[serde(default)]
    pub reconnect_within_grace: f64,
    /// Reconnect delay: within the grace period capped at half of it; otherwise added
    /// to it.
    #[serde(default = "defaults::reconnect_delay")]
    pub reconnect_delay: DurationDist,
    /// Chance per user of closing the chat the instant an agent joins.
    #[serde(default)]
    pub abandon_on_join: f64,
    /// Agents who pull by hand do it with no reaction delay and all take the oldest
    /// chat: bursts of simultaneous accepts of one chat.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_burst: bool,
    /// Chance per agent reply that the agent transfers the chat right after it (to the
    /// group's transfer target, or back to its first queue), and per agent message a
    /// user receives that the user closes the chat at once: transfers racing closes.
    #[serde(default)]
    pub transfer_close_race: f64,
    /// Agents under auto-accept change their "Available for N" (to a random 0..=N) this
    /// often, while chats are being routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_flip_every: Option<DurationDist>,
    /// Chance per agent of becoming a slow consumer once: it stops reading its socket.
    #[serde(default)]
    pub slow_consumer_probability: f64,
    /// When (scenario time since the start) the slow consumer stops reading.
    #[serde(default = "defaults::slow_consumer_at")]
    pub slow_consumer_at: DurationDist,
    /// How long it stops reading.
    #[serde(default = "defaults::slow_consumer_stall")]
    pub slow_consumer_stall: DurationDist,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec::default_off()
    }
}

impl FaultSpec {
    /// Whether no fault is injected and no server setting changed.
    pub fn is_off(&self) -> bool {
        *self == FaultSpec::default_off()
    }

    /// Whether connections may drop (injected or closed by the server), so agents
    /// reconnect after a drop instead of leaving the run.
    pub fn reconnects(&self) -> bool {
        self.drop_probability > 0.0 || self.slow_consumer_probability > 0.0
    }

    /// `[faults]` as if absent (the serde defaults).
    pub fn default_off() -> FaultSpec {
        FaultSpec {
            agent_grace: None,
            outbound_queue: None,
            drop_probability: 0.0,
            drop_after: defaults::drop_after(),
            reconnect_within_grace: 0.0,
            reconnect_delay: defaults::reconnect_delay(),
            abandon_on_join: 0.0,
            accept_burst: false,
            transfer_close_race: 0.0,
            availability_flip_every: None,
            slow_consumer_probability: 0.0,
            slow_consumer_at: defaults::slow_consumer_at(),
            slow_consumer_stall: defaults::slow_consumer_stall(),
        }
    }
}

/// `[routing]`: the admin's auto-accept settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSpec {
    /// Agent Auto Accept. When absent: on unless `policy` is `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_accept: Option<bool>,
    /// Which agent gets the next waiting chat.
    #[serde(default, deserialize_with = "policy_text")]
    pub policy: PolicyKind,
    /// Under auto-accept, the most chats an agent may hold from Transferred (1..=4).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_slots"
    )]
    pub max_transfer_accepts: Option<u8>,
    /// Under auto-accept, whether a chat transferred to a queue is routed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_queue_transfers: Option<bool>,
}

impl Default for RoutingSpec {
    fn default() -> Self {
        RoutingSpec {
            auto_accept: None,
            policy: PolicyKind::LeastActive,
            max_transfer_accepts: None,
            route_queue_transfers: None,
        }
    }
}

impl RoutingSpec {
    /// Whether auto-accept is on: as written, or on for every policy but `manual`.
    pub fn auto_accept(&self) -> bool {
        self.auto_accept
            .unwrap_or(self.policy != PolicyKind::Manual)
    }

    /// The Desk's routing configuration for this scenario.
    pub fn to_config(&self) -> RoutingConfig {
        let base = RoutingConfig::default();
        RoutingConfig {
            auto_accept: self.auto_accept(),
            policy: self.policy,
            max_transfer_accepts: self
                .max_transfer_accepts
                .unwrap_or(base.max_transfer_accepts),
            route_queue_transfers: self
                .route_queue_transfers
                .unwrap_or(base.route_queue_transfers),
            ..base
        }
    }
}

/// `[[queues]]`: a support queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// The queue's name, referred to by agent groups and user streams.
    pub name: String,
}

/// `[[agents]]`: `count` agents that behave alike.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentGroup {
    /// The group's name; agents are named `<group>-<n>`.
    pub group: String,
    /// How many agents.
    #[serde(deserialize_with = "group_size")]
    pub count: u32,
    /// Support queues the agents belong to.
    pub queues: Vec<String>,
    /// "Available for N" under auto-accept (1..=4); under manual accept the most
    /// chats an agent pulls at once.
    #[serde(default = "defaults::available_for", deserialize_with = "slots")]
    pub available_for: u8,
    /// Reaction time before accepting a chat manually (from Queue or Transferred).
    #[serde(default = "defaults::accept_delay")]
    pub accept_delay: DurationDist,
    /// Time to answer a user's message.
    #[serde(default = "defaults::reply_delay")]
    pub reply_delay: DurationDist,
    /// If set, each conversation lasts exactly this long from accept to close (the
    /// agent closes it; the user never ends it early).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle_time: Option<DurationDist>,
    /// Transferring a chat elsewhere, with notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferSpec>,
    /// Creating a ticket from the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketSpec>,
    /// Chance per chat of sharing a knowledge article.
    #[serde(default)]
    pub share_article_probability: f64,
    /// Chance per chat with a ticket of pinning the shared article on it.
    #[serde(default)]
    pub pin_article_probability: f64,
    /// Under auto-accept, these agents still pull chats from Queue by hand (R6): they
    /// declare "Available for 0", so nothing is routed to them, and accept up to
    /// `available_for` chats themselves after `accept_delay`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual_accept: bool,
}

/// `transfer = { … }` on an agent group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSpec {
    /// Chance per accepted chat (first accept only) of transferring it.
    pub probability: f64,
    /// Transfer to this support queue…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_queue: Option<String>,
    /// …or to an agent of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_agent_group: Option<String>,
    /// Notes handed to the next agent.
    #[serde(default)]
    pub notes: String,
}

/// `ticket = { … }` on an agent group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSpec {
    /// Chance per chat of creating a ticket.
    pub probability: f64,
    /// Of those tickets, the share that are work orders (the rest are incidents).
    #[serde(default)]
    pub work_order_share: f64,
    /// Of those tickets, the share created from a template (R13).
    #[serde(default)]
    pub template_probability: f64,
}

/// `[[users]]`: a stream of users arriving at one queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserStream {
    /// Names the stream in reports and `--set` keys; defaults to the queue's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The support queue the users ask.
    pub queue: String,
    /// When users arrive.
    pub arrival: Arrival,
    /// How long a user waits for an agent before abandoning; absent: forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<DurationDist>,
    /// Messages the user sends in the conversation.
    #[serde(default = "defaults::messages")]
    pub messages: CountDist,
    /// Time between the user's messages.
    #[serde(default = "defaults::think_time")]
    pub think_time: DurationDist,
    /// Where the chat request comes from (R15).
    #[serde(default)]
    pub source: ChatSource,
}

impl UserStream {
    /// The stream's name: `name`, or the queue's.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.queue)
    }
}

/// `[thresholds]`, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds(pub Vec<Threshold>);

/// Defaults of optional fields (documented in `docs/scenarios.md`).
pub mod defaults {
    use super::*;

    /// `drain`: 5 minutes.
    pub fn drain() -> Duration {
        Duration::from_secs(300)
    }
    /// `time_scale`: real time.
    pub fn time_scale() -> f64 {
        1.0
    }
    /// `service_level_target`: 60 seconds.
    pub fn service_level_target() -> Duration {
        Duration::from_secs(60)
    }
    /// `available_for`: 1.
    pub fn available_for() -> u8 {
        1
    }
    /// `accept_delay`: 5 seconds.
    pub fn accept_delay() -> DurationDist {
        DurationDist::constant(Duration::from_secs(5))
    }
    /// `reply_delay`: `exp(mean=20s)`.
    pub fn reply_delay() -> DurationDist {
        DurationDist::parse("exp(mean=20s)").expect("a valid built-in default")
    }
    /// `messages`: 3.
    pub fn messages() -> CountDist {
        CountDist::constant(3)
    }
    /// `think_time`: `exp(mean=15s)`.
    pub fn think_time() -> DurationDist {
        DurationDist::parse("exp(mean=15s)").expect("a valid built-in default")
    }
    /// `faults.drop_after`: `uniform(1s, 20s)`.
    pub fn drop_after() -> DurationDist {
        DurationDist::parse("uniform(1s, 20s)").expect("a valid built-in default")
    }
    /// `faults.reconnect_delay`: `uniform(1s, 5s)`.
    pub fn reconnect_delay() -> DurationDist {
        DurationDist::parse("uniform(1s, 5s)").expect("a valid built-in default")
    }
    /// `faults.slow_consumer_at`: `uniform(10s, 60s)`.
    pub fn slow_consumer_at() -> DurationDist {
        DurationDist::parse("uniform(10s, 60s)").expect("a valid built-in default")
    }
    /// `faults.slow_consumer_stall`: 10 seconds.
    pub fn slow_consumer_stall() -> DurationDist {
        DurationDist::constant(Duration::from_secs(10))
    }
}

/// Durations written as text (`"10m"`) in the file.
mod duration_text {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"10m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write \"{v}s\", not {v}"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write \"{v}s\", not {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// Optional durations written as text.
mod opt_duration_text {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => duration_text::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        duration_text::deserialize(d).map(Some)
    }
}

/// A whole number whose type error names the documented range (`count = "two"`:
/// "expected a whole number from 1 to 1000000") rather than the range of the Rust
/// type holding it. The documented range itself is checked in `validate`, with the
/// rule it comes from; here a value is refused only when the type cannot hold it.
fn whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
    d: D,
    range: fmt::Arguments<'_>,
) -> Result<T, D::Error> {
    struct Whole<'a, T>(fmt::Arguments<'a>, std::marker::PhantomData<T>);
    impl<'de, T: TryFrom<u64>> Visitor<'de> for Whole<'_, T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a whole number from {}", self.0)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
            let unexpected = || E::invalid_value(serde::de::Unexpected::Signed(v), &self);
            let v = u64::try_from(v).map_err(|_| unexpected())?;
            T::try_from(v).map_err(|_| unexpected())
        }
    }
    d.deserialize_u64(Whole(range, std::marker::PhantomData))
}

/// `count`: agents in a group.
fn group_size<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    whole(d, format_args!("1 to {}", super::validate::MAX_GROUP))
}

/// `available_for`: "Available for N".
fn slots<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    whole(d, format_args!("1 to {MAX_AVAILABLE_FOR}"))
}

/// `max_transfer_accepts`, when given.
fn opt_slots<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    slots(d).map(Some)
}

fn policy_text<'de, D: Deserializer<'de>>(d: D) -> Result<PolicyKind, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

impl Serialize for Thresholds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|t| (&t.key, &t.condition)))
    }
}

/// Parses one threshold's condition knowing its key, so that an error carries the
/// position of that entry.
struct ConditionSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for ConditionSeed<'_> {
    type Value = Threshold;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Threshold, D::Error> {
        struct Condition<'a>(&'a str);
        impl<'de> Visitor<'de> for Condition<'_> {
            type Value = Threshold;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                use crate::threshold::{Subject, ValueUnit};
                // An example in the key's own unit.
                let example = match Subject::parse(self.0).map(|s| s.unit()) {
                    Ok(ValueUnit::Ms) => "< 60s",
                    Ok(ValueUnit::Count) => "== 0",
                    _ => "< 5%",
                };
                write!(
                    f,
                    "a condition in quotes: an operator and a limit, such as \"{example}\""
                )
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Threshold, E> {
                Threshold::parse(self.0, text).map_err(E::custom)
            }
            // `accept_wait.p95 = "< 60s"` without quotes around the key: TOML splits the
            // key at its dots and reads a table `accept_wait` holding `p95` (and
            // `queues.hw.service_level`, tables two deep): the key is put back together.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Threshold, A::Error> {
                let mut key = self.0.to_string();
                match map.next_key::<String>()? {
                    Some(inner) => {
                        key = format!("{key}.{inner}");
                        let mut value: toml::Value = map.next_value()?;
                        while let toml::Value::Table(t) = value {
                            let Some((k, v)) = t.into_iter().next() else {
                                break;
                            };
                            key = format!("{key}.{k}");
                            value = v;
                        }
                    }
                    None => key.push_str(".p95"),
                }
                let example = match crate::threshold::Subject::parse(&key).map(|s| s.unit()) {
                    Ok(crate::threshold::ValueUnit::Ms) => "< 60s",
                    Ok(crate::threshold::ValueUnit::Count) => "== 0",
                    _ if key.ends_with("service_level") || key.ends_with("fairness") => ">= 80%",
                    _ => "< 5%",
                };
                Err(serde::de::Error::custom(format!(
                    "a key with dots must be in quotes, or TOML reads it as a table: write \
                     \"{key}\" = \"{example}\""
                )))
            }
        }
        d.deserialize_any(Condition(self.0))
    }
}

impl<'de> Deserialize<'de> for Thresholds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Thresholds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of \"metric\" = \"condition\" entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Thresholds, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    out.push(map.next_value_seed(ConditionSeed(&key))?);
                }
                Ok(Thresholds(out))
            }
        }
        d.deserialize_map(V)
    }
}
