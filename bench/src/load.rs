//! The load client every target shares: one task per WebSocket connection, sending on
//! an open-model schedule and reading what arrives.
//!
//! Every message is the same JSON `send` command; its text carries a stamp
//! `~S<step>:<µs>~` holding the step it belongs to and the time it was *scheduled* to
//! leave (µs since the client's epoch). Whoever receives a frame holding a stamp —
//! the echo server's copy or the relay's `message` notice on the other side of the
//! chat — records `now - scheduled` in that step's HDR histogram. Latency is thus
//! measured from the intended time: a sender that falls behind (because the server or
//! the client itself is slow) shows up as latency instead of silently sending less
//! (no coordinated omission).
//!
//! Everything is counted per step, by the step in the stamp: how many messages the
//! schedule held, how many left, how many came back, and how many of those came back
//! before the step ended. A step is over when every connection still alive has sent its
//! share and every message sent has come back (or the drain time ran out: the rest are
//! lost), so a step's histogram holds all of its messages, however late, and none of
//! the next step's. A connection that fails is counted as an error and no longer
//! waited for. Each step's latencies are also kept in
//! two halves by scheduled time, so that a queue growing over the step (the target
//! falling behind) shows as a later half slower than the earlier one.
//!
//! Tokio's timers have a 1 ms resolution: a message is sent up to ~1 ms after its
//! schedule. That floor is the same for both targets.

use crate::cpu::CpuSample;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_sim::host::Interference;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Most steps one run may have (counters and histograms are preallocated per step).
pub const MAX_STEPS: usize = 64;

/// One step of offered load: from `start` to `end`, `rate` messages per second in all.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Index into the step counters and histograms.
    pub step: usize,
    /// Messages per second over all connections.
    pub rate: f64,
    /// When the step starts.
    pub start: Instant,
    /// When it ends (no message is scheduled at or after it).
    pub end: Instant,
}

fn histogram() -> anyhow::Result<Mutex<Histogram<u64>>> {
    // 1 µs to 60 s, 3 significant digits.
    Ok(Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?))
}

fn copy(h: &Mutex<Histogram<u64>>) -> Histogram<u64> {
    h.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// One step's counters and histograms.
struct StepStats {
    /// Latency (µs from the schedule) of messages scheduled in the step's first half.
    early: Mutex<Histogram<u64>>,
    /// … and in its second half.
    late: Mutex<Histogram<u64>>,
    /// How late (µs) messages left against their schedule — the client's own share of
    /// the latency (timer resolution and a busy client).
    lag: Mutex<Histogram<u64>>,
    /// µs since the epoch where the step's second half begins.
    middle: AtomicU64,
    /// µs since the epoch where the step ends.
    end: AtomicU64,
    /// Messages the connections' schedules held.
    scheduled: AtomicU64,
    /// Messages that left.
    sent: AtomicU64,
    /// Messages that came back.
    received: AtomicU64,
    /// … of which before the step ended.
    received_in_step: AtomicU64,
    /// Connections that took the step up.
    joined: AtomicUsize,
    /// Connections done with the step (all sent, the next step began first, or the
    /// connection failed).
    finished: AtomicUsize,
}

impl StepStats {
    fn new() -> anyhow::Result<Self> {
        Ok(StepStats {
            early: histogram()?,
            late: histogram()?,
            lag: histogram()?,
            middle: AtomicU64::new(0),
            end: AtomicU64::new(u64::MAX),
            scheduled: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            received_in_step: AtomicU64::new(0),
            joined: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        })
    }
}

/// What all senders and receivers share.
pub struct Shared {
    epoch: Instant,
    steps: Vec<StepStats>,
    /// Messages sent, all steps.
    pub sent: AtomicU64,
    /// Stamped frames received, all steps.
    pub received: AtomicU64,
    /// Connections that failed (a read or write error, or closed by the target); each
    /// ends its task.
    pub errors: AtomicU64,
    /// Connections whose task is still running.
    live: AtomicUsize,
}

impl Shared {
    fn new() -> anyhow::Result<Self> {
        Ok(Shared {
            epoch: Instant::now(),
            steps: (0..MAX_STEPS)
                .map(|_| StepStats::new())
                .collect::<anyhow::Result<_>>()?,
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            live: AtomicUsize::new(0),
        })
    }

    fn micros(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// Records a received frame if it holds a stamp; returns whether it did.
    fn record(&self, frame: &str, now: Instant) -> bool {
        let Some((step, sched)) = parse_stamp(frame) else {
            return false;
        };
        let Some(stats) = self.steps.get(step) else {
            return false;
        };
        let at = self.micros(now);
        let lat = at.saturating_sub(sched).max(1);
        let half = if sched < stats.middle.load(Ordering::Relaxed) {
            &stats.early
        } else {
            &stats.late
        };
        half.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .saturating_record(lat);
        if at < stats.end.load(Ordering::Relaxed) {
            stats.received_in_step.fetch_add(1, Ordering::Relaxed);
        }
        stats.received.fetch_add(1, Ordering::Relaxed);
        self.received.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Everything one step counted, copied out.
    pub fn step(&self, step: usize) -> StepCounts {
        let s = &self.steps[step];
        let early = copy(&s.early);
        let late = copy(&s.late);
        let mut all = early.clone();
        // Same bounds: adding cannot fail.
        let _ = all.add(&late);
        StepCounts {
            scheduled: s.scheduled.load(Ordering::Relaxed),
            sent: s.sent.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            received_in_step: s.received_in_step.load(Ordering::Relaxed),
            latency: all,
            early,
            late,
            send_lag: copy(&s.lag),
        }
    }

    /// Whether every connection still alive has taken `step` up, every one that took
    /// it up is done with it, and all that was sent came back.
    fn step_complete(&self, step: usize) -> bool {
        let s = &self.steps[step];
        let joined = s.joined.load(Ordering::Acquire);
        joined >= self.live.load(Ordering::Acquire)
            && s.finished.load(Ordering::Acquire) >= joined
            && s.received.load(Ordering::Relaxed) >= s.sent.load(Ordering::Relaxed)
    }
}

/// The step and scheduled time of the first stamp in `frame`.
fn parse_stamp(frame: &str) -> Option<(usize, u64)> {
    let at = frame.find("~S")?;
    let rest = &frame[at + 2..];
    let end = rest.find('~')?;
    let (step, sched) = rest[..end].split_once(':')?;
    Some((step.parse().ok()?, sched.parse().ok()?))
}

/// The name of the client runtime's threads (see [`crate::cpu`]).
pub const CLIENT_THREADS: &str = "bench-client";

/// One step's counts and histograms (µs).
pub struct StepCounts {
    /// Messages the schedule held.
    pub scheduled: u64,
    /// Messages that left (fewer than scheduled if the client fell a whole step behind).
    pub sent: u64,
    /// Messages that came back.
    pub received: u64,
    /// … of which before the step ended.
    pub received_in_step: u64,
    /// Latency of every message that came back.
    pub latency: Histogram<u64>,
    /// Latency of messages scheduled in the step's first half.
    pub early: Histogram<u64>,
    /// … in its second half.
    pub late: Histogram<u64>,
    /// How late messages left against their schedule.
    pub send_lag: Histogram<u64>,
}

/// What one step measured besides its counts.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Connections that failed from the step's start to the end of its drain.
    pub errors: u64,
    /// How long after the step's end its last message came back; `None` if some had
    /// not within the drain time.
    pub drained: Option<Duration>,
    /// Cores the client's threads used (`None` without `/proc`).
    pub client_cores: Option<f64>,
    /// Cores the target's threads used.
    pub target_cores: Option<f64>,
    /// What the machine did besides the run during the step (`None` without `/proc`).
    pub interference: Option<Interference>,
    /// Cores' worth of time the run's threads waited for a CPU.
    pub waited_cores: Option<f64>,
}

/// One connection the client drives: its socket and the chat its messages go to (the
/// echo server ignores the chat).
pub struct Conn {
    /// The socket, past any set-up.
    pub ws: Ws,
    /// The chat `send` names.
    pub chat: u64,
}

/// The running client: change the plan to start a step.
pub struct Client {
    /// Counters and histograms.
    pub shared: Arc<Shared>,
    plan: watch::Sender<Option<Plan>>,
    conns: usize,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Client {
    /// Starts one task per connection (it sends on schedule and reads what arrives),
    /// idle until [`Client::run_step`].
    pub fn start(conns: Vec<Conn>) -> anyhow::Result<Client> {
        let shared = Arc::new(Shared::new()?);
        let (plan, plan_rx) = watch::channel(None);
        let n = conns.len();
        shared.live.store(n, Ordering::Release);
        let tasks = conns
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let sender = Sender::new(c.chat, i, n, Arc::clone(&shared));
                tokio::spawn(drive(c.ws, sender, plan_rx.clone()))
            })
            .collect();
        Ok(Client {
            shared,
            plan,
            conns: n,
            tasks,
        })
    }

    /// Offers `rate` messages/s for `secs` as `step`, then waits (up to `drain`) until
    /// every connection has sent its share and all of it came back. Returns how many
    /// connections failed meanwhile, how long the drain took and how busy the client's
    /// and the target's threads were during the step.
    pub async fn run_step(&self, step: usize, rate: f64, secs: f64, drain: Duration) -> Measured {
        let errors0 = self.shared.errors.load(Ordering::Relaxed);
        let start = Instant::now() + Duration::from_millis(20);
        let end = start + Duration::from_secs_f64(secs);
        let middle = start + Duration::from_secs_f64(secs / 2.0);
        let stats = &self.shared.steps[step];
        stats
            .middle
            .store(self.shared.micros(middle), Ordering::Relaxed);
        stats.end.store(self.shared.micros(end), Ordering::Relaxed);
        let _ = self.plan.send(Some(Plan {
            step,
            rate,
            start,
            end,
        }));
        tokio::time::sleep_until(start.into()).await;
        let cpu0 = CpuSample::now();
        tokio::time::sleep_until(end.into()).await;
        let cpu1 = CpuSample::now();
        // Both samples, or none where `/proc` cannot tell.
        let cpu = cpu0.zip(cpu1);
        let cores = |name| cpu.as_ref().map(|(a, b)| b.cores_since(a, name));
        let deadline = end + drain;
        let drained = loop {
            if self.shared.step_complete(step) {
                break Some(Instant::now().saturating_duration_since(end));
            }
            // A failed connection's messages (and those sent to it) never come back:
            // the step is spoilt, waiting longer tells nothing.
            if Instant::now() >= deadline || self.shared.errors.load(Ordering::Relaxed) > errors0 {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        Measured {
            errors: self.shared.errors.load(Ordering::Relaxed) - errors0,
            drained,
            client_cores: cores(CLIENT_THREADS),
            target_cores: cores(crate::targets::TARGET_THREADS),
            interference: cpu.as_ref().and_then(|(a, b)| b.interference_since(a)),
            waited_cores: cpu.as_ref().map(|(a, b)| b.waited_cores_since(a)),
        }
    }

    /// Connections driven.
    pub fn connections(&self) -> usize {
        self.conns
    }

    /// Stops every task.
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// One connection's schedule: when its next message is due during the current step.
struct Sender {
    /// The frame up to the stamp: `{"type":"send","chat":N,"text":"~S`.
    prefix: String,
    index: usize,
    conns: usize,
    shared: Arc<Shared>,
    /// The step being offered, the interval between this connection's messages and
    /// when the next one is due.
    step: Option<(Plan, Duration, Instant)>,
}

impl Sender {
    fn new(chat: u64, index: usize, conns: usize, shared: Arc<Shared>) -> Self {
        Sender {
            prefix: format!(r#"{{"type":"send","chat":{chat},"text":"~S"#),
            index,
            conns,
            shared,
            step: None,
        }
    }

    /// Starts following `plan` (a step still unfinished is given up: its unsent
    /// messages stay counted as scheduled, not sent). This connection sends every
    /// `conns / rate` seconds, offset so that the connections together send evenly.
    fn follow(&mut self, plan: Option<Plan>) {
        if let Some((old, _, _)) = self.step.take() {
            self.finish(old.step);
        }
        let Some(plan) = plan else { return };
        self.shared.steps[plan.step]
            .joined
            .fetch_add(1, Ordering::Release);
        let mut scheduled = 0;
        if plan.rate > 0.0 {
            let every = Duration::from_secs_f64(self.conns as f64 / plan.rate);
            let first = plan.start + every.mul_f64(self.index as f64 / self.conns as f64);
            if first < plan.end && !every.is_zero() {
                // Sends at first + k·every for every k with that before the end.
                let span = (plan.end - first).as_nanos();
                scheduled = span.div_ceil(every.as_nanos());
                self.step = Some((plan, every, first));
            }
        }
        let stats = &self.shared.steps[plan.step];
        stats.scheduled.fetch_add(
            u64::try_from(scheduled).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if self.step.is_none() {
            self.finish(plan.step);
        }
    }

    fn finish(&self, step: usize) {
        self.shared.steps[step]
            .finished
            .fetch_add(1, Ordering::Release);
    }

    /// When the next message is due, if the step has one left.
    fn due(&self) -> Option<Instant> {
        self.step.map(|(_, _, next)| next)
    }

    /// The messages due by `now` (the timer or the runtime may be late: all of them
    /// leave now, and how late each one is, is the client's own share of its
    /// latency), counted as sent — before they leave, so that a drain never sees one
    /// arrive uncounted — with their send lag recorded.
    fn take_due(&mut self, now: Instant) -> Vec<Message> {
        let Some((plan, every, mut next)) = self.step else {
            return Vec::new();
        };
        let stats = &self.shared.steps[plan.step];
        let mut due = Vec::new();
        let mut lag = stats
            .lag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while next <= now && next < plan.end {
            let late = now.saturating_duration_since(next).as_micros();
            lag.saturating_record(u64::try_from(late).unwrap_or(u64::MAX).max(1));
            due.push(Message::text(self.frame(plan.step, next)));
            next += every;
        }
        drop(lag);
        stats.sent.fetch_add(due.len() as u64, Ordering::Relaxed);
        self.shared
            .sent
            .fetch_add(due.len() as u64, Ordering::Relaxed);
        if next < plan.end {
            self.step = Some((plan, every, next));
        } else {
            self.step = None;
            self.finish(plan.step);
        }
        due
    }

    /// The `send` command for a message of `step` scheduled at `at`.
    fn frame(&self, step: usize, at: Instant) -> String {
        const TAIL: &str = "~ hello from the bench\"}";
        let mut numbers = itoa::Buffer::new();
        let mut text = String::with_capacity(self.prefix.len() + 32 + TAIL.len());
        text.push_str(&self.prefix);
        text.push_str(numbers.format(step));
        text.push(':');
        text.push_str(numbers.format(self.shared.micros(at)));
        text.push_str(TAIL);
        text
    }
}

/// Drives one connection until it fails (or the client stops): sends what its
/// schedule says is due and records every stamped frame that arrives, in one task (no
/// lock between a sending and a reading half). A write only waits while the socket's
/// buffer is full, that is while the target is not reading. A failed connection is
/// counted as an error, is done with its step (its unsent messages stay unsent) and is
/// no longer waited for.
async fn drive(ws: Ws, mut sender: Sender, plan_rx: watch::Receiver<Option<Plan>>) {
    let failed = exchange(ws, &mut sender, plan_rx).await;
    let shared = &sender.shared;
    if failed {
        shared.errors.fetch_add(1, Ordering::Relaxed);
    }
    if let Some((plan, _, _)) = sender.step.take() {
        sender.finish(plan.step);
    }
    shared.live.fetch_sub(1, Ordering::AcqRel);
}

/// [`drive`]'s loop; returns whether the connection failed (rather than the plan's
/// sender going away).
async fn exchange(
    mut ws: Ws,
    sender: &mut Sender,
    mut plan_rx: watch::Receiver<Option<Plan>>,
) -> bool {
    let timer = tokio::time::sleep_until(Instant::now().into());
    tokio::pin!(timer);
    let mut armed = None;
    loop {
        if sender.due() != armed {
            armed = sender.due();
            if let Some(at) = armed {
                timer.as_mut().reset(at.into());
            }
        }
        tokio::select! {
            biased;
            () = &mut timer, if armed.is_some() => {
                armed = None;
                for msg in sender.take_due(Instant::now()) {
                    if ws.feed(msg).await.is_err() {
                        return true;
                    }
                }
                if ws.flush().await.is_err() {
                    return true;
                }
            }
            changed = plan_rx.changed() => {
                if changed.is_err() {
                    return false;
                }
                sender.follow(*plan_rx.borrow_and_update());
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    sender.shared.record(t.as_str(), Instant::now());
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    return true;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Message, Plan, Sender, Shared, parse_stamp};
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    #[test]
    fn a_connection_sends_its_share_on_schedule_until_the_step_ends() {
        let shared = Arc::new(Shared::new().unwrap());
        let start = Instant::now();
        let ms = Duration::from_millis;
        let plan = Plan {
            step: 2,
            rate: 1000.0,
            start,
            end: start + ms(100),
        };
        // Four connections at 1,000/s: each sends every 4 ms, the second from 1 ms in.
        let mut sender = Sender::new(7, 1, 4, Arc::clone(&shared));
        sender.follow(Some(plan));
        assert_eq!(sender.due(), Some(start + ms(1)));
        // Late by 9 ms: the three messages due (1, 5, 9 ms) all leave at once.
        let first = sender.take_due(start + ms(10));
        assert_eq!(first.len(), 3);
        assert_eq!(sender.due(), Some(start + ms(13)));
        // 13, 17, …, 97 ms; nothing at or after the end.
        assert_eq!(sender.take_due(start + ms(1000)).len(), 22);
        assert_eq!(sender.due(), None);
        assert!(sender.take_due(start + ms(2000)).is_empty());
        // Each frame is a valid `send` stamped with its step and *scheduled* time, and
        // every message's lateness is in the step's send-lag histogram.
        let Message::Text(text) = &first[0] else {
            panic!("not a text frame: {:?}", first[0]);
        };
        let frame: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(frame["type"], "send");
        assert_eq!(frame["chat"], 7);
        assert_eq!(
            parse_stamp(text.as_str()),
            Some((2, shared.micros(start + ms(1))))
        );
        let counts = shared.step(2);
        assert_eq!(counts.send_lag.len(), 25);
        assert!(
            counts.send_lag.max() >= 8_000,
            "the first message left 9 ms late"
        );
        // The step's count was known up front, and this connection is done with it.
        assert_eq!((counts.scheduled, counts.sent), (25, 25));
        assert!(!shared.step_complete(2), "nothing came back yet");
        assert_eq!(shared.steps[2].finished.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_step_is_complete_once_every_connection_sent_its_share_and_all_came_back() {
        let shared = Arc::new(Shared::new().unwrap());
        let start = Instant::now();
        let ms = Duration::from_millis;
        let plan = Plan {
            step: 1,
            rate: 200.0,
            start,
            end: start + ms(50),
        };
        shared.steps[1]
            .middle
            .store(shared.micros(start + ms(25)), Ordering::Relaxed);
        shared.steps[1]
            .end
            .store(shared.micros(start + ms(50)), Ordering::Relaxed);
        // Three connections are alive; two at 200/s: each every 10 ms, the second from
        // 5 ms in.
        shared.live.store(3, Ordering::Relaxed);
        let mut senders: Vec<Sender> = (0..2)
            .map(|i| Sender::new(3, i, 2, Arc::clone(&shared)))
            .collect();
        let mut frames = Vec::new();
        for s in &mut senders {
            s.follow(Some(plan));
            frames.extend(s.take_due(start + ms(29)));
        }
        // 0, 10, 20 and 5, 15, 25 ms are due; 30, 40 and 35, 45 are not yet.
        assert_eq!(frames.len(), 6);
        let texts: Vec<String> = frames
            .iter()
            .map(|f| f.to_text().unwrap().to_string())
            .collect();
        for t in &texts {
            assert!(shared.record(t, start + ms(40)));
        }
        assert!(!shared.step_complete(1), "four messages are still to leave");
        for s in &mut senders {
            let rest = s.take_due(start + ms(100));
            assert_eq!(rest.len(), 2);
            assert_eq!(s.due(), None);
            for f in rest {
                assert!(!shared.step_complete(1));
                assert!(shared.record(f.to_text().unwrap(), start + ms(100)));
            }
        }
        assert!(
            !shared.step_complete(1),
            "the third connection has not taken the step up"
        );
        // It fails before it does: no longer waited for.
        shared.live.fetch_sub(1, Ordering::Relaxed);
        assert!(shared.step_complete(1));
        let counts = shared.step(1);
        assert_eq!(
            (counts.scheduled, counts.sent, counts.received),
            (10, 10, 10)
        );
        // Six came back at 40 ms, within the step; four at 100 ms, after it.
        assert_eq!(counts.received_in_step, 6);
        // Scheduled before 25 ms: 0, 5, 10, 15, 20; the rest in the second half.
        assert_eq!((counts.early.len(), counts.late.len()), (5, 5));
        assert_eq!(counts.latency.len(), 10);
        // Frames without a stamp, or of a step out of range, are not counted.
        assert!(!shared.record(r#"{"type":"reply"}"#, start));
        assert!(!shared.record("~S99:1~", start));
        assert_eq!(shared.step(1).received, 10);
    }

    #[test]
    fn a_new_step_gives_up_the_unfinished_one() {
        let shared = Arc::new(Shared::new().unwrap());
        let start = Instant::now();
        let s = Duration::from_secs;
        let mut sender = Sender::new(1, 0, 1, Arc::clone(&shared));
        sender.follow(Some(Plan {
            step: 4,
            rate: 10.0,
            start,
            end: start + s(1),
        }));
        assert_eq!(sender.take_due(start).len(), 1);
        sender.follow(Some(Plan {
            step: 5,
            rate: 10.0,
            start: start + s(1),
            end: start + s(2),
        }));
        let old = shared.step(4);
        assert_eq!((old.scheduled, old.sent), (10, 1));
        assert_eq!(shared.steps[4].finished.load(Ordering::Relaxed), 1);
        assert_eq!(shared.step(5).scheduled, 10);
        assert_eq!(sender.due(), Some(start + s(1)));
    }

    #[test]
    fn a_step_without_rate_or_time_left_sends_nothing() {
        let shared = Arc::new(Shared::new().unwrap());
        let start = Instant::now();
        let mut sender = Sender::new(1, 0, 1, Arc::clone(&shared));
        sender.follow(Some(Plan {
            step: 0,
            rate: 0.0,
            start,
            end: start + Duration::from_secs(1),
        }));
        assert_eq!(sender.due(), None);
        sender.follow(Some(Plan {
            step: 0,
            rate: 10.0,
            start,
            end: start,
        }));
        assert_eq!(sender.due(), None);
        sender.follow(None);
        assert_eq!(sender.due(), None);
        // Each empty step is finished for this connection at once.
        assert_eq!(shared.steps[0].finished.load(Ordering::Relaxed), 2);
        assert_eq!(shared.step(0).scheduled, 0);
    }

    #[tokio::test]
    async fn a_failed_connection_is_counted_and_no_longer_waited_for() {
        use futures_util::StreamExt;
        // A server that closes each connection once its first frame arrives.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
                    let _ = ws.next().await;
                });
            }
        });
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .unwrap();
        let client = super::Client::start(vec![super::Conn { ws, chat: 1 }]).unwrap();
        let began = Instant::now();
        let drain = Duration::from_secs(30);
        let m = client.run_step(1, 100.0, 0.2, drain).await;
        assert_eq!(m.errors, 1);
        assert_eq!(m.drained, None, "its messages never came back");
        assert!(began.elapsed() < Duration::from_secs(10), "no drain wait");
        let counts = client.shared.step(1);
        assert!(counts.sent >= 1 && counts.received == 0);
        // The next step has nobody left to wait for.
        let m = client.run_step(2, 100.0, 0.2, drain).await;
        assert_eq!(m.errors, 0);
        assert!(m.drained.is_some());
        assert_eq!(client.shared.step(2).scheduled, 0);
        assert_eq!(client.shared.errors.load(Ordering::Relaxed), 1);
        client.stop();
    }

    #[test]
    fn stamps_are_found_inside_notices() {
        let notice = r#"{"type":"notice","notice":"message","entry":{"text":"~S3:12345~ hi"}}"#;
        assert_eq!(parse_stamp(notice), Some((3, 12345)));
        assert_eq!(parse_stamp(r#"{"type":"reply"}"#), None);
        assert_eq!(parse_stamp("~Sx:1~"), None);
    }
}
