//! Virtual time: the scenario's users and agents (the same behaviour models the live
//! mode runs) driven by a discrete-event queue against the server's own Desk, called
//! directly — no sockets, no tokio, no wall clock. The same scenario and seed give the
//! same run, event for event.
//!
//! Transport is instantaneous: a command's reply and the notices it causes are
//! delivered at the instant it was sent, in the order the Desk produced them. Queue
//! counts are the exception, as in live mode: the server coalesces them and pushes the
//! latest of each queue once per [`QUEUE_COUNTS_EVERY`] of scenario time.
//!
//! Faults: an agent's connection drop is the Desk's `Disconnect` for that agent; until
//! it reconnects (a `SignIn` after the asked delay) its answers and notices are lost
//! and its commands wait, as in live mode; back within the grace period, the user's
//! messages it missed reach it in the chats the Desk resumes ([`Heard`]). Slow consumers are not modelled (transport
//! is instantaneous; there is no outbound queue to fill): the stall is ignored.

mod gauges;

use crate::behaviour::heard::Heard;
use crate::behaviour::{AgentBot, Effects, Fault, Input, Participant, Tag, Timer, UserBot};
use crate::cast::Cast;
use crate::event_queue::EventQueue;
use crate::history::{History, What};
use crate::metrics::Recorder;
use crate::scenario::Scenario;
use rand::seq::SliceRandom as _;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use switchboard_server::domain::{
    AgentId, Command, Desk, DeskError, Notice, Principal, QueueId, Recipient, Reply, Time, UserId,
};
use switchboard_server::protocol::{JournalEntry, JournalResult};
use thiserror::Error;

/// Runs expecting more users than this drop ended chats from the Desk.
pub const LARGE_RUN_USERS: f64 = 200_000.0;

/// How often queue counts reach the agents: one second of scenario time, as the
/// embedded server of a live run pushes them (its `queue_count_interval_ms` is a second
/// of scenario time in real time). Boundaries are whole multiples from the start.
pub const QUEUE_COUNTS_EVERY: Duration = Duration::from_secs(1);

/// Why a virtual run could not start.
#[derive(Debug, Error)]
pub enum VirtualError {
    /// The scenario does not make a valid Desk.
    #[error("the scenario does not make a valid desk: {0}")]
    Desk(#[from] DeskError),
}

/// What happens at an instant of virtual time.
#[derive(Debug)]
enum Event {
    /// The next user of a stream arrives.
    Arrival(usize),
    /// A participant starts.
    Start(Pid),
    /// A participant's timer fires.
    Timer(Pid, Timer),
    /// The reply or error to a participant's command.
    Answer(Pid, Tag, Result<Rc<Reply>, &'static str>),
    /// A notice for a participant.
    Notice(Pid, Rc<Notice>),
    /// A grace period of the Desk runs out.
    Tick,
    /// A dropped agent connects again.
    Reconnect(usize),
    /// The coalesced queue counts go out.
    QueueCounts,
}

/// Who an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pid {
    /// An agent, by index.
    Agent(usize),
    /// A user, by number.
    User(u64),
    /// The Desk's own timekeeping.
    System,
}

/// Counts of what a virtual run did, for the events-per-second figure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Events processed.
    pub events: u64,
    /// Commands the Desk handled.
    pub commands: u64,
    /// Users who arrived.
    pub users: u64,
    /// Scenario time the run ended at: the horizon, or — as a live run does — the
    /// first instant after the arrivals when every user has left (never before the
    /// arrivals end).
    pub end: Duration,
}

/// A virtual-time run of one scenario.
pub struct VirtualRun {
    desk: Desk,
    queue: EventQueue<Duration, Event>,
    agents: Vec<AgentBot>,
    agent_index: HashMap<AgentId, usize>,
    /// Per queue, the agents who pull chats by hand (and so read queue counts).
    pullers: HashMap<QueueId, Vec<usize>>,
    /// The latest counts of each queue that changed since they last went out, and
    /// when they go out next.
    pending_counts: BTreeMap<QueueId, Rc<Notice>>,
    counts_at: Option<Duration>,
    /// Orders the pullers told of new counts at one instant: the first to hear acts
    /// first, and a fixed order would give every race for a chat to the same agent.
    puller_order: ChaCha8Rng,
    users: HashMap<u64, UserBot>,
    streams: Vec<Stream>,
    next_user: u64,
    horizon: Duration,
    /// When arrivals stop (the scenario's `duration`).
    arrivals_end: Duration,
    /// Streams with an arrival still to come.
    streams_open: usize,
    rec: Recorder,
    fx: Effects,
    tick_at: Option<Time>,
    stats: RunStats,
    history: History,
    gauge_at: Duration,
    /// The Desk's journal, as the server would write it (kept with the history).
    journal: Vec<JournalEntry>,
    /// Per agent: its connection is down (fault injection).
    offline: Vec<bool>,
    /// Per agent: commands issued while offline, sent after the next sign-in.
    waiting: Vec<Vec<(Tag, Command)>>,
    /// Per agent: what it has heard of its chats, for the messages a resumed chat
    /// brings ([`Heard`]); empty when no connection drops.
    heard: Vec<Heard>,
}

struct Stream {
    arrivals: Box<dyn Iterator<Item = Duration>>,
    plan: Arc<crate::behaviour::UserPlan>,
    rngs: Box<dyn FnMut(u64) -> ChaCha8Rng>,
    count: u64,
}

impl VirtualRun {
    /// Sets up the Desk and the cast of `scenario`.
    pub fn new(scenario: &Scenario) -> Result<VirtualRun, VirtualError> {
        let cast = Cast::of(&scenario.in_virtual_time());
        let mut desk = Desk::new(
            cast.desk.clone(),
            cast.queues.clone(),
            cast.profiles.clone(),
            cast.reference.clone(),
        )?;
        // A day of a large centre would keep gigabytes of ended transcripts nobody
        // reads again: past this size the Desk drops chats as they end.
        desk.forget_ended_chats(scenario.expected_users() > LARGE_RUN_USERS);
        let mut queue = EventQueue::default();
        let agents: Vec<AgentBot> = cast
            .agents
            .iter()
            .map(|r| {
                AgentBot::new(
                    r.id.clone(),
                    r.plan.clone(),
                    scenario.agent_rng(r.group, r.index),
                )
            })
            .collect();
        let agent_index = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id().clone(), i))
            .collect();
        let mut pullers: HashMap<QueueId, Vec<usize>> = HashMap::new();
        for (i, (role, bot)) in cast.agents.iter().zip(&agents).enumerate() {
            if bot.wants_queue_counts() {
                let profile = cast.profiles.iter().find(|p| p.id == role.id);
                for q in profile.map_or(&[][..], |p| &p.queues[..]) {
                    pullers.entry(q.clone()).or_default().push(i);
                }
            }
        }
        for i in 0..agents.len() {
            queue.push(Duration::ZERO, Event::Start(Pid::Agent(i)));
        }
        let mut streams = Vec::new();
        let mut streams_open = 0;
        for (s, plan) in cast.user_plans.iter().enumerate() {
            let mut arrivals = scenario
                .arrival_schedule(s)
                .expect("every stream has a schedule");
            if let Some(first) = arrivals.next() {
                queue.push(first, Event::Arrival(s));
                streams_open += 1;
            }
            let sc = scenario.clone();
            streams.push(Stream {
                arrivals: Box::new(arrivals),
                plan: plan.clone(),
                rngs: Box::new(move |n| sc.user_rng(s, n)),
                count: 0,
            });
        }
        let n_agents = agents.len();
        Ok(VirtualRun {
            offline: vec![false; n_agents],
            waiting: vec![Vec::new(); n_agents],
            // Only agents whose connection drops can resume a chat.
            heard: if scenario.faults.reconnects() {
                (0..n_agents).map(|_| Heard::default()).collect()
            } else {
                Vec::new()
            },
            desk,
            queue,
            agents,
            agent_index,
            pullers,
            pending_counts: BTreeMap::new(),
            counts_at: None,
            puller_order: scenario.rng("virtual puller order"),
            users: HashMap::new(),
            streams,
            next_user: 0,
            horizon: scenario.horizon(),
            arrivals_end: scenario.duration.min(scenario.horizon()),
            streams_open,
            rec: Recorder::new(scenario.service_level_target)
                .with_interval(crate::metrics::default_interval(scenario.horizon())),
            fx: Effects::default(),
            tick_at: None,
            stats: RunStats::default(),
            history: History::new(false),
            gauge_at: Duration::ZERO,
            journal: Vec::new(),
        })
    }

    /// Keeps the event history (what each participant sent and received) and the
    /// Desk's journal (what the server would have written), for the checker.
    pub fn keep_history(&mut self, keep: bool) {
        self.history.enabled = keep;
    }

    /// Runs to the end of the scenario (arrivals plus drain, or until the last user
    /// has left after the arrivals) and returns the recorder with everything measured,
    /// and what the run did.
    pub fn run(self) -> (Recorder, RunStats, Desk) {
        let (rec, stats, desk, _, _) = self.run_with_history();
        (rec, stats, desk)
    }

    /// [`VirtualRun::run`], also returning the event history (empty unless kept).
    pub fn run_with_history(mut self) -> (Recorder, RunStats, Desk, History, Vec<JournalEntry>) {
        let mut end = self.horizon;
        let mut over = false;
        while let Some((at, event)) = self.queue.pop() {
            if at > end {
                break;
            }
            self.stats.events += 1;
            self.sample_gauges(at);
            self.step(at, event);
            if !over && self.streams_open == 0 && self.users.is_empty() {
                // Nobody left and nobody to come: the run is over, as a live run is,
                // once this instant's events (the agent told the chat ended, …) and
                // the arrival period are through.
                over = true;
                end = at.max(self.arrivals_end).min(self.horizon);
            }
        }
        self.stats.end = end;
        self.sample_gauges(end);
        for a in &mut self.agents {
            a.finish(end, &mut self.rec);
        }
        for u in self.users.values_mut() {
            u.finish(end, &mut self.rec);
        }
        (self.rec, self.stats, self.desk, self.history, self.journal)
    }

    fn who(&self, p: Pid) -> String {
        match p {
            Pid::Agent(i) => format!("agent:{}", self.agents[i].id()),
            Pid::User(id) => format!("user:{id}"),
            Pid::System => "system".into(),
        }
    }

    fn log(&mut self, at: Duration, p: Pid, req: Option<u64>, what: What) {
        if self.history.enabled {
            let who = self.who(p);
            self.history
                .push(at.as_secs_f64() * 1000.0, None, &who, req, what);
        }
    }

    fn step(&mut self, at: Duration, event: Event) {
        match event {
            Event::Arrival(s) => {
                let stream = &mut self.streams[s];
                let n = stream.count;
                stream.count += 1;
                let user = UserBot::new(stream.plan.clone(), at, (stream.rngs)(n));
                if let Some(next) = stream.arrivals.next() {
                    self.queue.push(next, Event::Arrival(s));
                } else {
                    self.streams_open -= 1;
                }
                let id = self.next_user;
                self.next_user += 1;
                self.stats.users += 1;
                self.users.insert(id, user);
                self.deliver(at, Pid::User(id), Input::Start);
            }
            Event::Start(p) => self.deliver(at, p, Input::Start),
            Event::Timer(p, t) => self.deliver(at, p, Input::Timer(t)),
            Event::Answer(Pid::Agent(i), ..) | Event::Notice(Pid::Agent(i), _)
                if self.offline[i] => {}
            Event::Reconnect(i) => {
                self.offline[i] = false;
                let p = Pid::Agent(i);
                self.log(at, p, None, What::reconnecting(1));
                self.deliver(at, p, Input::Start);
                for (tag, cmd) in std::mem::take(&mut self.waiting[i]) {
                    self.command(at, p, tag, cmd);
                }
            }
            Event::Answer(p, tag, Ok(reply)) => {
                self.log(at, p, Some(tag), What::reply(&reply));
                if let Some(heard) = self.heard_by(p) {
                    heard.reply(&reply);
                }
                self.deliver(at, p, Input::Reply(tag, &reply))
            }
            Event::Answer(p, tag, Err(code)) => {
                self.log(
                    at,
                    p,
                    Some(tag),
                    What::Error {
                        code: code.to_string(),
                    },
                );
                self.deliver(at, p, Input::Error(tag, code))
            }
            Event::Notice(p, n) => {
                if self.history.enabled && self.is_present(p) {
                    self.log(at, p, None, What::notice(&n));
                }
                // A resumed chat's unheard messages arrive now, before the chat.
                let missed = self.heard_by(p).map(|h| h.notice(&n)).unwrap_or_default();
                for m in &missed {
                    self.deliver(at, p, Input::Notice(m));
                }
                self.deliver(at, p, Input::Notice(&n))
            }
            Event::Tick => {
                self.tick_at = None;
                self.command(at, Pid::System, 0, Command::Tick);
            }
            Event::QueueCounts => {
                self.counts_at = None;
                let mut told = Vec::new();
                for (q, notice) in std::mem::take(&mut self.pending_counts) {
                    for &i in self.pullers.get(&q).into_iter().flatten() {
                        let online = self
                            .desk
                            .agent(self.agents[i].id())
                            .is_some_and(switchboard_server::domain::Agent::online);
                        if online {
                            told.push((i, notice.clone()));
                        }
                    }
                }
                // In a random order, as a live server's notices reach the pullers in
                // whatever order their connections are served.
                told.shuffle(&mut self.puller_order);
                for (i, notice) in told {
                    self.queue.push(at, Event::Notice(Pid::Agent(i), notice));
                }
            }
        }
    }

    /// Whether the participant is still there (finished users are forgotten).
    fn is_present(&self, p: Pid) -> bool {
        match p {
            Pid::User(id) => self.users.contains_key(&id),
            _ => true,
        }
    }

    /// Gives one input to a participant and carries out what it asks.
    /// What agent `p` has heard, when connections drop in this run.
    fn heard_by(&mut self, p: Pid) -> Option<&mut Heard> {
        match p {
            Pid::Agent(i) => self.heard.get_mut(i),
            _ => None,
        }
    }

    fn deliver(&mut self, at: Duration, p: Pid, input: Input<'_>) {
        self.rec.set_now(at, None);
        let mut fx = std::mem::take(&mut self.fx);
        fx.clear();
        let done = match p {
            Pid::Agent(i) => {
                self.agents[i].on(at, input, &mut fx, &mut self.rec);
                false
            }
            Pid::User(id) => match self.users.get_mut(&id) {
                Some(u) => {
                    u.on(at, input, &mut fx, &mut self.rec);
                    u.ended()
                }
                None => false,
            },
            Pid::System => false,
        };
        if done {
            // A finished user is forgotten; late notices for it are dropped.
            self.users.remove(&match p {
                Pid::User(id) => id,
                _ => unreachable!(),
            });
        }
        for (delay, timer) in fx.timers.drain(..) {
            self.queue.push(at + delay, Event::Timer(p, timer));
        }
        let sends: Vec<(Tag, Command)> = fx.send.drain(..).collect();
        let fault = fx.fault.take();
        self.fx = fx;
        match p {
            Pid::Agent(i) if self.offline[i] => self.waiting[i].extend(sends),
            _ => {
                for (tag, cmd) in sends {
                    self.command(at, p, tag, cmd);
                }
            }
        }
        if let (
            Some(Fault::Drop {
                reconnect_after,
                within_grace,
            }),
            Pid::Agent(i),
        ) = (fault, p)
            && !self.offline[i]
        {
            self.log(at, p, None, What::dropped(reconnect_after, within_grace));
            self.log(
                at,
                p,
                None,
                What::Disconnected {
                    reason: "dropped by fault injection".into(),
                },
            );
            self.command(at, p, 0, Command::Disconnect);
            self.offline[i] = true;
            self.queue.push(at + reconnect_after, Event::Reconnect(i));
            self.deliver(at, p, Input::Disconnected);
        }
    }

    /// Sends one command to the Desk and queues its answer and notices.
    fn command(&mut self, at: Duration, p: Pid, tag: Tag, cmd: Command) {
        let who = match p {
            Pid::Agent(i) => Principal::Agent(self.agents[i].id().clone()),
            Pid::User(id) => Principal::User(UserId(id)),
            Pid::System => Principal::System,
        };
        let now = Time(u64::try_from(at.as_millis()).unwrap_or(u64::MAX));
        self.stats.commands += 1;
        if self.history.enabled && p != Pid::System && !matches!(cmd, Command::Disconnect) {
            self.log(
                at,
                p,
                Some(tag),
                What::Send {
                    command: cmd.clone(),
                },
            );
        }
        let journaled = self.history.enabled.then(|| (who.clone(), cmd.clone()));
        let result = self.desk.handle(&who, cmd, now);
        if let Some((principal, command)) = journaled {
            let result = match &result {
                Ok(o) => JournalResult::Ok {
                    reply: o.reply.clone(),
                    deliveries: o.deliveries.clone(),
                },
                Err(e) => JournalResult::Error {
                    code: e.code().to_string(),
                    message: e.to_string(),
                },
            };
            self.journal.push(JournalEntry {
                seq: self.journal.len() as u64 + 1,
                at_ms: now.0,
                wall_ms: 0,
                principal,
                command,
                result,
            });
        }
        match result {
            Ok(outcome) => {
                if p != Pid::System {
                    self.queue
                        .push(at, Event::Answer(p, tag, Ok(Rc::new(outcome.reply))));
                }
                for d in outcome.deliveries {
                    let notice = Rc::new(d.notice);
                    match d.to {
                        Recipient::Agent(a) => {
                            if let Some(&i) = self.agent_index.get(&a) {
                                self.queue.push(at, Event::Notice(Pid::Agent(i), notice));
                            }
                        }
                        Recipient::User(UserId(u)) => {
                            if self.users.contains_key(&u) {
                                self.queue.push(at, Event::Notice(Pid::User(u), notice));
                            }
                        }
                        Recipient::QueueMembers(q) => {
                            // Only agents who pull by hand read queue counts (they are
                            // listed per queue up front); the latest counts go out at
                            // the next boundary.
                            if !self.pullers.contains_key(&q) {
                                continue;
                            }
                            self.pending_counts.insert(q, notice);
                            if self.counts_at.is_none() {
                                let every = QUEUE_COUNTS_EVERY.as_nanos();
                                let next = (at.as_nanos() / every + 1) * every;
                                let next =
                                    Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX));
                                self.counts_at = Some(next);
                                self.queue.push(next, Event::QueueCounts);
                            }
                        }
                    }
                }
            }
            Err(e) => {
                if p != Pid::System {
                    self.queue.push(at, Event::Answer(p, tag, Err(e.code())));
                }
            }
        }
        if let Some(deadline) = self.desk.next_deadline()
            && self.tick_at.is_none_or(|t| deadline < t)
        {
            self.tick_at = Some(deadline);
            self.queue
                .push(Duration::from_millis(deadline.0), Event::Tick);
        }
    }
}
