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

use super::clock::RunClock;
use super::conn::{self, ConnError, Sender, Stamp};
use super::ledger::Ledger;
use super::progress::Live;
use crate::behaviour::heard::Heard;
use crate::behaviour::{Effects, Fault, Input, Participant, Tag, Timer};
use crate::event_queue::EventQueue;
use crate::history::{History, What};
use crate::metrics::{ChatOutcome, MetricName, Recorder};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchboard_server::domain::{AcceptedChat, ChatId, Command, Notice, Reply};
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

/// The real time a command went out, for latencies measured on its answer.
struct Sent {
    at: Instant,
    metric: Option<MetricName>,
}

/// The commands sent on the current connection that wait for their answer (a reply or
/// an error: the server answers every command, in order).
#[derive(Default)]
struct Awaited {
    /// What each answer settles in the ledger, by tag, in the order the commands went
    /// out (tags repeat: every message a user sends has the same).
    settles: HashMap<Tag, VecDeque<Settles>>,
    /// When each of those timed on their answer went out (tickets' `ticket_latency`,
    /// the routing probe's `start_chat`).
    timed: HashMap<Tag, Sent>,
}

/// What a command's answer settles in the run's [`Ledger`].
#[derive(Clone, Copy, Debug)]
enum Settles {
    /// Nothing.
    Nothing,
    /// A message: refused (an error), it will never be seen.
    Message(ChatId, u64),
    /// A close: done, or refused because the chat had ended, the chat is over (other
    /// refusals, such as a close an agent held through an outage and the chat had
    /// moved on, leave it going).
    Chat(ChatId),
}

impl Awaited {
    /// A command went out.
    fn sent(&mut self, tag: Tag, settles: Settles, timed: Option<Sent>) {
        self.settles.entry(tag).or_default().push_back(settles);
        if let Some(s) = timed {
            self.timed.insert(tag, s);
        }
    }

    /// A command's answer came (`error`: the code of a refusal): the ledger learns
    /// what it settles; when it went out, if it was timed.
    fn answered(&mut self, tag: Tag, error: Option<&str>, ledger: &Ledger) -> Option<Sent> {
        let settles = match self.settles.get_mut(&tag) {
            Some(waiting) => {
                let first = waiting.pop_front();
                if waiting.is_empty() {
                    self.settles.remove(&tag);
                }
                first
            }
            None => None,
        };
        match settles {
            Some(Settles::Message(chat, id)) if error.is_some() => ledger.close(chat, id),
            Some(Settles::Chat(chat)) if matches!(error, None | Some("chat_ended")) => {
                ledger.chat_over(chat);
            }
            _ => {}
        }
        self.timed.remove(&tag)
    }

    /// The connection is gone, and with it the answers still to come: each counts as
    /// `errors.reply_lost` (the command went out; whether it took effect is unknown,
    /// and a `send` may still reach the other side, so the ledger stops expecting it).
    /// A user's chat (`user_chat`) ends with the user's connection, on the server's
    /// side too: nobody will see what is left of it.
    fn lost(&mut self, rec: &mut Recorder, ledger: &Ledger, user_chat: Option<ChatId>) {
        if let Some(chat) = user_chat {
            ledger.chat_over(chat);
        }
        for settles in self.settles.drain().flat_map(|(_, waiting)| waiting) {
            rec.counters.error("reply_lost");
            if let Settles::Message(chat, id) = settles {
                ledger.close(chat, id);
            }
        }
        self.timed.clear();
    }
}

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

/// A user that never got to ask: its chat request is offered and lost, in the totals
/// and for its queue (an agent has no request to lose).
fn count_lost_request<P: Participant>(p: &P, rec: &mut Recorder) {
    if let Some(queue) = p.queue() {
        rec.count_chat(queue, ChatOutcome::Offered);
        rec.count_chat(queue, ChatOutcome::Lost);
    }
}

/// [`run`] on a connection made already (agents connect before the clock starts, so
/// their connect storm does not eat into the first users' waits); `None` connects now.
pub async fn run_connected<P: Participant>(
    mut p: P,
    kind: Kind,
    url: String,
    pre: Option<Preconnected>,
    ctx: Ctx,
) -> (Recorder, History) {
    let mut rec = Recorder::new(ctx.target).with_interval(ctx.interval);
    rec.set_now(
        ctx.clock.now(),
        Some(Duration::from_micros(ctx.clock.real_micros())),
    );
    let mut log = Log {
        history: History::new(ctx.history),
        who: String::new(),
        clock: ctx.clock,
    };
    let connected = match pre {
        Some(c) => c,
        None => {
            // The run may end while a slow server keeps this one connecting: a user
            // then never asked, and the request is lost; nothing starts after the end.
            let mut end = ctx.end.clone();
            tokio::select! {
                biased;
                _ = end.wait_for(|ended| *ended) => {
                    count_lost_request(&p, &mut rec);
                    return finish(p, kind, &ctx, rec, None, log);
                }
                c = connect_timed(&url, ctx.start_at) => c,
            }
        }
    };
    let mut conn = None;
    let mut reconnect_at: Option<Instant> = None;
    mark_now(&ctx, &mut rec);
    match connected {
        Ok((tx, rx, ServerFrame::Welcome { who, .. }, took)) => {
            log.who = who_is(&who);
            rec.record(MetricName::ConnectTime, took);
            conn = Some((tx, rx));
        }
        Ok((_, _, other, _)) => {
            rec.counters.error("bad_frame");
            tracing::warn!("expected a welcome frame, got {other:?}");
            // As when the connect fails: the chat request is lost.
            count_lost_request(&p, &mut rec);
            return finish(p, kind, &ctx, rec, None, log);
        }
        Err(e) => {
            rec.counters.error(e.code());
            tracing::warn!("{url}: {e}");
            if kind == Kind::User {
                // The user could not even ask: the chat request is lost, counted when
                // it was due, not when the connect gave up.
                if let Some(at) = ctx.start_at {
                    mark_at(&ctx, &mut rec, at);
                }
                count_lost_request(&p, &mut rec);
                return finish(p, kind, &ctx, rec, None, log);
            }
            if !ctx.reconnect {
                return finish(p, kind, &ctx, rec, None, log);
            }
            // An agent that could not connect keeps trying, as after a drop; it
            // starts (signs in) once connected.
            reconnect_at = Some(Instant::now() + RECONNECT_PAUSE);
        }
    }
    let mut timers = Timers::default();
    let mut awaited = Awaited::default();
    // A user's chat, once the server started it.
    let mut user_chat: Option<ChatId> = None;
    let mut fx = Effects::default();
    let mut end = ctx.end.clone();
    let mut routing = RoutingProbe::default();
    // Only an agent that reconnects can resume a chat.
    let mut heard = (ctx.reconnect && kind == Kind::Agent).then(Heard::default);
    // Commands issued while the connection was down (or whose send failed), with the
    // instant each was due: sent after the next sign-in, timed from that instant.
    let mut held: Vec<Held> = Vec::new();
    let mut reconnect_tries = 0u32;
    let mut result = Done::No;
    // The instant the current input was due: an action's timers, message stamps and
    // latencies count from when it should have happened (no coordinated omission).
    let mut intended: Option<Instant> = None;
    if conn.is_some() {
        result = step_at(&mut p, &ctx, ctx.start_at, Input::Start, &mut fx, &mut rec);
        intended = ctx.start_at;
    }
    loop {
        let tx = conn.as_mut().map(|(tx, _)| tx);
        if let Err(e) = apply(
            &mut fx,
            intended.take(),
            tx,
            &mut held,
            &mut timers,
            &mut awaited,
            &ctx,
            &mut log,
        )
        .await
        {
            mark_now(&ctx, &mut rec);
            rec.counters.error(e.code());
            awaited.lost(&mut rec, &ctx.ledger, user_chat);
            if ctx.reconnect && kind == Kind::Agent && !*end.borrow() {
                log.push(
                    None,
                    What::Disconnected {
                        reason: e.to_string(),
                    },
                );
                conn = None;
                reconnect_at = Some(Instant::now() + RECONNECT_PAUSE);
                fx.clear();
                result = step(&mut p, &ctx, Input::Disconnected, &mut fx, &mut rec);
                continue;
            }
            fx.clear();
            step(&mut p, &ctx, Input::Disconnected, &mut fx, &mut rec);
            result = Done::Yes;
        }
        if let Some(fault) = fx.fault.take() {
            match fault {
                Fault::Drop {
                    reconnect_after,
                    within_grace,
                } => {
                    log.push(None, What::dropped(reconnect_after, within_grace));
                    log.push(
                        None,
                        What::Disconnected {
                            reason: "dropped by fault injection".into(),
                        },
                    );
                    if let Some((tx, _)) = conn.take() {
                        tokio::spawn(tx.close());
                    }
                    awaited.lost(&mut rec, &ctx.ledger, user_chat);
                    reconnect_at = Some(Instant::now() + ctx.clock.to_real(reconnect_after));
                    result = step(&mut p, &ctx, Input::Disconnected, &mut fx, &mut rec);
                    continue;
                }
                Fault::Stall { stall } => {
                    let real = ctx.clock.to_real(stall);
                    log.push(
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
                        _ = end.changed() => {}
                    }
                    timers.shift(real);
                    log.push(
                        None,
                        What::Fault {
                            kind: "resume".into(),
                            detail: "reads again".into(),
                        },
                    );
                }
            }
        }
        if result == Done::Yes {
            break;
        }
        if *end.borrow() && kind == Kind::Agent {
            if conn.is_some() {
                log.push(None, What::RunEnd);
            }
            break;
        }
        let ev = {
            let sleep = async {
                match timers.next_at() {
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
        };
        // What is recorded on the way in (latencies, lag, errors) belongs to the
        // interval in which the input arrived, not to the previous input's; the history
        // stamps it with the same instant.
        let arrived = Instant::now();
        mark_at(&ctx, &mut rec, arrived);
        match ev {
            Ev::Frame(frame) => match frame {
                Ok(ServerFrame::Reply {
                    req: Some(ReqId::Num(tag)),
                    reply,
                    ..
                }) => {
                    log.push_at(arrived, Some(tag), What::reply(&reply));
                    if let Reply::Accepted(chat) = &reply {
                        seen_in_history(&ctx.ledger, chat);
                    }
                    if let Reply::ChatStarted { chat, .. } = &reply {
                        user_chat = Some(*chat);
                    }
                    if let Some(s) = awaited.answered(tag, None, &ctx.ledger) {
                        if let Some(m) = s.metric {
                            rec.record(m, s.at.elapsed());
                        }
                        if let Reply::ChatStarted { assigned, .. } = &reply {
                            routing.started = Some((s.at, *assigned));
                        }
                    }
                    routing.record(&mut rec);
                    if let Some(heard) = &mut heard {
                        heard.reply(&reply);
                    }
                    result = step(&mut p, &ctx, Input::Reply(tag, &reply), &mut fx, &mut rec);
                }
                Ok(ServerFrame::Error { req, code, .. }) => {
                    let tag = match req {
                        Some(ReqId::Num(t)) => t,
                        _ => 0,
                    };
                    log.push_at(arrived, Some(tag), What::Error { code: code.clone() });
                    awaited.answered(tag, Some(&code), &ctx.ledger);
                    result = step(&mut p, &ctx, Input::Error(tag, &code), &mut fx, &mut rec);
                }
                Ok(ServerFrame::Notice { notice }) => {
                    log.push_at(arrived, None, What::notice(&notice));
                    if matches!(notice, Notice::AgentJoined { .. }) && routing.joined.is_none() {
                        routing.joined = Some(Instant::now());
                        routing.record(&mut rec);
                    }
                    // A resumed chat's unheard messages arrive now, before the chat.
                    let missed = heard
                        .as_mut()
                        .map(|h| h.notice(&notice))
                        .unwrap_or_default();
                    result = Done::No;
                    match &notice {
                        Notice::Assigned(chat) | Notice::Resumed(chat) => {
                            seen_in_history(&ctx.ledger, chat);
                        }
                        Notice::ChatEnded { chat, .. } => ctx.ledger.chat_over(*chat),
                        _ => {}
                    }
                    for notice in missed.iter().chain([&notice]) {
                        if let (Some(stamp), Notice::Message { chat, .. }) =
                            (conn::stamped(notice), notice)
                        {
                            let lat = ctx.clock.real_micros().saturating_sub(stamp.sent_us);
                            rec.record(MetricName::MessageLatency, Duration::from_micros(lat));
                            ctx.live.latency(lat);
                            ctx.ledger.close(*chat, stamp.id);
                        }
                        if step(&mut p, &ctx, Input::Notice(notice), &mut fx, &mut rec) == Done::Yes
                        {
                            result = Done::Yes;
                        }
                    }
                }
                Ok(_) => {}
                // A notice this build cannot read (a newer server's, say) is counted
                // and skipped: the connection still works, and dropping it would
                // abandon the user's chat or idle the agent for a parse error. An
                // unreadable answer to a command is a broken connection (below): the
                // command waiting for it would wait for ever.
                Err(e @ ConnError::BadFrame(_)) => {
                    rec.counters.error(e.code());
                    tracing::warn!("skipped a frame: {e}");
                }
                Err(e) => {
                    if *end.borrow() {
                        break;
                    }
                    rec.counters.error(e.code());
                    awaited.lost(&mut rec, &ctx.ledger, user_chat);
                    log.push(
                        None,
                        What::Disconnected {
                            reason: e.to_string(),
                        },
                    );
                    if !(ctx.reconnect && kind == Kind::Agent) {
                        // The participant learns it: a user still waiting has lost
                        // its chat (not "queued at the end").
                        step(&mut p, &ctx, Input::Disconnected, &mut fx, &mut rec);
                        break;
                    }
                    // The server closed us (a slow consumer gets 1008): come back.
                    conn = None;
                    reconnect_at = Some(Instant::now() + RECONNECT_PAUSE);
                    result = step(&mut p, &ctx, Input::Disconnected, &mut fx, &mut rec);
                }
            },
            Ev::Timer => {
                if let Some((at, t)) = timers.pop() {
                    rec.record(MetricName::SchedulerLag, at.elapsed());
                    intended = Some(at);
                    result = step_at(&mut p, &ctx, Some(at), Input::Timer(t), &mut fx, &mut rec);
                }
            }
            Ev::Reconnect => {
                reconnect_at = None;
                log.push(None, What::reconnecting(reconnect_tries + 1));
                match conn::connect(&url, Duration::from_secs(30)).await {
                    Ok((tx, rx, ServerFrame::Welcome { who, .. })) => {
                        log.who = who_is(&who);
                        reconnect_tries = 0;
                        conn = Some((tx, rx));
                        // The sign-in goes first, then what was held meanwhile.
                        result = step(&mut p, &ctx, Input::Start, &mut fx, &mut rec);
                    }
                    Ok(_) | Err(_) => {
                        rec.counters.error("reconnect_failed");
                        reconnect_tries += 1;
                        if reconnect_tries >= MAX_RECONNECT_TRIES {
                            break;
                        }
                        reconnect_at = Some(Instant::now() + RECONNECT_PAUSE);
                    }
                }
            }
            Ev::End => {
                if kind == Kind::Agent || *end.borrow() {
                    if conn.is_some() {
                        log.push(None, What::RunEnd);
                    }
                    break;
                }
            }
        }
    }
    finish(p, kind, &ctx, rec, conn.map(|(tx, _)| tx), log)
}

/// Real time before reconnecting after the server closed the connection, and between
/// failed attempts.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// Failed reconnects in a row before the participant gives up.
const MAX_RECONNECT_TRIES: u32 = 20;

/// What woke the task.
enum Ev {
    Frame(Result<ServerFrame, ConnError>),
    Timer,
    Reconnect,
    End,
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Done {
    No,
    Yes,
}

/// Gives one input to the participant, keeping the console counters in step.
fn step<P: Participant>(
    p: &mut P,
    ctx: &Ctx,
    input: Input<'_>,
    fx: &mut Effects,
    rec: &mut Recorder,
) -> Done {
    step_at(p, ctx, None, input, fx, rec)
}

/// Moves the recorder to the present: what it records next falls in the interval
/// holding this instant.
fn mark_now(ctx: &Ctx, rec: &mut Recorder) {
    mark_at(ctx, rec, Instant::now());
}

/// Moves the recorder to real instant `at`.
fn mark_at(ctx: &Ctx, rec: &mut Recorder, at: Instant) {
    rec.set_now(
        ctx.clock.scenario_at(at),
        Some(Duration::from_micros(ctx.clock.micros_at(at))),
    );
}

/// [`step`] for an input that was due at `due` (a timer, a scheduled start): the
/// participant sees the scheduled time as `now`, so what it plans from it stays on
/// schedule however late the task ran.
fn step_at<P: Participant>(
    p: &mut P,
    ctx: &Ctx,
    due: Option<Instant>,
    input: Input<'_>,
    fx: &mut Effects,
    rec: &mut Recorder,
) -> Done {
    let before = rec.counters.chats.clone();
    // What it counts belongs to the interval it was due in: a user whose connect the
    // server was slow to take still arrived on schedule (the open model).
    match due {
        Some(at) => mark_at(ctx, rec, at),
        None => mark_now(ctx, rec),
    }
    let now = due.map_or_else(|| ctx.clock.now(), |at| ctx.clock.scenario_at(at));
    p.on(now, input, fx, rec);
    let after = &rec.counters.chats;
    let live = &ctx.live;
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

/// The participant as the history names it (`agent:<id>`, `user:<id>`).
fn who_is(who: &Welcome) -> String {
    match who {
        Welcome::Agent { agent } => format!("agent:{agent}"),
        Welcome::User { user } => format!("user:{user}"),
    }
}

/// A command that could not go out yet, with the instant it was due.
type Held = (Instant, Tag, Command);

/// Sets the participant's timers and sends what it asked for, then what was held
/// (after a reconnect: the sign-in first, then the commands of the outage). While the
/// connection is down, or from the command whose send fails on, commands are kept in
/// `held`, each with the instant it was due: its stamp and latency count from then.
#[allow(clippy::too_many_arguments)]
async fn apply(
    fx: &mut Effects,
    intended: Option<Instant>,
    tx: Option<&mut Sender>,
    held: &mut Vec<Held>,
    timers: &mut Timers,
    awaited: &mut Awaited,
    ctx: &Ctx,
    log: &mut Log,
) -> Result<(), ConnError> {
    let base = intended.unwrap_or_else(Instant::now);
    for (delay, t) in fx.timers.drain(..) {
        timers.push(base + ctx.clock.to_real(delay), t);
    }
    let fresh = fx.send.drain(..).map(|(tag, cmd)| (base, tag, cmd));
    let Some(tx) = tx else {
        held.extend(fresh);
        return Ok(());
    };
    let mut queue: std::collections::VecDeque<Held> = fresh.collect();
    queue.extend(held.drain(..));
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
                let sent_us = ctx.clock.micros_at(at);
                let id = ctx.ledger.open(*chat, sent_us);
                *text = Stamp { sent_us, id }.on(text);
                Settles::Message(*chat, id)
            }
            Command::Close { chat } => Settles::Chat(*chat),
            _ => Settles::Nothing,
        };
        if let Err(e) = tx.send(tag, stamped.clone()).await {
            // Not sent: kept, with the rest, for after a reconnect (stamped afresh then).
            if let Settles::Message(chat, id) = settles {
                ctx.ledger.close(chat, id);
            }
            held.push((at, tag, cmd));
            held.extend(queue);
            return Err(e);
        }
        let timed = metric.is_some() || matches!(stamped, Command::StartChat { .. });
        awaited.sent(tag, settles, timed.then_some(Sent { at, metric }));
        if log.history.enabled {
            log.push(Some(tag), What::Send { command: stamped });
        }
    }
    Ok(())
}

fn finish<P: Participant>(
    mut p: P,
    kind: Kind,
    ctx: &Ctx,
    mut rec: Recorder,
    tx: Option<Sender>,
    log: Log,
) -> (Recorder, History) {
    p.finish(ctx.clock.now(), &mut rec);
    if kind == Kind::User {
        ctx.live.users_active.fetch_sub(1, Ordering::Relaxed);
    }
    if let Some(tx) = tx {
        tokio::spawn(tx.close());
    }
    (rec, log.history)
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
mod tests {
    use super::{Awaited, Ctx, Kind, Settles, connect_timed, run};
    use crate::behaviour::{Effects, Input, Participant};
    use crate::live::clock::RunClock;
    use crate::live::ledger::{Ledger, Unseen};
    use crate::live::progress::Live;
    use crate::metrics::Recorder;
    use futures_util::{SinkExt as _, StreamExt as _};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use switchboard_server::domain::{ChatId, ChatState, Command, Notice, UserId};
    use switchboard_server::protocol::{ServerFrame, Welcome, WireLimits};
    use tokio_tungstenite::tungstenite::Message;

    /// A participant that arrives on its start and ends when its chat does.
    struct UntilChatEnds;

    impl Participant for UntilChatEnds {
        fn on(&mut self, _: Duration, input: Input<'_>, _: &mut Effects, rec: &mut Recorder) {
            match input {
                Input::Start => rec.counters.chats.offered += 1,
                Input::Notice(Notice::ChatEnded { .. }) => rec.counters.chats.closed += 1,
                _ => {}
            }
        }

        fn finish(&mut self, _: Duration, _: &mut Recorder) {}
    }

    /// The welcome frame of user 1.
    fn welcome() -> String {
        ServerFrame::Welcome {
            who: Welcome::User { user: UserId(1) },
            limits: WireLimits {
                max_message_bytes: 65_536,
                messages_per_sec: 100,
                burst: 100,
                outbound_queue: 100,
            },
        }
        .to_json()
    }

    /// A user's context in a run of its own that does not end by itself, with `ledger`.
    fn user_ctx(end: tokio::sync::watch::Receiver<bool>, ledger: Arc<Ledger>) -> Ctx {
        Ctx {
            clock: RunClock::start(1.0),
            live: Arc::new(Live::default()),
            ledger,
            end,
            target: Duration::from_secs(60),
            interval: Duration::from_secs(1),
            history: false,
            start_at: Some(Instant::now()),
            reconnect: false,
        }
    }

    /// A server that takes its time to accept, then sends a welcome, `middle` and the
    /// end of the user's chat; its WebSocket URL.
    async fn scripted_server(accept_after: Duration, middle: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::time::sleep(accept_after).await;
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let ended = ServerFrame::Notice {
                notice: Notice::ChatEnded {
                    chat: ChatId(1),
                    state: ChatState::Abandoned,
                },
            };
            for text in [welcome(), middle.to_string(), ended.to_json()] {
                if !text.is_empty() {
                    ws.send(Message::text(text)).await.unwrap();
                }
            }
            // Hold the connection until the client is done with it.
            while ws.next().await.is_some_and(|m| m.is_ok()) {}
        });
        url
    }

    /// Runs [`UntilChatEnds`] as a user scheduled at the clock's start against `url`.
    async fn user_until_its_chat_ends(url: String) -> Recorder {
        let (_end_tx, end) = tokio::sync::watch::channel(false);
        let ctx = user_ctx(end, Arc::default());
        let (rec, _) = tokio::time::timeout(
            Duration::from_secs(10),
            run(UntilChatEnds, Kind::User, url, ctx),
        )
        .await
        .expect("the task ends once the chat has");
        rec
    }

    /// A frame this build cannot read (a newer server's notice) is counted as
    /// `bad_frame` and skipped: the connection goes on, and what follows still arrives.
    #[tokio::test]
    async fn a_frame_that_cannot_be_read_is_counted_and_skipped() {
        let future = r#"{"type":"notice","notice":{"notice":"from_a_newer_server"}}"#;
        let url = scripted_server(Duration::ZERO, future).await;
        let rec = user_until_its_chat_ends(url).await;
        assert_eq!(rec.counters.errors.get("bad_frame"), Some(&1));
        assert_eq!(rec.counters.chats.closed, 1, "the frame after it arrived");
        assert_eq!(rec.counters.errors.get("connection_closed"), None);
    }

    /// An answer to a command that cannot be read is a broken connection, not a frame
    /// to skip: the command would wait for it for ever.
    #[tokio::test]
    async fn an_answer_that_cannot_be_read_breaks_the_connection() {
        let future = r#"{"type":"reply","req":1,"reply":{"reply":"from_a_newer_server"}}"#;
        let url = scripted_server(Duration::ZERO, future).await;
        let rec = user_until_its_chat_ends(url).await;
        assert_eq!(rec.counters.errors.get("bad_frame"), Some(&1));
        assert_eq!(rec.counters.chats.closed, 0, "the connection ended there");
    }

    /// A participant that sends two messages as it starts.
    struct SendsTwo;

    impl Participant for SendsTwo {
        fn on(&mut self, _: Duration, input: Input<'_>, fx: &mut Effects, _: &mut Recorder) {
            if matches!(input, Input::Start) {
                for text in ["one", "two"] {
                    let send = Command::Send {
                        chat: ChatId(1),
                        text: text.into(),
                    };
                    fx.send.push((3, send));
                }
            }
        }

        fn finish(&mut self, _: Duration, _: &mut Recorder) {}
    }

    /// Runs [`SendsTwo`] as a user against a server that reads both messages, answers
    /// the first (after `first`, when given) and closes; its recorder and the ledger.
    async fn two_sent_then_dropped(first: Option<&'static str>) -> (Recorder, Arc<Ledger>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            ws.send(Message::text(welcome())).await.unwrap();
            if let Some(first) = first {
                ws.send(Message::text(first)).await.unwrap();
            }
            // Both messages arrive; only the first is answered before the server goes.
            for _ in 0..2 {
                ws.next().await.unwrap().unwrap();
            }
            let sent =
                r#"{"type":"reply","req":3,"command":"send","reply":"sent","chat":1,"seq":1}"#;
            ws.send(Message::text(sent)).await.unwrap();
            ws.close(None).await.unwrap();
        });
        let (_end_tx, end) = tokio::sync::watch::channel(false);
        let ledger = Arc::new(Ledger::default());
        let ctx = user_ctx(end, ledger.clone());
        let (rec, _) =
            tokio::time::timeout(Duration::from_secs(10), run(SendsTwo, Kind::User, url, ctx))
                .await
                .expect("the task ends with its connection");
        (rec, ledger)
    }

    /// Commands whose answers a dropped connection took with it are counted, one
    /// `reply_lost` each, not left out of every count. The message whose answer was
    /// lost leaves the ledger (its fate is unknown); the one the server took stays,
    /// unseen, unless the chat was the user's own, which ends with the connection.
    #[tokio::test]
    async fn answers_a_dropped_connection_took_are_counted_lost() {
        let (rec, ledger) = two_sent_then_dropped(None).await;
        assert_eq!(rec.counters.errors.get("connection_closed"), Some(&1));
        assert_eq!(
            rec.counters.errors.get("reply_lost"),
            Some(&1),
            "{:?}",
            rec.counters.errors
        );
        assert_eq!(ledger.unseen(u64::MAX).count, 1);

        let started = r#"{"type":"reply","req":1,"command":"start_chat","reply":"chat_started","chat":1,"queue":"q","position":0,"assigned":true}"#;
        let (rec, ledger) = two_sent_then_dropped(Some(started)).await;
        assert_eq!(rec.counters.errors.get("reply_lost"), Some(&1));
        assert_eq!(ledger.unseen(u64::MAX), Unseen::default());
    }

    /// What each answer settles in the ledger: a refused message leaves it, a sent one
    /// stays until seen; a close done, or refused because the chat had ended, ends the
    /// chat's messages, a close refused otherwise (the chat moved on) does not.
    #[test]
    fn answers_settle_the_ledger_by_what_they_answer() {
        let ledger = Ledger::default();
        let mut awaited = Awaited::default();
        let (chat, other) = (ChatId(1), ChatId(2));
        let refused = ledger.open(chat, 10);
        let taken = ledger.open(chat, 20);
        ledger.open(other, 30);
        awaited.sent(3, Settles::Message(chat, refused), None);
        awaited.sent(3, Settles::Message(chat, taken), None);
        awaited.sent(9, Settles::Chat(chat), None);
        awaited.sent(9, Settles::Chat(other), None);
        // Answers to one tag come in the order the commands went out.
        awaited.answered(3, Some("rate_limited"), &ledger);
        awaited.answered(3, None, &ledger);
        assert_eq!(ledger.unseen(100).count, 2);
        awaited.answered(9, Some("not_owner"), &ledger);
        assert_eq!(
            ledger.unseen(100).count,
            2,
            "a close refused: the chat goes on"
        );
        awaited.answered(9, Some("chat_ended"), &ledger);
        assert_eq!(ledger.unseen(100).count, 1);
        awaited.sent(9, Settles::Chat(chat), None);
        awaited.answered(9, None, &ledger);
        assert_eq!(ledger.unseen(100), Unseen::default());
        assert!(awaited.settles.is_empty());
    }

    /// A user counts as arrived in the interval of its scheduled arrival, however long
    /// the server took to accept its connection (the open model).
    #[tokio::test]
    async fn an_arrival_counts_in_the_interval_it_was_due_in() {
        let url = scripted_server(Duration::from_millis(1500), "").await;
        let mut rec = user_until_its_chat_ends(url).await;
        let offered =
            |rec: &mut Recorder, i| rec.timeline().get(i).map_or(0, |iv| iv.counts.offered);
        assert_eq!(offered(&mut rec, 0), 1, "due in the first second");
        assert_eq!(offered(&mut rec, 1), 0, "connected in the second");
    }

    /// A user scheduled to connect earlier than its task got to run counts the delay in
    /// `connect_time`, as every latency counts from the schedule.
    #[tokio::test]
    async fn connect_time_counts_from_the_schedule() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let server = tokio::spawn(switchboard_server::serve(
            listener,
            switchboard_server::ServerConfig::default(),
            std::future::pending::<()>(),
        ));
        let on_time = connect_timed(&url, None).await.expect("connects").3;
        let late = Instant::now() - Duration::from_millis(300);
        let late = connect_timed(&url, Some(late)).await.expect("connects").3;
        assert!(late >= Duration::from_millis(300), "{late:?}");
        assert!(on_time > Duration::ZERO);
        // A schedule still ahead (agents connecting before the clock starts) is not
        // counted backwards.
        let ahead = Instant::now() + Duration::from_secs(60);
        let ahead = connect_timed(&url, Some(ahead)).await.expect("connects").3;
        assert!(
            ahead > Duration::ZERO,
            "timed from a moment still to come: {ahead:?}"
        );
        server.abort();
    }
}
