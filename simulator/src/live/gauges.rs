//! Gauges of a live run, sampled once per interval (up to a second of real time) from the
//! server under test's `GET /metrics`: chats waiting (`queued` + `transferred`),
//! chats with an agent (`active`), agents `available` and their free slots. This is the
//! server's own state, the same numbers an operator's dashboard would show. A gauge the
//! server does not expose leaves its column empty.

use super::clock::RunClock;
use crate::metrics::{Gauges, Recorder};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Samples the server at `addr` at every interval boundary of `len` (scenario time)
/// until `end` turns true; returns a recorder holding only the gauges.
pub async fn sample(
    addr: SocketAddr,
    clock: RunClock,
    len: Duration,
    target: Duration,
    mut end: watch::Receiver<bool>,
) -> Recorder {
    let mut rec = Recorder::new(target).with_interval(len);
    let mut k = 0u32;
    loop {
        // A slow `/metrics` skips the boundaries it made us miss: a sample taken late
        // would be filed under a time it does not describe. The first one, taken as
        // the sampler starts (moments after the clock), describes the start.
        let now = clock.now();
        if k > 0 && len * k < now && !len.is_zero() {
            let next = (now.as_secs_f64() / len.as_secs_f64()).ceil();
            k = k.max(u32::try_from(next as u64).unwrap_or(u32::MAX));
        }
        let at = len * k;
        k = k.saturating_add(1);
        tokio::select! {
            () = tokio::time::sleep_until(clock.instant_of(at).into()) => {}
            _ = end.changed() => break,
        }
        if *end.borrow() {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(2), fetch(addr)).await {
            Ok(Ok(text)) if is_ok(&text) => rec.gauges(at, parse(&text)),
            Ok(Ok(text)) => tracing::debug!(
                "GET /metrics: {}",
                text.lines().next().unwrap_or("no status line")
            ),
            Ok(Err(e)) => tracing::debug!("GET /metrics: {e}"),
            Err(_) => tracing::debug!("GET /metrics timed out"),
        }
    }
    rec
}

async fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The gauges in a Prometheus text page (lines like `switchboard_chats{state="active"} 3`).
/// A gauge the page does not have (a server that does not expose it) is
/// [`Gauges::UNKNOWN`], which leaves its column empty, not 0.
pub fn parse(text: &str) -> Gauges {
    let value = |names: &[&str]| -> u64 {
        let mut found = false;
        let mut sum = 0;
        for rest in text
            .lines()
            .filter_map(|l| names.iter().find_map(|name| l.strip_prefix(name)))
        {
            if let Ok(v) = rest.trim().parse::<f64>() {
                found = true;
                sum += v.max(0.0) as u64;
            }
        }
        if found { sum } else { Gauges::UNKNOWN }
    };
    Gauges {
        queued: value(&[
            "switchboard_chats{state=\"queued\"}",
            "switchboard_chats{state=\"transferred\"}",
        ]),
        active_chats: value(&["switchboard_chats{state=\"active\"}"]),
        agents_available: value(&["switchboard_agents{status=\"available\"}"]),
        free_slots: value(&["switchboard_free_slots "]),
    }
}

/// Whether an HTTP response is a success (`200 OK`): an error page has no gauges to
/// read, and reading it would file zeros.
fn is_ok(response: &str) -> bool {
    response
        .lines()
        .next()
        .and_then(|status| status.split_whitespace().nth(1))
        == Some("200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_metrics_page() {
        let page = "HTTP/1.1 200 OK\r\n\r\n# HELP x\nswitchboard_chats{state=\"queued\"} 2\nswitchboard_chats{state=\"active\"} 5\nswitchboard_chats{state=\"transferred\"} 1\nswitchboard_agents{status=\"available\"} 9\nswitchboard_agents{status=\"offline\"} 1\n";
        let g = parse(page);
        assert_eq!((g.queued, g.active_chats, g.agents_available), (3, 5, 9));
        assert_eq!(g.free_slots, Gauges::UNKNOWN, "not exposed: unknown, not 0");
        let g = parse(&format!("{page}switchboard_free_slots 7\n"));
        assert_eq!(g.free_slots, 7);
    }

    /// A page without a family leaves its gauges unknown (an empty cell), not 0; an
    /// error page is not read at all.
    #[test]
    fn what_the_page_does_not_have_is_unknown() {
        let g = parse("HTTP/1.1 200 OK\r\n\r\nswitchboard_chats{state=\"active\"} 4\n");
        assert_eq!(g.active_chats, 4);
        assert_eq!(g.queued, Gauges::UNKNOWN);
        assert_eq!(g.agents_available, Gauges::UNKNOWN);
        let g = parse("HTTP/1.1 200 OK\r\n\r\nswitchboard_chats{state=\"transferred\"} 2\n");
        assert_eq!(g.queued, 2, "either list counts");
        assert!(is_ok("HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!is_ok("HTTP/1.1 404 Not Found\r\n\r\n"));
        assert!(!is_ok(""));
    }
}
