//! The load client both targets share: one task per WebSocket connection, sending on
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
//! Tokio's timers have a 1 ms resolution: a message is sent up to ~1 ms after its
//! schedule. That floor is the same for both targets.

use crate::cpu::CpuSample;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Most steps one run may have (histograms are preallocated per step).
pub const MAX_STEPS: usize = 64;

/// One step of offered load: from `start` to `end`, `rate` messages per second in all.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Index into the step histograms.
    pub step: usize,
    /// Messages per second over all connections.
    pub rate: f64,
    /// When the step starts.
    pub start: Instant,
    /// When it ends (no message is scheduled at or after it).
    pub end: Instant,
}

/// What all senders and receivers share.
pub struct Shared {
    epoch: Instant,
    hists: Vec<Mutex<Histogram<u64>>>,
    /// Per step: how late (µs) messages left against their schedule — the client's
    /// own share of the latency (timer resolution and a busy client).
    lags: Vec<Mutex<Histogram<u64>>>,
    /// Messages sent.
    pub sent: AtomicU64,
    /// Stamped frames received.
    pub received: AtomicU64,
    /// Frames that could not be read (closed sockets, errors).
    pub errors: AtomicU64,
}

impl Shared {
    fn new() -> anyhow::Result<Self> {
        let mut hists = Vec::with_capacity(MAX_STEPS);
        let mut lags = Vec::with_capacity(MAX_STEPS);
        for _ in 0..MAX_STEPS {
            // 1 µs to 60 s, 3 significant digits.
            hists.push(Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?));
            lags.push(Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?));
        }
        Ok(Shared {
            epoch: Instant::now(),
            hists,
            lags,
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    fn micros(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// A copy of one step's latency histogram (µs).
    pub fn histogram(&self, step: usize) -> Histogram<u64> {
        self.hists[step]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A copy of one step's send-lag histogram (µs).
    pub fn send_lag(&self, step: usize) -> Histogram<u64> {
        self.lags[step]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn record(&self, frame: &str, now: Instant) -> bool {
        let Some((step, sched)) = parse_stamp(frame) else {
            return false;
        };
        let Some(h) = self.hists.get(step) else {
            return false;
        };
        let lat = self.micros(now).saturating_sub(sched).max(1);
        h.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .saturating_record(lat);
        true
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

/// What one step measured besides latency.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Stamped frames received per second during the step.
    pub delivered: f64,
    /// Cores the client's threads used (`None` without `/proc`).
    pub client_cores: Option<f64>,
    /// Cores the target's threads used.
    pub target_cores: Option<f64>,
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

    /// Offers `rate` messages/s for `secs`, then waits (up to `drain`) for what was
    /// sent to arrive. Returns the rate at which stamped frames arrived during the step
    /// and how busy the client's and the target's threads were meanwhile.
    pub async fn run_step(&self, step: usize, rate: f64, secs: f64, drain: Duration) -> Measured {
        let start = Instant::now() + Duration::from_millis(20);
        let end = start + Duration::from_secs_f64(secs);
        let _ = self.plan.send(Some(Plan {
            step,
            rate,
            start,
            end,
        }));
        tokio::time::sleep_until(start.into()).await;
        let r0 = self.shared.received.load(Ordering::Relaxed);
        let cpu0 = CpuSample::now();
        tokio::time::sleep_until(end.into()).await;
        let r1 = self.shared.received.load(Ordering::Relaxed);
        let cpu1 = CpuSample::now();
        let cores = |name| match (&cpu0, &cpu1) {
            (Some(a), Some(b)) => Some(b.cores_since(a, name)),
            _ => None,
        };
        let measured = Measured {
            delivered: (r1 - r0) as f64 / secs,
            client_cores: cores(CLIENT_THREADS),
            target_cores: cores(crate::targets::TARGET_THREADS),
        };
        let deadline = Instant::now() + drain;
        while Instant::now() < deadline
            && self.shared.received.load(Ordering::Relaxed)
                < self.shared.sent.load(Ordering::Relaxed)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        measured
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

    /// Starts following `plan`. This connection sends every `conns / rate` seconds,
    /// offset so that the connections together send evenly.
    fn follow(&mut self, plan: Option<Plan>) {
        self.step = plan.filter(|p| p.rate > 0.0).map(|plan| {
            let every = Duration::from_secs_f64(self.conns as f64 / plan.rate);
            let first = plan.start + every.mul_f64(self.index as f64 / self.conns as f64);
            (plan, every, first)
        });
        if self.step.is_some_and(|(plan, _, next)| next >= plan.end) {
            self.step = None;
        }
    }

    /// When the next message is due, if the step has one left.
    fn due(&self) -> Option<Instant> {
        self.step.map(|(_, _, next)| next)
    }

    /// The messages due by `now` (the timer or the runtime may be late: all of them
    /// leave now, and how late each one is, is the client's own share of its
    /// latency), with their send lag recorded.
    fn take_due(&mut self, now: Instant) -> Vec<Message> {
        let Some((plan, every, mut next)) = self.step else {
            return Vec::new();
        };
        let mut due = Vec::new();
        let mut lag = self.shared.lags[plan.step]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while next <= now && next < plan.end {
            let late = now.saturating_duration_since(next).as_micros();
            lag.saturating_record(u64::try_from(late).unwrap_or(u64::MAX).max(1));
            due.push(Message::text(self.frame(plan.step, next)));
            next += every;
        }
        drop(lag);
        self.step = (next < plan.end).then_some((plan, every, next));
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

/// Drives one connection: sends what its schedule says is due and records every
/// stamped frame that arrives, in one task (no lock between a sending and a reading
/// half).
async fn drive(mut ws: Ws, mut sender: Sender, mut plan_rx: watch::Receiver<Option<Plan>>) {
    let shared = Arc::clone(&sender.shared);
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
                let due = sender.take_due(Instant::now());
                // Counted before they leave, so a drain never sees one arrive uncounted.
                shared.sent.fetch_add(due.len() as u64, Ordering::Relaxed);
                for msg in due {
                    if ws.feed(msg).await.is_err() {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                if ws.flush().await.is_err() {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            changed = plan_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                sender.follow(*plan_rx.borrow_and_update());
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if shared.record(t.as_str(), Instant::now()) {
                        shared.received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Message, Plan, Sender, Shared, parse_stamp};
    use std::sync::Arc;
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
        let lag = shared.send_lag(2);
        assert_eq!(lag.len(), 25);
        assert!(lag.max() >= 8_000, "the first message left 9 ms late");
    }

    #[test]
    fn a_step_without_rate_or_time_left_sends_nothing() {
        let shared = Arc::new(Shared::new().unwrap());
        let start = Instant::now();
        let mut sender = Sender::new(1, 0, 1, shared);
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
    }

    #[test]
    fn stamps_are_found_inside_notices() {
        let notice = r#"{"type":"notice","notice":"message","entry":{"text":"~S3:12345~ hi"}}"#;
        assert_eq!(parse_stamp(notice), Some((3, 12345)));
        assert_eq!(parse_stamp(r#"{"type":"reply"}"#), None);
        assert_eq!(parse_stamp("~Sx:1~"), None);
    }
}
