//! One WebSocket connection (a user's or an agent's): reads client frames, turns them
//! into Desk commands, writes the connection's outbound queue to the socket, enforces
//! the per-connection limits and, when the connection ends, tells the Desk
//! (`Command::Disconnect`).

use super::connection::{Outbox, Queued};
use super::outbound;
use super::state::{Shared, error_frame, lock};
use crate::domain::{Command, Principal};
use crate::protocol::{self, ProtocolError, ServerFrame, Welcome, WireLimits, close};
use futures_util::{FutureExt as _, SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError as ProtocolErrorKind;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// Most queued frames written before one flush.
const WRITE_BATCH: usize = 64;

/// Most frames already received that are handled before the session writes.
const READ_BATCH: usize = 32;

/// A token bucket: `rate` per second, up to `burst` at once.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        Bucket {
            tokens: f64::from(burst),
            rate: f64::from(rate),
            burst: f64::from(burst),
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How a session ended.
enum End {
    /// Send a close frame, then wait briefly for the peer's.
    Close(u16, String),
    /// Send a close frame, then read and discard what the peer still sends: it broke
    /// the protocol mid-frame, so waiting for a clean close reply is pointless, but
    /// dropping the socket with unread data would reset it before our frame arrives.
    CloseAndLinger(u16, String),
    /// The peer closed or vanished: nothing more to send.
    Gone,
}

/// Runs the connection until it ends. `who` is already authenticated.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut ws: Ws,
    who: Principal,
    mut shutdown: watch::Receiver<bool>,
) {
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let replaceable = matches!(who, Principal::Agent(_));
    let (outbox, mut rx) = Outbox::new(id, shared.limits.outbound_queue, replaceable);
    let welcome = ServerFrame::Welcome {
        who: match &who {
            Principal::Agent(a) => Welcome::Agent { agent: a.clone() },
            Principal::User(u) => Welcome::User { user: *u },
            // Only agents and users get WebSocket sessions.
            Principal::Admin | Principal::System => return,
        },
        limits: WireLimits {
            max_message_bytes: shared.limits.max_message_bytes,
            messages_per_sec: shared.limits.messages_per_sec,
            burst: shared.limits.burst,
            outbound_queue: shared.limits.outbound_queue,
        },
    };
    let welcome = Utf8Bytes::from(welcome.to_json());
    let handover = {
        // Under the Desk's lock: see the end of this function.
        let _desk = lock(&shared.core);
        register(&shared, &who, &outbox)
    };
    lock(&shared.counters).connections_total += 1;

    let mut succession = Succession {
        from: handover,
        unsent: Vec::new(),
    };
    // A panic in the session (a bug) still ends it through the path below, so the
    // registry and the Desk learn that the connection is gone.
    // The welcome first. It is written after registering, so a client that has it
    // knows its connection is the current one; before anything queued (only the
    // session writes); and without taking a place in the outbound queue, so a queue of
    // one frame still holds the reply to a command sent right after the upgrade.
    let write_timeout = Duration::from_millis(shared.limits.write_timeout_ms);
    let welcomed =
        write_unless_kicked(&outbox, write_timeout, ws.send(Message::Text(welcome))).await;
    let end = match welcomed {
        Err(end) => end,
        Ok(()) => AssertUnwindSafe(drive(
            &shared,
            &mut ws,
            &who,
            &outbox,
            &mut rx,
            &mut succession,
            &mut shutdown,
        ))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!("a session panicked; its connection is dropped");
            End::Gone
        }),
    };
    if let End::Close(code, _) | End::CloseAndLinger(code, _) = &end
        && *code != close::GOING_AWAY
        && *code != close::NORMAL
    {
        *lock(&shared.counters)
            .closed_by_server
            .entry(*code)
            .or_default() += 1;
    }
    // Tell the Desk before the socket's last goodbye so that notices to others (the
    // user told their chat ended, …) are not held up by a slow peer. Unregistering and
    // the Desk's `Disconnect` are one step under the Desk's lock, as registering is: a
    // newer connection of the same agent registered either before (this one is not
    // current then, and the Desk is not told) or after the Desk handled the
    // disconnect (its sign-in then resumes the agent, and its client gets the reply).
    // A connection replaced by a newer one hands that one the notices it still holds,
    // and writes the replies it still holds before its close frame (they answer
    // commands it read, which the Desk has carried out).
    let mut replies = Vec::new();
    let desk = lock(&shared.core);
    if unregister(&shared, &who, &outbox) {
        let _ = shared.execute_locked(desk, &who, Command::Disconnect, None);
    } else {
        // Replaced: nothing is pushed to this queue any more (pushes go through the
        // registry, which names the newer connection), so it is drained without
        // holding up the Desk.
        drop(desk);
        let mut notices = std::mem::take(&mut succession.unsent);
        while let Some(q) = rx.try_recv() {
            if q.notice {
                notices.push(q.frame);
            } else {
                replies.push(q.frame);
            }
        }
        if let Some(to) = outbox.kick.take_handover() {
            match succession.from {
                None => {
                    let _ = to.send(notices);
                }
                // Replaced before its own predecessor handed over: the successor gets
                // the predecessor's notices, then this connection's.
                Some(from) => {
                    tokio::spawn(async move {
                        let mut chained = from.await.unwrap_or_default();
                        chained.append(&mut notices);
                        let _ = to.send(chained);
                    });
                }
            }
        }
    }
    drop(rx);
    finish(&shared, ws, end, replies).await;
}

/// Adds the connection to the registry. A newer connection of an agent replaces the
/// older one, which is closed and hands over, through the returned receiver, the
/// notices it had not written yet.
fn register(shared: &Shared, who: &Principal, outbox: &Outbox) -> Option<Handover> {
    let mut reg = lock(&shared.registry);
    match who {
        Principal::Agent(a) => {
            shared.agent_connections.fetch_add(1, Ordering::Relaxed);
            let old = reg.agents.insert(a.clone(), outbox.clone())?;
            let (to, from) = oneshot::channel();
            old.kick.hand_over_to(to);
            old.kick.kick(
                close::NORMAL,
                "replaced by a newer connection of the same agent",
            );
            Some(from)
        }
        Principal::User(u) => {
            shared.user_connections.fetch_add(1, Ordering::Relaxed);
            reg.users.insert(*u, outbox.clone());
            None
        }
        Principal::Admin | Principal::System => None,
    }
}

/// The notices a replaced connection still held, on their way to its successor.
type Handover = oneshot::Receiver<Vec<Utf8Bytes>>;

/// What passes between an agent's connections when a newer one replaces an older one.
struct Succession {
    /// The notices the connection this one replaced still held, once it stops.
    from: Option<Handover>,
    /// Notices this connection was writing when it was kicked, written or not: they go
    /// to its successor.
    unsent: Vec<Utf8Bytes>,
}

impl Succession {
    /// After a write went through: if the connection was replaced meanwhile, the
    /// notices it wrote go to its successor too (its peer may never read them).
    fn keep_if_replaced(&mut self, outbox: &Outbox, in_flight: Vec<Utf8Bytes>) {
        if outbox.kick.is_set() {
            self.unsent = in_flight;
        }
    }
}

/// Removes the connection; true if it was the participant's current one (false when
/// a newer connection of the agent replaced it, or when shutdown already told the Desk
/// it was gone).
fn unregister(shared: &Shared, who: &Principal, outbox: &Outbox) -> bool {
    let mut reg = lock(&shared.registry);
    match who {
        Principal::Agent(a) => {
            shared.agent_connections.fetch_sub(1, Ordering::Relaxed);
            if reg.agents.get(a).is_some_and(|o| o.id == outbox.id) {
                reg.agents.remove(a);
                true
            } else {
                false
            }
        }
        Principal::User(u) => {
            shared.user_connections.fetch_sub(1, Ordering::Relaxed);
            reg.users.remove(u).is_some()
        }
        Principal::Admin | Principal::System => false,
    }
}

async fn drive(
    shared: &Shared,
    ws: &mut Ws,
    who: &Principal,
    outbox: &Outbox,
    rx: &mut outbound::Receiver<Queued>,
    succession: &mut Succession,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let limits = &shared.limits;
    let write_timeout = Duration::from_millis(limits.write_timeout_ms);
    if let Some(mut from) = succession.from.take() {
        // After the welcome, the notices the replaced connection had not written,
        // then what was queued for this one since. The
        // replaced connection hands them over as soon as its kick stops it (a dead one
        // drops the sender: nothing to wait for then); a write timeout bounds the wait.
        let notices = tokio::select! {
            biased;
            _ = shutdown.changed() => {
                succession.from = Some(from);
                return End::Close(close::GOING_AWAY, "server shutting down".into());
            }
            (code, reason) = outbox.kick.wait() => {
                // Replaced in turn: the predecessor's notices go on to the successor.
                succession.from = Some(from);
                return End::Close(code, reason);
            }
            notices = &mut from => notices.unwrap_or_default(),
            () = tokio::time::sleep(write_timeout) => {
                tracing::warn!("a replaced connection did not hand over its notices in time");
                Vec::new()
            }
        };
        let in_flight = notices.clone();
        let taken = async {
            for n in notices {
                ws.feed(Message::Text(n)).await?;
            }
            ws.flush().await
        };
        if let Err(end) = write_unless_kicked(outbox, write_timeout, taken).await {
            succession.unsent = in_flight;
            return end;
        }
        succession.keep_if_replaced(outbox, in_flight);
    }
    let mut bucket = Bucket::new(limits.messages_per_sec, limits.burst);
    let ping_every = Duration::from_millis(if limits.ping_interval_ms == 0 {
        // Still wake up now and then for the idle check.
        limits.idle_timeout_ms.max(1000)
    } else {
        limits.ping_interval_ms
    });
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut last_heard = Instant::now();
    if *shutdown.borrow() {
        return End::Close(close::GOING_AWAY, "server shutting down".into());
    }
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                return End::Close(close::GOING_AWAY, "server shutting down".into());
            }
            (code, reason) = outbox.kick.wait() => return End::Close(code, reason),
            // Reading comes before writing: a connection that is sent a steady stream
            // of notices still has its own commands read (each read batch ends with a
            // write of everything queued, so the queue drains either way).
            msg = ws.next() => {
                last_heard = Instant::now();
                // The notices written in this step, until they are flushed.
                let mut in_flight = Vec::new();
                let step = async {
                    let read = async {
                        let mut read = on_frame(shared, who, outbox, &mut bucket, msg);
                        // Handle the frames that already arrived too before writing, so
                        // that their replies leave together (one write instead of one
                        // per frame). Each frame's replies move from the queue into the
                        // socket's buffer before the next frame is read: they precede
                        // anything read next (a close reply included), and a client that
                        // pipelines requests never fills its queue with its own replies.
                        let mut batch = 1;
                        while matches!(read, Read::More) {
                            // A kicked connection leaves its queue alone: a newer one of
                            // the agent may be waiting for the notices in it.
                            if outbox.kick.is_set() {
                                break;
                            }
                            while let Some(q) = rx.try_recv() {
                                if q.notice {
                                    in_flight.push(q.frame.clone());
                                }
                                ws.feed(Message::Text(q.frame)).await?;
                            }
                            if batch >= READ_BATCH || *shutdown.borrow() {
                                break;
                            }
                            let Some(msg) = ws.next().now_or_never() else { break };
                            read = on_frame(shared, who, outbox, &mut bucket, msg);
                            batch += 1;
                        }
                        Ok::<_, WsError>(read)
                    };
                    let read = match tokio::time::timeout(write_timeout, read).await {
                        Ok(Ok(read)) => read,
                        Ok(Err(_)) | Err(_) => return None,
                    };
                    // Write what the batch queued (after a close or a protocol error
                    // too: the replies to the commands before it were earned).
                    let write = match &read {
                        Read::More if outbox.kick.is_set() => {
                            tokio::time::timeout(write_timeout, ws.flush()).await
                        }
                        Read::More => {
                            tokio::time::timeout(
                                write_timeout,
                                write_queued(ws, rx, &mut in_flight),
                            )
                            .await
                        }
                        Read::Closing | Read::End(End::Close(..) | End::CloseAndLinger(..)) => {
                            tokio::time::timeout(write_timeout, ws.flush()).await
                        }
                        Read::End(End::Gone) => return Some((read, Ok(Ok(())))),
                    };
                    Some((read, write))
                };
                // A write stuck on a slow peer gives way to a kick, as below (the step
                // goes first: a frame already read is handled, never dropped).
                let stepped = tokio::select! {
                    biased;
                    stepped = step => Ok(stepped),
                    kicked = outbox.kick.wait() => Err(kicked),
                };
                match stepped {
                    Err((code, reason)) => {
                        succession.unsent = in_flight;
                        return End::Close(code, reason);
                    }
                    Ok(None) => {
                        succession.unsent = in_flight;
                        return End::Gone;
                    }
                    Ok(Some((read, write))) => match (read, write) {
                        // The kick, if any, ends the session next.
                        (Read::More, Ok(Ok(()))) => {
                            succession.keep_if_replaced(outbox, in_flight);
                        }
                        (Read::End(end), _) => {
                            succession.unsent = in_flight;
                            return end;
                        }
                        (Read::More | Read::Closing, _) => {
                            succession.unsent = in_flight;
                            return End::Gone;
                        }
                    },
                }
            }
            queued = rx.recv() => {
                // The notices this write carries, until it is flushed.
                let mut in_flight = Vec::new();
                if queued.notice {
                    in_flight.push(queued.frame.clone());
                }
                // A write stuck on a slow peer gives way to a kick (a newer connection
                // of the agent waits for this one's queue).
                let write = async {
                    ws.feed(Message::Text(queued.frame)).await?;
                    write_queued(ws, rx, &mut in_flight).await
                };
                if let Err(end) = write_unless_kicked(outbox, write_timeout, write).await {
                    // They may not have reached the peer: a newer connection gets them
                    // again (at worst twice).
                    succession.unsent = in_flight;
                    return end;
                }
                succession.keep_if_replaced(outbox, in_flight);
            }
            _ = ping.tick() => {
                if limits.idle_timeout_ms > 0
                    && last_heard.elapsed() >= Duration::from_millis(limits.idle_timeout_ms)
                {
                    return End::Close(close::POLICY, "idle timeout: no frame or pong received".into());
                }
                if limits.ping_interval_ms > 0 {
                    let pinged = tokio::select! {
                        biased;
                        kicked = outbox.kick.wait() => return End::Close(kicked.0, kicked.1),
                        pinged = tokio::time::timeout(
                            write_timeout,
                            ws.send(Message::Ping(Default::default())),
                        ) => pinged,
                    };
                    if !matches!(pinged, Ok(Ok(()))) {
                        return End::Gone;
                    }
                }
            }
        }
    }
}

/// Runs `write`, within the write timeout, unless the connection is kicked first: a
/// write stuck on a slow peer gives way (a newer connection of the agent may be waiting
/// for this one's notices). What ends the session is returned.
async fn write_unless_kicked(
    outbox: &Outbox,
    write_timeout: Duration,
    write: impl Future<Output = Result<(), WsError>>,
) -> Result<(), End> {
    tokio::select! {
        biased;
        (code, reason) = outbox.kick.wait() => Err(End::Close(code, reason)),
        written = tokio::time::timeout(write_timeout, write) => match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(End::Gone),
        },
    }
}

/// Writes the frames queued for the connection, then flushes once: one syscall for a
/// burst instead of one per frame. Before flushing it lets the tasks that are ready
/// run once, so that frames they queue for this connection leave in the same write;
/// on an idle server nothing else is ready and the flush follows at once. The notices
/// it writes are added to `in_flight`: the caller hands them to a newer connection if
/// this one was replaced meanwhile.
async fn write_queued(
    ws: &mut Ws,
    rx: &mut outbound::Receiver<Queued>,
    in_flight: &mut Vec<Utf8Bytes>,
) -> Result<(), WsError> {
    let mut fed = 0;
    let mut yielded = false;
    while fed < WRITE_BATCH {
        match rx.try_recv() {
            Some(next) => {
                if next.notice {
                    in_flight.push(next.frame.clone());
                }
                ws.feed(Message::Text(next.frame)).await?;
                fed += 1;
            }
            None if !yielded => {
                yielded = true;
                tokio::task::yield_now().await;
            }
            None => break,
        }
    }
    ws.flush().await?;
    Ok(())
}

/// What reading one frame left the session to do.
enum Read {
    /// Keep going.
    More,
    /// The session is over.
    End(End),
    /// The peer sent a close frame: flush tungstenite's reply, then end.
    Closing,
}

/// Handles one frame (or the end of the stream) read from the peer.
fn on_frame(
    shared: &Shared,
    who: &Principal,
    outbox: &Outbox,
    bucket: &mut Bucket,
    msg: Option<Result<Message, WsError>>,
) -> Read {
    match msg {
        None => Read::End(End::Gone),
        Some(Err(e)) => Read::End(read_error(e, shared.limits.max_message_bytes)),
        Some(Ok(Message::Text(text))) => {
            shared.frames_in.fetch_add(1, Ordering::Relaxed);
            on_text(shared, who, outbox, bucket, text.as_str());
            Read::More
        }
        // The protocol is JSON text: a binary frame breaks it (the replies to what came
        // before still go out first).
        Some(Ok(Message::Binary(_))) => {
            shared.frames_in.fetch_add(1, Ordering::Relaxed);
            Read::End(End::Close(
                close::UNSUPPORTED,
                "binary frames are not supported: send JSON text frames".into(),
            ))
        }
        // tungstenite answers pings itself; pongs only prove liveness.
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Read::More,
        Some(Ok(Message::Close(_))) => Read::Closing,
    }
}

fn read_error(e: WsError, max: usize) -> End {
    match e {
        WsError::Capacity(c) => End::CloseAndLinger(
            close::TOO_BIG,
            format!("message too big ({c}); the limit is {max} bytes"),
        ),
        // A text frame's payload or a close frame's reason (tungstenite checks both).
        WsError::Utf8(_) => End::CloseAndLinger(
            close::INVALID_PAYLOAD,
            "not valid UTF-8 (a text frame, or a close frame's reason)".into(),
        ),
        // The peer dropped the connection without a close frame: gone, not a
        // protocol breaker (no close frame could reach it, none is counted).
        WsError::Protocol(ProtocolErrorKind::ResetWithoutClosingHandshake) => End::Gone,
        WsError::Protocol(p) => {
            End::CloseAndLinger(close::PROTOCOL_ERROR, format!("protocol error: {p}"))
        }
        _ => End::Gone,
    }
}

fn on_text(shared: &Shared, who: &Principal, outbox: &Outbox, bucket: &mut Bucket, text: &str) {
    match protocol::parse_client_message(text) {
        Err((req, e)) => {
            let e = if bucket.take() {
                e
            } else {
                ProtocolError::RateLimited(shared.limits.messages_per_sec)
            };
            refuse(shared, outbox, req, &e);
        }
        Ok(msg) => {
            if !bucket.take() {
                let e = ProtocolError::RateLimited(shared.limits.messages_per_sec);
                refuse(shared, outbox, msg.req, &e);
                return;
            }
            let _ = shared.execute(who, msg.command, Some((outbox, msg.req)));
        }
    }
}

fn refuse(shared: &Shared, outbox: &Outbox, req: Option<protocol::ReqId>, e: &ProtocolError) {
    shared.count_error(e.code());
    outbox.push(
        error_frame(&req, e.code(), &e.to_string()),
        &shared.counters,
    );
}

/// Ends the connection as `end` says: `last` (replies still owed) and a close frame,
/// then the peer's close or what it still sends.
async fn finish(shared: &Shared, mut ws: Ws, end: End, last: Vec<Utf8Bytes>) {
    let wait = Duration::from_millis(shared.limits.write_timeout_ms.min(2_000));
    let (code, reason, linger) = match end {
        End::Gone => return,
        End::Close(c, r) => (c, r, false),
        End::CloseAndLinger(c, r) => (c, r, true),
    };
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(truncate(&reason, 120)),
    };
    let goodbye = async {
        for reply in last {
            ws.feed(Message::Text(reply)).await?;
        }
        ws.close(Some(frame)).await
    };
    if !matches!(tokio::time::timeout(wait, goodbye).await, Ok(Ok(()))) {
        return;
    }
    if linger {
        let io = ws.get_mut();
        let _ = tokio::time::timeout(wait, async {
            let _ = io.shutdown().await;
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    } else {
        // Wait for the peer's close reply so it sees a clean closing handshake.
        let _ =
            tokio::time::timeout(wait, async { while let Some(Ok(_)) = ws.next().await {} }).await;
    }
}

/// Close reasons must fit a control frame (125 bytes).
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
