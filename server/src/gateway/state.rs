//! The state every connection shares: the Desk behind its lock, the registry of live
//! connections, counters, tokens — and [`Shared::execute`], the one path by which a
//! command reaches the Desk and its results reach connections and the journal.
//!
//! Locking: the Desk lock (`core`) is never held across an `.await`. After a Desk step
//! the registry lock is taken *before* the Desk lock is released and the frames are
//! pushed with `try_send` after releasing it, so notices reach every connection in
//! the order the Desk produced them while nobody waits on the Desk during fan-out.
//! Lock order: `tokens` → `core` → `registry` → `counters`, and `core` →
//! `queue_counts` (held without taking any other lock).

use super::connection::Outbox;
use crate::config::Limits;
use crate::domain::{
    AgentId, Command, Desk, DeskError, Notice, Principal, QueueId, Recipient, Reply, Time, UserId,
};
use crate::protocol::{self, JournalEntry, JournalResult, ReqId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every
/// critical section here leaves the data consistent before anything can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Live WebSocket connections by participant.
#[derive(Default)]
pub(crate) struct Registry {
    /// The current connection of each agent (a newer one replaces an older one).
    pub agents: HashMap<AgentId, Outbox>,
    /// Each user connection.
    pub users: HashMap<UserId, Outbox>,
}

/// Counters for `/metrics` that the Desk's own stats do not cover.
#[derive(Default)]
pub(crate) struct Counters {
    /// Commands handled by the Desk, by type.
    pub commands: BTreeMap<&'static str, u64>,
    /// Errors sent, by code (Desk and gateway).
    pub errors: BTreeMap<String, u64>,
    /// Message notices delivered (R10).
    pub messages_relayed: u64,
    /// Chats given to agents: `accept`, `accept_transfer`, `auto`.
    pub routing: BTreeMap<&'static str, u64>,
    /// Notices whose recipient had no live connection.
    pub undeliverable: u64,
    /// Connections closed because their outbound queue filled.
    pub slow_consumers: u64,
    /// Connections closed for breaking a limit, by close code.
    pub closed_by_server: BTreeMap<u16, u64>,
    /// WebSocket connections accepted since start.
    pub connections_total: u64,
    /// HTTP requests, by status.
    pub http_requests: BTreeMap<u16, u64>,
}

/// The Desk and what must change in step with it.
pub(crate) struct Core {
    /// The domain core.
    pub desk: Desk,
    /// The journal writer's inbox; taken at shutdown.
    pub journal: Option<mpsc::UnboundedSender<JournalEntry>>,
    /// Journal sequence number of the last entry.
    pub seq: u64,
}

/// Everything connections share.
pub(crate) struct Shared {
    pub core: Mutex<Core>,
    pub registry: Mutex<Registry>,
    pub counters: Mutex<Counters>,
    /// Agent tokens.
    pub tokens: RwLock<HashMap<String, AgentId>>,
    pub admin_token: Option<String>,
    pub limits: Limits,
    /// Desk time zero.
    pub start: Instant,
    pub next_user: AtomicU64,
    pub next_conn: AtomicU64,
    /// Data frames received from clients (counted outside the counters' lock: it is
    /// touched once per frame).
    pub frames_in: AtomicU64,
    /// Journal entries lost because the writer failed (shared with the writer, which
    /// counts the entries it held when it failed).
    pub journal_lost: Arc<AtomicU64>,
    /// Live WebSocket connections (reserved at upgrade).
    pub ws_connections: AtomicUsize,
    pub agent_connections: AtomicUsize,
    pub user_connections: AtomicUsize,
    /// Woken when the Desk's next deadline may have changed.
    pub timer: Notify,
    /// Latest counts of queues that changed since they were last pushed to members
    /// (see [`Shared::push_queue_counts`]).
    pub queue_counts: Mutex<BTreeMap<QueueId, Notice>>,
    /// Read API answers being copied and written at once (see
    /// [`READ_API_RENDERS`]); the others wait their turn, holding nothing.
    pub read_renders: Arc<tokio::sync::Semaphore>,
}

/// Most read API answers copied and written as JSON at once. Each holds its copy of
/// the Desk's state and its JSON (megabytes for a large page) until written: many
/// clients polling large pages at once would otherwise hold as many copies.
pub(crate) const READ_API_RENDERS: usize = 4;

/// An error frame's JSON text.
pub(crate) fn error_frame(req: &Option<ReqId>, code: &str, message: &str) -> Utf8Bytes {
    Utf8Bytes::from(protocol::encode_error(req, code, message))
}

impl Shared {
    /// Desk time now.
    pub(crate) fn now(&self) -> Time {
        Time(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Counts an error code.
    pub(crate) fn count_error(&self, code: &str) {
        *lock(&self.counters)
            .errors
            .entry(code.to_string())
            .or_default() += 1;
    }

    /// Sends each queue's latest counts to its online members: the coalesced
    /// `queue_changed` notices of the last interval.
    pub(crate) fn push_queue_counts(&self) {
        if lock(&self.queue_counts).is_empty() {
            return;
        }
        // Taken out under the Desk's lock (the order `execute_locked` takes them in):
        // the counts cannot be older than the notices of a Desk step after them.
        let core = lock(&self.core);
        let pending = std::mem::take(&mut *lock(&self.queue_counts));
        let batches: Vec<(Vec<AgentId>, Utf8Bytes)> = pending
            .into_iter()
            .map(|(q, notice)| {
                let members = core.desk.online_members(&q).cloned().collect();
                let frame = Utf8Bytes::from(protocol::encode_notice(&notice));
                (members, frame)
            })
            .collect();
        let registry = lock(&self.registry);
        drop(core);
        let mut undeliverable = 0;
        for (members, frame) in batches {
            for a in members {
                // As in `execute_locked`: a member without a connection, or whose queue
                // is full or closing, is not reached.
                let reached = registry
                    .agents
                    .get(&a)
                    .is_some_and(|o| o.push_notice(frame.clone(), &self.counters));
                if !reached {
                    undeliverable += 1;
                }
            }
        }
        if undeliverable > 0 {
            lock(&self.counters).undeliverable += undeliverable;
        }
    }

    /// Runs one command through the Desk, journals it and delivers its notices. With
    /// `me` the reply (or error) is queued to that connection and `Ok(None)` returned;
    /// without, the reply is returned (HTTP admin calls, the timer, disconnects).
    pub(crate) fn execute(
        &self,
        who: &Principal,
        command: Command,
        me: Option<(&Outbox, Option<ReqId>)>,
    ) -> Result<Option<Reply>, DeskError> {
        self.execute_locked(lock(&self.core), who, command, me)
    }

    /// [`Shared::execute`] with the Desk's lock already held (and released inside, as
    /// soon as the Desk step is journaled).
    pub(crate) fn execute_locked(
        &self,
        mut core: MutexGuard<'_, Core>,
        who: &Principal,
        command: Command,
        me: Option<(&Outbox, Option<ReqId>)>,
    ) -> Result<Option<Reply>, DeskError> {
        let name = command.name();
        let now = self.now();
        let logged = core.journal.is_some().then(|| command.clone());
        let before = core.desk.next_deadline();
        let coalesce = self.limits.queue_count_interval_ms > 0;
        let result = core.desk.handle(who, command, now);
        match result {
            Ok(outcome) => {
                let deadline_changed = core.desk.next_deadline() != before;
                let mut relayed = 0;
                // The members a queue-wide notice goes to, by delivery: read from the
                // Desk now, while it is locked. A notice to one participant needs no
                // lookup here (its recipient is in the outcome), so a plain relay step
                // allocates nothing for its targets.
                let mut members: Vec<Vec<AgentId>> = Vec::new();
                for d in &outcome.deliveries {
                    if let Recipient::QueueMembers(q) = &d.to {
                        let agents = if coalesce {
                            // Pushed later with the latest figures (coalesced).
                            lock(&self.queue_counts).insert(q.clone(), d.notice.clone());
                            Vec::new()
                        } else {
                            core.desk.online_members(q).cloned().collect()
                        };
                        members.push(agents);
                    }
                }
                let auto = outcome
                    .deliveries
                    .iter()
                    .filter(|d| matches!(d.notice, Notice::Assigned(_)))
                    .count() as u64;
                if let Some(cmd) = logged {
                    let entry = JournalEntry {
                        seq: core.seq + 1,
                        at_ms: now.as_millis(),
                        wall_ms: wall_ms(),
                        principal: who.clone(),
                        command: cmd,
                        result: JournalResult::Ok {
                            reply: outcome.reply.clone(),
                            deliveries: outcome.deliveries.clone(),
                        },
                    };
                    self.journal(&mut core, entry);
                }
                let accepted = matches!(outcome.reply, Reply::Accepted(_));
                // Take the registry before letting go of the Desk so notices of
                // consecutive Desk steps reach every queue in Desk order; serialising
                // and pushing then happen without holding the Desk.
                let registry = lock(&self.registry);
                drop(core);
                if let Some((outbox, req)) = &me {
                    let frame = protocol::encode_reply(req, name, &outcome.reply);
                    outbox.push(Utf8Bytes::from(frame), &self.counters);
                }
                let mut undeliverable = 0;
                let mut members = members.into_iter();
                for d in &outcome.deliveries {
                    let message = matches!(d.notice, Notice::Message { .. });
                    let encode = || Utf8Bytes::from(protocol::encode_notice(&d.notice));
                    // The frame is made only for a live recipient.
                    // A notice refused by a full queue (its connection is being closed
                    // as a slow consumer) or a closing one reaches nobody either.
                    let mut push = |to: Option<&Outbox>, frame: &dyn Fn() -> Utf8Bytes| match to {
                        Some(o) if o.push_notice(frame(), &self.counters) => {
                            if message {
                                relayed += 1;
                            }
                        }
                        Some(_) | None => undeliverable += 1,
                    };
                    match &d.to {
                        Recipient::Agent(a) => push(registry.agents.get(a), &encode),
                        Recipient::User(u) => push(registry.users.get(u), &encode),
                        Recipient::QueueMembers(_) => {
                            // Encoded once: every member's queue shares the one text.
                            let agents = members.next();
                            debug_assert!(agents.is_some(), "members collected per delivery");
                            let agents = agents.unwrap_or_default();
                            let frame = std::cell::OnceCell::new();
                            for a in &agents {
                                push(registry.agents.get(a), &|| {
                                    frame.get_or_init(encode).clone()
                                });
                            }
                        }
                    }
                }
                drop(registry);
                {
                    let mut c = lock(&self.counters);
                    *c.commands.entry(name).or_default() += 1;
                    c.messages_relayed += relayed;
                    c.undeliverable += undeliverable;
                    if accepted {
                        *c.routing.entry(name).or_default() += 1;
                    }
                    if auto > 0 {
                        *c.routing.entry("auto").or_default() += auto;
                    }
                }
                if deadline_changed {
                    self.timer.notify_one();
                }
                Ok(match me {
                    Some(_) => None,
                    None => Some(outcome.reply),
                })
            }
            Err(e) => {
                if let Some(cmd) = logged {
                    let entry = JournalEntry {
                        seq: core.seq + 1,
                        at_ms: now.as_millis(),
                        wall_ms: wall_ms(),
                        principal: who.clone(),
                        command: cmd,
                        result: JournalResult::Error {
                            code: e.code().to_string(),
                            message: e.to_string(),
                        },
                    };
                    self.journal(&mut core, entry);
                }
                // As for a reply: the error follows, on its connection, the notices of
                // the Desk steps before it (their pushes hold the registry).
                let registry = me.is_some().then(|| lock(&self.registry));
                drop(core);
                {
                    let mut c = lock(&self.counters);
                    *c.commands.entry(name).or_default() += 1;
                    *c.errors.entry(e.code().to_string()).or_default() += 1;
                }
                if let Some((outbox, req)) = me {
                    outbox.push(error_frame(&req, e.code(), &e.to_string()), &self.counters);
                    drop(registry);
                    return Ok(None);
                }
                Err(e)
            }
        }
    }

    /// Hands an entry to the journal writer; one it cannot take (the writer failed)
    /// is counted as lost and its `seq` is not used, so the file has no gaps.
    fn journal(&self, core: &mut Core, entry: JournalEntry) {
        let Some(tx) = &core.journal else { return };
        if tx.send(entry).is_ok() {
            core.seq += 1;
        } else {
            self.journal_lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends the Desk a `Tick` if a grace period has run out.
    pub(crate) fn tick(&self) {
        let due = {
            let core = lock(&self.core);
            core.desk.next_deadline().is_some_and(|d| d <= self.now())
        };
        if due {
            // A tick from the system never fails; a failure would be harmless.
            let _ = self.execute(&Principal::System, Command::Tick, None);
        }
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
