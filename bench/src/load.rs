//! The load client both targets share: an open-model sender and a receiver per
//! WebSocket connection.
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
use futures_util::stream::{SplitSink, SplitStream};
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
    /// Starts a sender and a receiver task per connection, idle until [`Client::run_step`].
    pub fn start(conns: Vec<Conn>) -> anyhow::Result<Client> {
        let shared = Arc::new(Shared::new()?);
        let (plan, plan_rx) = watch::channel(None);
        let n = conns.len();
        let mut tasks = Vec::with_capacity(2 * n);
        for (i, c) in conns.into_iter().enumerate() {
            let (sink, stream) = c.ws.split();
            tasks.push(tokio::spawn(send_loop(
                sink,
                c.chat,
                i,
                n,
                plan_rx.clone(),
                Arc::clone(&shared),
            )));
            tasks.push(tokio::spawn(recv_loop(stream, Arc::clone(&shared))));
        }
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

async fn send_loop(
    mut sink: SplitSink<Ws, Message>,
    chat: u64,
    index: usize,
    conns: usize,
    mut plan_rx: watch::Receiver<Option<Plan>>,
    shared: Arc<Shared>,
) {
    let prefix = format!(r#"{{"type":"send","chat":{chat},"text":"~S"#);
    loop {
        if plan_rx.changed().await.is_err() {
            return;
        }
        let Some(plan) = *plan_rx.borrow_and_update() else {
            continue;
        };
        if plan.rate <= 0.0 {
            continue;
        }
        // This connection sends every `conns / rate` seconds, offset so that the
        // connections together send evenly.
        let every = Duration::from_secs_f64(conns as f64 / plan.rate);
        let mut next = plan.start + every.mul_f64(index as f64 / conns as f64);
        while next < plan.end {
            tokio::time::sleep_until(next.into()).await;
            let now = Instant::now();
            // Everything that is due (the timer or the runtime may be late) leaves now;
            // how late each one is, is the client's own share of its latency.
            let mut due = Vec::new();
            while next <= now && next < plan.end {
                due.push(next);
                next += every;
            }
            {
                let mut lag = shared.lags[plan.step]
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for &at in &due {
                    let late = now.saturating_duration_since(at).as_micros();
                    lag.saturating_record(u64::try_from(late).unwrap_or(u64::MAX).max(1));
                }
            }
            for at in due {
                let text = format!(
                    "{prefix}{}:{}~ hello from the bench\"}}",
                    plan.step,
                    shared.micros(at)
                );
                // Counted before it leaves, so a drain never sees it arrive uncounted.
                shared.sent.fetch_add(1, Ordering::Relaxed);
                if sink.feed(Message::text(text)).await.is_err() {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            if sink.flush().await.is_err() {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

async fn recv_loop(mut stream: SplitStream<Ws>, shared: Arc<Shared>) {
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(Message::Text(t)) => {
                if shared.record(t.as_str(), Instant::now()) {
                    shared.received.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(_) => {}
            Err(_) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_stamp;

    #[test]
    fn stamps_are_found_inside_notices() {
        let notice = r#"{"type":"notice","notice":"message","entry":{"text":"~S3:12345~ hi"}}"#;
        assert_eq!(parse_stamp(notice), Some((3, 12345)));
        assert_eq!(parse_stamp(r#"{"type":"reply"}"#), None);
        assert_eq!(parse_stamp("~Sx:1~"), None);
    }
}
