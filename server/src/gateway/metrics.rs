//! `GET /metrics`: the server's state and counters in the Prometheus text format
//! (version 0.0.4). Every metric is prefixed `switchboard_`.

use super::state::{Shared, lock};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// Renders every metric.
pub(crate) fn render(shared: &Shared) -> String {
    let stats = lock(&shared.core).desk.stats();
    let mut out = String::with_capacity(4096);
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP switchboard_{name} {help}");
        let _ = writeln!(out, "# TYPE switchboard_{name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "switchboard_{name}{labels} {v}");
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    let gauge = |n: &std::sync::atomic::AtomicUsize| n.load(Ordering::Relaxed) as f64;

    family(
        "connections",
        "gauge",
        "Open WebSocket connections by role.",
        &[
            (label("role", "agent"), gauge(&shared.agent_connections)),
            (label("role", "user"), gauge(&shared.user_connections)),
        ],
    );
    let states = ["queued", "active", "transferred", "closed", "abandoned"];
    family(
        "chats",
        "gauge",
        "Chats by state.",
        &states
            .iter()
            .map(|s| {
                let n = stats.chats_by_state.get(s).copied().unwrap_or(0);
                (label("state", s), n as f64)
            })
            .collect::<Vec<_>>(),
    );
    let mut depth = Vec::new();
    for (q, (queued, transferred)) in &stats.queue_depth {
        depth.push((
            labels(&[("queue", q.as_str()), ("list", "queue")]),
            *queued as f64,
        ));
        depth.push((
            labels(&[("queue", q.as_str()), ("list", "transferred")]),
            *transferred as f64,
        ));
    }
    family(
        "queue_depth",
        "gauge",
        "Chats waiting per support queue: in Queue, and transferred to the queue.",
        &depth,
    );
    let statuses = ["offline", "disconnected", "available", "unavailable"];
    family(
        "agents",
        "gauge",
        "Provisioned agents by status.",
        &statuses
            .iter()
            .map(|s| {
                let n = stats.agents_by_status.get(s).copied().unwrap_or(0);
                (label("status", s), n as f64)
            })
            .collect::<Vec<_>>(),
    );
    family(
        "free_slots",
        "gauge",
        "Free auto-accept slots of online, available agents (Available for N minus open chats).",
        &one(stats.free_slots as f64),
    );
    family(
        "tickets",
        "gauge",
        "Tickets, drafts included.",
        &one(stats.tickets as f64),
    );

    let c = lock(&shared.counters);
    family(
        "connections_total",
        "counter",
        "WebSocket connections accepted since start.",
        &one(c.connections_total as f64),
    );
    family(
        "frames_received_total",
        "counter",
        "Data frames received from clients.",
        &one(shared.frames_in.load(Ordering::Relaxed) as f64),
    );
    family(
        "commands_total",
        "counter",
        "Commands handled by the Desk, by type (refused ones included).",
        &c.commands
            .iter()
            .map(|(k, v)| (label("command", k), *v as f64))
            .collect::<Vec<_>>(),
    );
    family(
        "errors_total",
        "counter",
        "Error frames and refused commands, by code.",
        &c.errors
            .iter()
            .map(|(k, v)| (label("code", k), *v as f64))
            .collect::<Vec<_>>(),
    );
    family(
        "messages_relayed_total",
        "counter",
        "Chat messages delivered to the other side (R10).",
        &one(c.messages_relayed as f64),
    );
    family(
        "routing_decisions_total",
        "counter",
        "Chats given to agents, by how: accept, accept_transfer, auto.",
        &["accept", "accept_transfer", "auto"]
            .iter()
            .map(|k| {
                (
                    label("kind", k),
                    c.routing.get(k).copied().unwrap_or(0) as f64,
                )
            })
            .collect::<Vec<_>>(),
    );
    family(
        "undeliverable_notices_total",
        "counter",
        "Notices that reached no connection: the recipient had none, or its outbound queue was full (a slow consumer) or closing.",
        &one(c.undeliverable as f64),
    );
    family(
        "slow_consumer_disconnects_total",
        "counter",
        "Connections closed because their outbound queue filled.",
        &one(c.slow_consumers as f64),
    );
    family(
        "server_closes_total",
        "counter",
        "Connections the server closed for breaking a limit or the protocol, by close code.",
        &c.closed_by_server
            .iter()
            .map(|(k, v)| (label("code", &k.to_string()), *v as f64))
            .collect::<Vec<_>>(),
    );
    family(
        "http_requests_total",
        "counter",
        "HTTP requests by response status (WebSocket upgrades included).",
        &c.http_requests
            .iter()
            .map(|(k, v)| (label("status", &k.to_string()), *v as f64))
            .collect::<Vec<_>>(),
    );
    drop(c);
    family(
        "journal_lost_entries_total",
        "counter",
        "Journal entries not written because the journal writer failed (see the log).",
        &one(shared.journal_lost.load(Ordering::Relaxed) as f64),
    );
    family(
        "uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        &one(shared.start.elapsed().as_secs_f64()),
    );
    out
}

fn label(k: &str, v: &str) -> String {
    labels(&[(k, v)])
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}
