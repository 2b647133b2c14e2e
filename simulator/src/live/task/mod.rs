//! One participant as a tokio task: its behaviour model, its WebSocket and its timers.
//! Timers are set in scenario time and fire in real time (divided by `time_scale`);
//! how late each fires is recorded as `scheduler_lag`.
//!
//! Faults the participant asks for (`Effects::fault`) are injected here: a drop closes
//! the socket and connects again (same token) after the asked delay, then starts the
//! participant over (an agent signs in again and the Desk resumes its chats if within
//! its grace period); commands the participant issues meanwhile wait and go out right
//! after the sign-in. A stall stops reading the socket (and everything else) for a
//! while: a slow consumer, which the server may close with 1008 when its outbound
//! queue fills. With `Ctx::reconnect`, an agent whose connection the server closes
//! reconnects too. Every fault is recorded in the history (`fault` events).
//!
//! A task is a [`Session`]: each turn sends what the participant asked for, injects the
//! fault it asked for, then waits for what comes next (a frame, a timer, the time to
//! reconnect, the run's end) and handles it, giving the participant its input.

use super::awaited::{Awaited, Sent, Settles};
use super::clock::RunClock;
use super::conn::{self, ConnError, Sender, Stamp};
use super::ledger::Ledger;
use super::progress::Live;
use super::transfers::TransferTimes;
use crate::behaviour::heard::Heard;
use crate::behaviour::{Effects, Fault, Input, Participant, Tag, Timer};
use crate::event_queue::EventQueue;
use crate::history::{History, What};
use crate::metrics::{ChatOutcome, MetricName, Recorder};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchboard_server::domain::{
    AcceptedChat, AgentId, ChatId, Command, LeftReason, Notice, Reply,
};
use switchboard_server::protocol::{ReqId, ServerFrame, Welcome};
use tokio::sync::watch;

/// Which kind of participant (users end on their own; agents run to the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A user.
    User,
    /// An agent.
    Agent,
}

/// What a task needs besides its participant.
pub struct Ctx {
    /// The run's clock.
    pub clock: RunClock,
    /// Shared console counters.
    pub live: Arc<Live>,
    /// The messages sent and not yet seen, shared by every task of the run.
    pub ledger: Arc<Ledger>,
    /// When each transfer was due, shared by every task of the run.
    pub transfers: Arc<TransferTimes>,
    /// Becomes true when the run is over.
    pub end: watch::Receiver<bool>,
    /// The service-level target (for the recorder).
    pub target: Duration,
    /// The recorder's interval (scenario time, [`crate::metrics::live_interval`]).
    pub interval: Duration,
    /// Keep the event history.
    pub history: bool,
    /// When the participant was scheduled to start (users: their arrival), so its first
    /// action is measured from the schedule, not from when the task got to run.
    pub start_at: Option<Instant>,
    /// Agents reconnect when the server closes their connection (fault injection on).
    pub reconnect: bool,
}

/// Timers of one task, earliest first.
type Timers = EventQueue<Instant, Timer>;

/// The messages an accepted (assigned, resumed) chat's history brings the agent: the
/// ledger stops expecting them, whether they were seen before or reached nobody while
/// the chat changed hands.
fn seen_in_history(ledger: &Ledger, chat: &AcceptedChat) {
    for stamp in chat.history.iter().filter_map(conn::stamp_of) {
        ledger.close(chat.chat, stamp.id);
    }
}

/// Runs `p` on `url` until it is done (users) or the run ends; returns what it measured.
pub async fn run<P: Participant>(p: P, kind: Kind, url: String, ctx: Ctx) -> (Recorder, History) {
    run_connected(p, kind, url, None, ctx).await
}

/// A connection made before the run's clock started: the sender, receiver, first
/// frame and how long connecting took.
pub type Preconnected = Result<(Sender, conn::Receiver, ServerFrame, Duration), ConnError>;

/// [`run`] on a connection made already (agents connect before the clock starts, so
/// their connect storm does not eat into the first users' waits); `None` connects now.
pub async fn run_connected<P: Participant>(
    p: P,
    kind: Kind,
    url: String,
    pre: Option<Preconnected>,
    ctx: Ctx,
) -> (Recorder, History) {
    let mut session = Session::new(p, kind, url, ctx);
    let connected = match pre {
        Some(c) => c,
        None => {
            // The run may end while a slow server keeps this one connecting: a user
            // then never asked, and the request is lost; nothing starts after the end.
            let mut end = session.end.clone();
            tokio::select! {
                biased;
                _ = end.wait_for(|ended| *ended) => {
                    session.count_lost_request();
                    return session.finish();
                }
                c = connect_timed(&session.url, session.ctx.start_at) => c,
            }
        }
    };
    if session.first_connection(connected) == Flow::Stop {
        return session.finish();
    }
    session.run().await
}

/// Real time before reconnecting after the server closed the connection, and between
/// failed attempts.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// Failed reconnects in a row before the participant gives up.
const MAX_RECONNECT_TRIES: u32 = 20;

/// A command that could not go out yet, with the instant it was due.
type Held = (Instant, Tag, Command);

/// One participant's task between two inputs: its connection, timers, the answers it
/// waits for and what it measured so far.
struct Session<P> {
    p: P,
    kind: Kind,
    url: String,
    ctx: Ctx,
    /// The run's end, as this task watches it.
    end: watch::Receiver<bool>,
    rec: Recorder,
    log: Log,
    conn: Option<(Sender, conn::Receiver)>,
    /// The agent this task is, once the server has welcomed it (a transfer it makes is
    /// noted under its name).
    agent: Option<AgentId>,
    /// When the current connection's welcome arrived: a chat request is due no earlier
    /// (`routing_latency` leaves the connect to `connect_time`).
    connected_at: Option<Instant>,
    /// When to connect again, while the connection is down.
    reconnect_at: Option<Instant>,
    /// Failed reconnects in a row.
    reconnect_tries: u32,
    timers: Timers,
    awaited: Awaited,
    /// A user's chat, once the server started it.
    user_chat: Option<ChatId>,
    /// What the participant asked for since its effects were last applied (one input
    /// may take several steps: a resumed chat's missed notices come first).
    fx: Effects,
    routing: RoutingProbe,
    /// What the chats held so far said (only an agent that reconnects can resume a
    /// chat, and needs it).
    heard: Option<Heard>,
    /// Commands issued while the connection was down (or whose send failed), with the
    /// instant each was due: sent after the next sign-in, timed from that instant.
    held: Vec<Held>,
    /// Whether the participant is done.
    result: Done,
    /// The instant the current input was due: an action's timers, message stamps and
    /// latencies count from when it should have happened (no coordinated omission).
    intended: Option<Instant>,
}

/// What a task does after handling something. A task also ends, whatever the flow,
/// once the participant is done (`Session::result`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// Goes on: what the participant asked for is sent, its fault injected, and (unless
    /// it is done) the next input awaited.
    On,
    /// Starts the next turn at once, before the fault and the checks for the end: the
    /// connection was just lost, and what the participant asked for on learning it is
    /// held for the next one.
    Again,
    /// Ends the task.
    Stop,
}

/// What woke the task.
enum Ev {
    Frame(Result<ServerFrame, ConnError>),
    Timer,
    Reconnect,
    End,
}

impl<P: Participant> Session<P> {
    fn new(p: P, kind: Kind, url: String, ctx: Ctx) -> Self {
        let mut rec = Recorder::new(ctx.target).with_interval(ctx.interval);
        rec.set_now(
            ctx.clock.now(),
            Some(Duration::from_micros(ctx.clock.real_micros())),
        );
        Session {
            p,
            kind,
            url,
            end: ctx.end.clone(),
            rec,
            log: Log {
                history: History::new(ctx.history),
                who: String::new(),
                clock: ctx.clock,
            },
            conn: None,
            agent: None,
            connected_at: None,
            reconnect_at: None,
            reconnect_tries: 0,
            timers: Timers::default(),
            awaited: Awaited::default(),
            user_chat: None,
            fx: Effects::default(),
            routing: RoutingProbe::default(),
            heard: (ctx.reconnect && kind == Kind::Agent).then(Heard::default),
            held: Vec::new(),
            result: Done::No,
            intended: None,
            ctx,
        }
    }

    /// Takes the first connection, or what kept it from being made: `Stop` when the
    /// participant cannot go on (a first frame that is not a welcome, a user that could
    /// not even connect, an agent that does not reconnect).
    fn first_connection(&mut self, connected: Preconnected) -> Flow {
        self.mark_now();
        match connected {
            Ok((tx, rx, ServerFrame::Welcome { who, .. }, took)) => {
                self.welcomed(&who);
                self.rec.record(MetricName::ConnectTime, took);
                self.conn = Some((tx, rx));
                self.connected_at = Some(Instant::now());
                Flow::On
            }
            Ok((_, _, other, _)) => {
                self.rec.counters.error("bad_frame");
                tracing::warn!("expected a welcome frame, got {other:?}");
                // As when the connect fails: the chat request is lost.
                self.count_lost_request();
                Flow::Stop
            }
            Err(e) => {
                self.rec.counters.error(e.code());
                tracing::warn!("{}: {e}", self.url);
                if self.kind == Kind::User {
                    // The user could not even ask: the chat request is lost, counted
                    // when it was due, not when the connect gave up.
                    if let Some(at) = self.ctx.start_at {
                        self.mark_at(at);
                    }
                    self.count_lost_request();
                    return Flow::Stop;
                }
                if !self.ctx.reconnect {
                    return Flow::Stop;
                }
                // An agent that could not connect keeps trying, as after a drop; it
                // starts (signs in) once connected.
                self.reconnect_at = Some(Instant::now() + RECONNECT_PAUSE);
                Flow::On
            }
        }
    }

    /// Turn after turn until the participant is done or the run ends.
    async fn run(mut self) -> (Recorder, History) {
        if self.conn.is_some() {
            let at = self.ctx.start_at;
            self.result = self.step_at(at, Input::Start);
            self.intended = at;
        }
        loop {
            if let Err(e) = self.send_effects().await
                && self.send_failed(e) == Flow::Again
            {
                continue;
            }
            if let Some(fault) = self.fx.fault.take()
                && self.inject(fault).await == Flow::Again
            {
                continue;
            }
            if self.result == Done::Yes {
                break;
            }
            if *self.end.borrow() && self.kind == Kind::Agent {
                self.log_run_end();
                break;
            }
            let ev = self.next_event().await;
            // What is recorded on the way in (latencies, lag, errors) belongs to the
            // interval in which the input arrived, not to the previous input's; the
            // history stamps it with the same instant.
            let arrived = Instant::now();
            self.mark_at(arrived);
            let flow = match ev {
                Ev::Frame(frame) => self.on_frame(frame, arrived),
                Ev::Timer => self.on_timer(),
                Ev::Reconnect => self.reconnect().await,
                Ev::End => self.on_end(),
            };
            if flow == Flow::Stop {
                break;
            }
        }
        self.finish()
    }

    /// Waits for the next input.
    async fn next_event(&mut self) -> Ev {
        let (timer_at, reconnect_at) = (self.timers.next_at(), self.reconnect_at);
        let (conn, end) = (&mut self.conn, &mut self.end);
        let sleep = async {
            match timer_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let back = async {
            match reconnect_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let frame = async {
            match conn.as_mut() {
                Some((_, rx)) => rx.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            f = frame => Ev::Frame(f),
            () = sleep => Ev::Timer,
            () = back => Ev::Reconnect,
            _ = end.changed() => Ev::End,
        }
    }

    /// Sets the participant's timers and sends what it asked for, then what was held
    /// (after a reconnect: the sign-in first, then the commands of the outage). While
    /// the connection is down, or from the command whose send fails on, commands are
    /// kept in `held`, each with the instant it was due: its stamp and latency count
    /// from then.
    async fn send_effects(&mut self) -> Result<(), ConnError> {
        let base = self.intended.take().unwrap_or_else(Instant::now);
        for (delay, t) in self.fx.timers.drain(..) {
            self.timers.push(base + self.ctx.clock.to_real(delay), t);
        }
        let fresh = self.fx.send.drain(..).map(|(tag, cmd)| (base, tag, cmd));
        let Some((tx, _)) = self.conn.as_mut() else {
            self.held.extend(fresh);
            return Ok(());
        };
        let mut queue: VecDeque<Held> = fresh.collect();
        queue.extend(self.held.drain(..));
        while let Some((at, tag, cmd)) = queue.pop_front() {
            let metric = match &cmd {
                Command::CreateTicket { .. } | Command::ConfirmTicket { .. } => {
                    Some(MetricName::TicketLatency)
                }
                _ => None,
            };
            // A message is entered in the ledger, its stamp in its text.
            let mut stamped = cmd.clone();
            let settles = match &mut stamped {
                Command::Send { chat, text } => {
                    let sent_us = self.ctx.clock.micros_at(at);
                    let id = self.ctx.ledger.open(*chat, sent_us);
                    *text = Stamp { sent_us, id }.on(text);
                    Settles::Message(*chat, id)
                }
                Command::Close { chat } => Settles::Chat(*chat),
                Command::Transfer { chat, .. } => {
                    // Noted before it goes out: the user may hear of it at once.
                    if let Some(me) = &self.agent {
                        self.ctx.transfers.due(*chat, me, at);
                    }
                    Settles::Nothing
                }
                _ => Settles::Nothing,
            };
            if let Err(e) = tx.send(tag, stamped.clone()).await {
                // Not sent: kept, with the rest, for after a reconnect (stamped afresh
                // then).
                if let Settles::Message(chat, id) = settles {
                    self.ctx.ledger.close(chat, id);
                }
                self.held.push((at, tag, cmd));
                self.held.extend(queue);
                return Err(e);
            }
            let timed = match &stamped {
                // Routing counts from when the request could first go out: a user
                // connects on its arrival, and the connect is `connect_time`'s.
                Command::StartChat { .. } => Some(Sent {
                    at: self.connected_at.map_or(at, |c| c.max(at)),
                    metric,
                }),
                _ => metric.is_some().then_some(Sent { at, metric }),
            };
            self.awaited.sent(tag, settles, timed);
            if self.log.history.enabled {
                self.log.push(Some(tag), What::Send { command: stamped });
            }
        }
        Ok(())
    }

    /// A send failed: the connection is gone. An agent that reconnects comes back
    /// (`Again`: what it asks for on the way is held); anyone else is done.
    fn send_failed(&mut self, e: ConnError) -> Flow {
        self.mark_now();
        self.rec.counters.error(e.code());
        self.awaited
            .lost(&mut self.rec, &self.ctx.ledger, self.user_chat);
        self.fx.clear();
        if self.ctx.reconnect && self.kind == Kind::Agent && !*self.end.borrow() {
            self.log.push(
                None,
                What::Disconnected {
                    reason: e.to_string(),
                },
            );
            self.disconnected(RECONNECT_PAUSE);
            return Flow::Again;
        }
        self.step(Input::Disconnected);
        self.result = Done::Yes;
        Flow::On
    }

    /// The connection is gone and comes back after `pause` (real time); the
    /// participant learns it.
    fn disconnected(&mut self, pause: Duration) {
        self.conn = None;
        self.reconnect_at = Some(Instant::now() + pause);
        self.result = self.step(Input::Disconnected);
    }

    /// Injects a fault the participant asked for: `Again` after a drop (the
    /// participant has been told, and what it asks for is held until it is back).
    async fn inject(&mut self, fault: Fault) -> Flow {
        match fault {
            Fault::Drop {
                reconnect_after,
                within_grace,
            } => {
                self.log
                    .push(None, What::dropped(reconnect_after, within_grace));
                self.log.push(
                    None,
                    What::Disconnected {
                        reason: "dropped by fault injection".into(),
                    },
                );
                if let Some((tx, _)) = self.conn.take() {
                    tokio::spawn(tx.close());
                }
                self.awaited
                    .lost(&mut self.rec, &self.ctx.ledger, self.user_chat);
                let pause = self.ctx.clock.to_real(reconnect_after);
                self.disconnected(pause);
                Flow::Again
            }
            Fault::Stall { stall } => {
                let real = self.ctx.clock.to_real(stall);
                self.log.push(
                    None,
                    What::Fault {
                        kind: "stall".into(),
                        detail: format!(
                            "stops reading for {} ms of scenario time",
                            stall.as_millis()
                        ),
                    },
                );
                // Nothing at all: no reading, no timers (their lag is not counted).
                tokio::select! {
                    () = tokio::time::sleep(real) => {}
                    _ = self.end.changed() => {}
                }
                self.timers.shift(real);
                self.log.push(
                    None,
                    What::Fault {
                        kind: "resume".into(),
                        detail: "reads again".into(),
                    },
                );
                Flow::On
            }
        }
    }

    /// A frame came, or the connection failed.
    fn on_frame(&mut self, frame: Result<ServerFrame, ConnError>, arrived: Instant) -> Flow {
        match frame {
            Ok(ServerFrame::Reply {
                req: Some(ReqId::Num(tag)),
                reply,
                ..
            }) => self.on_reply(tag, &reply, arrived),
            Ok(ServerFrame::Error { req, code, .. }) => {
                let tag = match req {
                    Some(ReqId::Num(t)) => t,
                    _ => 0,
                };
                self.log
                    .push_at(arrived, Some(tag), What::Error { code: code.clone() });
                self.awaited.answered(tag, Some(&code), &self.ctx.ledger);
                self.result = self.step(Input::Error(tag, &code));
            }
            Ok(ServerFrame::Notice { notice }) => self.on_notice(&notice, arrived),
            Ok(_) => {}
            // A notice this build cannot read (a newer server's, say) is counted and
            // skipped: the connection still works, and dropping it would abandon the
            // user's chat or idle the agent for a parse error. An unreadable answer to
            // a command is a broken connection (below): the command waiting for it
            // would wait for ever.
            Err(e @ ConnError::BadFrame(_)) => {
                self.rec.counters.error(e.code());
                tracing::warn!("skipped a frame: {e}");
            }
            Err(e) => return self.connection_lost(e),
        }
        Flow::On
    }

    /// The answer to command `tag`.
    fn on_reply(&mut self, tag: Tag, reply: &Reply, arrived: Instant) {
        self.log.push_at(arrived, Some(tag), What::reply(reply));
        if let Reply::Accepted(chat) = reply {
            seen_in_history(&self.ctx.ledger, chat);
        }
        if let Reply::ChatStarted { chat, .. } = reply {
            self.user_chat = Some(*chat);
        }
        if let Some(s) = self.awaited.answered(tag, None, &self.ctx.ledger) {
            if let Some(m) = s.metric {
                self.rec.record(m, s.at.elapsed());
            }
            if let Reply::ChatStarted { assigned, .. } = reply {
                self.routing.started = Some((s.at, *assigned));
            }
        }
        self.routing.record(&mut self.rec);
        if let Some(heard) = &mut self.heard {
            heard.reply(reply);
        }
        self.result = self.step(Input::Reply(tag, reply));
    }

    /// A notice, after the ones a resumed chat missed (if any).
    fn on_notice(&mut self, notice: &Notice, arrived: Instant) {
        self.log.push_at(arrived, None, What::notice(notice));
        if matches!(notice, Notice::AgentJoined { .. }) && self.routing.joined.is_none() {
            self.routing.joined = Some(Instant::now());
            self.routing.record(&mut self.rec);
        }
        // A resumed chat's unheard messages arrive now, before the chat.
        let missed = self
            .heard
            .as_mut()
            .map(|h| h.notice(notice))
            .unwrap_or_default();
        self.result = Done::No;
        match notice {
            Notice::Assigned(chat) | Notice::Resumed(chat) => {
                seen_in_history(&self.ctx.ledger, chat);
            }
            Notice::ChatEnded { chat, .. } => self.ctx.ledger.chat_over(*chat),
            _ => {}
        }
        for notice in missed.iter().chain([notice]) {
            if let (Some(stamp), Notice::Message { chat, .. }) = (conn::stamped(notice), notice) {
                let lat = self.ctx.clock.real_micros().saturating_sub(stamp.sent_us);
                self.rec
                    .record(MetricName::MessageLatency, Duration::from_micros(lat));
                self.ctx.live.latency(lat);
                self.ctx.ledger.close(*chat, stamp.id);
            }
            // A user hears of a transfer when the server tells it; the wait for the
            // next agent runs from when the transfer was due.
            let due = match notice {
                Notice::AgentLeft {
                    chat,
                    agent,
                    reason: LeftReason::Transferred,
                } if self.kind == Kind::User => self
                    .ctx
                    .transfers
                    .take(*chat, agent)
                    .map(|due| due.min(arrived)),
                _ => None,
            };
            if self.step_at(due, Input::Notice(notice)) == Done::Yes {
                self.result = Done::Yes;
            }
        }
    }

    /// Reading failed: the server closed the connection (a slow consumer gets 1008) or
    /// it broke. An agent that reconnects comes back; anyone else is done. Once the run
    /// has ended this is the run's own closing: the task stops, and nothing is counted
    /// or told.
    fn connection_lost(&mut self, e: ConnError) -> Flow {
        if *self.end.borrow() {
            return Flow::Stop;
        }
        self.rec.counters.error(e.code());
        self.awaited
            .lost(&mut self.rec, &self.ctx.ledger, self.user_chat);
        self.log.push(
            None,
            What::Disconnected {
                reason: e.to_string(),
            },
        );
        if !(self.ctx.reconnect && self.kind == Kind::Agent) {
            // The participant learns it: a user still waiting has lost its chat (not
            // "queued at the end").
            self.step(Input::Disconnected);
            return Flow::Stop;
        }
        self.disconnected(RECONNECT_PAUSE);
        Flow::On
    }

    /// The earliest timer is due: how late it fires is `scheduler_lag`.
    fn on_timer(&mut self) -> Flow {
        if let Some((at, t)) = self.timers.pop() {
            self.rec.record(MetricName::SchedulerLag, at.elapsed());
            self.intended = Some(at);
            self.result = self.step_at(Some(at), Input::Timer(t));
        }
        Flow::On
    }

    /// Time to connect again: the participant starts over (an agent signs in first,
    /// then what was held goes out). After too many failures in a row it gives up.
    async fn reconnect(&mut self) -> Flow {
        self.reconnect_at = None;
        self.log
            .push(None, What::reconnecting(self.reconnect_tries + 1));
        match conn::connect(&self.url, Duration::from_secs(30)).await {
            Ok((tx, rx, ServerFrame::Welcome { who, .. })) => {
                self.welcomed(&who);
                self.reconnect_tries = 0;
                self.conn = Some((tx, rx));
                self.connected_at = Some(Instant::now());
                // The sign-in goes first, then what was held meanwhile.
                self.result = self.step(Input::Start);
            }
            Ok(_) | Err(_) => {
                self.rec.counters.error("reconnect_failed");
                self.reconnect_tries += 1;
                if self.reconnect_tries >= MAX_RECONNECT_TRIES {
                    return Flow::Stop;
                }
                self.reconnect_at = Some(Instant::now() + RECONNECT_PAUSE);
            }
        }
        Flow::On
    }

    /// The run's end changed: agents stop; users go on until their chat is over, unless
    /// the run is over.
    fn on_end(&mut self) -> Flow {
        if self.kind == Kind::Agent || *self.end.borrow() {
            self.log_run_end();
            return Flow::Stop;
        }
        Flow::On
    }

    /// A participant still connected when the run ends says so in the history: the
    /// checker counts the chats open at the end from there.
    fn log_run_end(&mut self) {
        if self.conn.is_some() {
            self.log.push(None, What::RunEnd);
        }
    }

    /// A user that never got to ask: its chat request is offered and lost, in the
    /// totals and for its queue (an agent has no request to lose).
    fn count_lost_request(&mut self) {
        if let Some(queue) = self.p.queue() {
            self.rec.count_chat(queue, ChatOutcome::Offered);
            self.rec.count_chat(queue, ChatOutcome::Lost);
        }
    }

    /// Gives one input to the participant, keeping the console counters in step.
    fn step(&mut self, input: Input<'_>) -> Done {
        self.step_at(None, input)
    }

    /// [`Self::step`] for an input that was due at `due` (a timer, a scheduled start):
    /// the participant sees the scheduled time as `now`, so what it plans from it stays
    /// on schedule however late the task ran.
    fn step_at(&mut self, due: Option<Instant>, input: Input<'_>) -> Done {
        let before = self.rec.counters.chats.clone();
        // What it counts belongs to the interval it was due in: a user whose connect
        // the server was slow to take still arrived on schedule (the open model).
        match due {
            Some(at) => self.mark_at(at),
            None => self.mark_now(),
        }
        let clock = &self.ctx.clock;
        let now = due.map_or_else(|| clock.now(), |at| clock.scenario_at(at));
        self.p.on(now, input, &mut self.fx, &mut self.rec);
        let after = &self.rec.counters.chats;
        let live = &self.ctx.live;
        live.offered
            .fetch_add(after.offered - before.offered, Ordering::Relaxed);
        live.accepted
            .fetch_add(after.accepted - before.accepted, Ordering::Relaxed);
        live.abandoned
            .fetch_add(after.abandoned - before.abandoned, Ordering::Relaxed);
        let ended = after.closed + after.abandoned + after.lost
            > before.closed + before.abandoned + before.lost;
        if ended { Done::Yes } else { Done::No }
    }

    /// Moves the recorder to the present: what it records next falls in the interval
    /// holding this instant.
    fn mark_now(&mut self) {
        self.mark_at(Instant::now());
    }

    /// Moves the recorder to real instant `at`.
    fn mark_at(&mut self, at: Instant) {
        let clock = &self.ctx.clock;
        self.rec.set_now(
            clock.scenario_at(at),
            Some(Duration::from_micros(clock.micros_at(at))),
        );
    }

    /// The server said who this participant is.
    fn welcomed(&mut self, who: &Welcome) {
        self.log.who = who_is(who);
        if let Welcome::Agent { agent } = who {
            self.agent = Some(agent.clone());
        }
    }

    /// The participant counts what is still open, and the connection, if any, is
    /// closed (in a task of its own).
    fn finish(mut self) -> (Recorder, History) {
        self.p.finish(self.ctx.clock.now(), &mut self.rec);
        if let Some(chat) = self.user_chat {
            self.ctx.transfers.forget(chat);
        }
        if self.kind == Kind::User {
            self.ctx.live.users_active.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some((tx, _)) = self.conn {
            tokio::spawn(tx.close());
        }
        (self.rec, self.log.history)
    }
}

/// The task's history and who it is as the server knows it.
struct Log {
    history: History,
    who: String,
    clock: RunClock,
}

impl Log {
    fn push(&mut self, req: Option<u64>, what: What) {
        self.push_at(Instant::now(), req, what);
    }

    /// Records what happened at real instant `at`.
    fn push_at(&mut self, at: Instant, req: Option<u64>, what: What) {
        if self.history.enabled {
            let t_ms = self.clock.scenario_at(at).as_secs_f64() * 1000.0;
            let real = self.clock.micros_at(at);
            self.history.push(t_ms, Some(real), &self.who, req, what);
        }
    }
}

/// `routing_latency`: chat requested → agent joined, for chats that met a free slot
/// (the server's reply says it assigned the chat at once). The reply and the join
/// notice may arrive in either order.
#[derive(Default)]
struct RoutingProbe {
    started: Option<(Instant, bool)>,
    joined: Option<Instant>,
    done: bool,
}

impl RoutingProbe {
    fn record(&mut self, rec: &mut Recorder) {
        if let (false, Some((sent, true)), Some(joined)) = (self.done, self.started, self.joined) {
            rec.record(
                MetricName::RoutingLatency,
                joined.saturating_duration_since(sent),
            );
            self.done = true;
        }
    }
}

/// Whether the participant is done (its last step ended its part).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Done {
    No,
    Yes,
}

/// The participant as the history names it (`agent:<id>`, `user:<id>`).
fn who_is(who: &Welcome) -> String {
    match who {
        Welcome::Agent { agent } => format!("agent:{agent}"),
        Welcome::User { user } => format!("user:{user}"),
    }
}

/// Connects to `url`, timing the connect and the welcome frame from `intended` (when
/// the schedule said to connect: a late start counts, as for every latency) or, without
/// one, from now.
pub async fn connect_timed(url: &str, intended: Option<Instant>) -> Preconnected {
    let now = Instant::now();
    let t0 = intended.filter(|at| *at <= now).unwrap_or(now);
    let (tx, rx, first) = conn::connect(url, Duration::from_secs(30)).await?;
    Ok((tx, rx, first, t0.elapsed()))
}

#[cfg(test)]
mod tests;
