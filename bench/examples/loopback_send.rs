//! What one small loopback TCP send costs the sending thread on this machine, when the
//! reading thread is busy and when it has gone idle and must be woken.
//!
//! A sender writes 250-byte messages to a reader thread over 127.0.0.1 (Nagle off), in
//! three paces: back to back, one every 100 µs and one every millisecond. The sender's
//! CPU time (the scheduler's own count, `/proc/thread-self/schedstat`) is measured with
//! the sends and, as a baseline, with the same pauses and no sends; the difference per
//! message is the send's cost, including the kernel's delivery to the other socket and
//! the wake-up of the reader. Five rounds per pace, alternating with the baseline.
//!
//! ```text
//! cargo run --release -p switchboard-bench --example loopback_send
//! taskset -c 0 cargo run --release -p switchboard-bench --example loopback_send   # one core
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Bytes per message: about a `message` notice.
const SIZE: usize = 250;
/// Messages per round.
const MESSAGES: u32 = 4000;
/// Rounds per pace.
const ROUNDS: usize = 5;

/// The calling thread's CPU time so far, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat (Linux)")
}

/// The sender's CPU per message over one round, in microseconds: with `send`, each
/// message is written before the pause.
fn round(gap: Duration, send: bool) -> std::io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut tx = TcpStream::connect(listener.local_addr()?)?;
    tx.set_nodelay(true)?;
    let (mut rx, _) = listener.accept()?;
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while matches!(rx.read(&mut buf), Ok(n) if n > 0) {}
    });
    let message = [b'x'; SIZE];
    let start = thread_cpu_ns();
    for _ in 0..MESSAGES {
        if send {
            tx.write_all(&message)?;
        }
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
    let used = thread_cpu_ns() - start;
    drop(tx);
    let _ = reader.join();
    Ok(used as f64 / 1000.0 / f64::from(MESSAGES))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> std::io::Result<()> {
    println!(
        "{SIZE}-byte loopback sends, {MESSAGES} per round, {ROUNDS} rounds; sender CPU per message, µs"
    );
    println!(
        "{:>10} {:>12} {:>12} {:>12} {:>12}",
        "pace", "with send", "pauses only", "send costs", "(min..max)"
    );
    for (name, gap) in [
        ("no pause", Duration::ZERO),
        ("100 µs", Duration::from_micros(100)),
        ("1 ms", Duration::from_millis(1)),
    ] {
        let (mut with, mut without, mut cost) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let w = round(gap, true)?;
            let b = round(gap, false)?;
            with.push(w);
            without.push(b);
            cost.push(w - b);
        }
        let lo = cost.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = cost.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{name:>10} {:>12.2} {:>12.2} {:>12.2} {:>5.2}..{:.2}",
            median(with),
            median(without),
            median(cost),
            lo,
            hi
        );
    }
    Ok(())
}
