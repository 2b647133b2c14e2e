//! The three targets, each started in-process on `127.0.0.1:0` in a runtime of its own
//! (so the server's tasks and the client's do not share worker threads), and the
//! connections the load client drives against them.
//!
//! - **echo**: a bare tokio-tungstenite server that writes every text frame back
//!   (batched: it flushes once nothing else is ready, as the reference server does).
//!   It is the floor any WebSocket server pays.
//! - **forward**: a bare tokio-tungstenite relay. Connections pair up in the order they
//!   arrive; each text frame is written to the partner, padded with spaces to the size
//!   of the reference server's `message` notice ([`notice_padding`]), and a fixed reply
//!   of the size of the reference server's back to the sender, as the reference server
//!   answers a `send`. No JSON, no Desk, no bookkeeping: the floor any server pays that
//!   relays with this protocol's shape (one frame in, two out, on two connections, of
//!   the same sizes).
//! - **relay**: the reference server. `pairs` users each start a chat that agent *i*
//!   accepts; then users and agents `send`, and the other side receives each message
//!   as a `message` notice (half the traffic user → agent, half agent → user).

use crate::load::{Conn, Ws};
use anyhow::{Context as _, bail};
use futures_util::{FutureExt as _, SinkExt, StreamExt};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use switchboard_server::ServerConfig;
use switchboard_server::config::AgentConfig;
use switchboard_server::domain::{
    CHAT_PERMISSION, ChatId, ChatSource, Command, Entry, EntryBody, Notice, Party, Reply, Time,
};
use switchboard_server::protocol::{ClientMessage, ReqId, ServerFrame, encode_notice};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The name of every thread a target runs on (see [`crate::cpu`]).
pub const TARGET_THREADS: &str = "bench-target";

/// A target running on its own thread; dropping it stops it.
pub struct Target {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn spawn_target<F, Fut>(threads: usize, run: F) -> anyhow::Result<Target>
where
    F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(TARGET_THREADS)
        .enable_all()
        .build()?;
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(TARGET_THREADS.into())
        .spawn(move || {
            rt.block_on(async move {
                match TcpListener::from_std(std_listener) {
                    Ok(l) => run(l, stopped).await,
                    Err(e) => eprintln!("target cannot listen: {e}"),
                }
            });
            rt.shutdown_background();
        })?;
    Ok(Target {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Runs a target that hands every connection it accepts (Nagle off) to `on_accept`,
/// until stopped.
fn spawn_accepting<F>(threads: usize, mut on_accept: F) -> anyhow::Result<Target>
where
    F: FnMut(tokio::net::TcpStream) + Send + 'static,
{
    spawn_target(threads, move |listener, mut stopped| async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    on_accept(stream);
                }
            }
        }
    })
}

/// Starts the bare echo server.
pub fn start_echo(threads: usize) -> anyhow::Result<Target> {
    spawn_accepting(threads, |stream| {
        tokio::spawn(echo_connection(stream));
    })
}

async fn echo_connection(stream: tokio::net::TcpStream) {
    let config = switchboard_server::gateway::ws_config(64 * 1024);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if !msg.is_text() {
            continue;
        }
        if ws.feed(msg).await.is_err() {
            return;
        }
        // Echo whatever else already arrived, then flush once.
        while let Some(Some(Ok(more))) = ws.next().now_or_never() {
            if more.is_text() && ws.feed(more).await.is_err() {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// What the forward target answers every frame with: the reference server's reply to a
/// `send`, of the same size (a two-digit chat, a six-digit place in its transcript, as a
/// run's long transcripts reach).
const FORWARD_REPLY: &str =
    r#"{"type":"reply","req":null,"command":"send","reply":"sent","chat":25,"seq":123456}"#;

/// How many bytes the reference server's `message` notice is longer than the `send`
/// frame it relays, for a typical bench message (a two-digit chat, six-digit place and
/// time, either side writing): what the bare relay pads each frame it forwards with, so
/// that it moves frames of the reference server's sizes.
pub fn notice_padding() -> usize {
    let text = "~S12:123456789~ hello from the bench";
    let send = format!(r#"{{"type":"send","chat":25,"text":"{text}"}}"#);
    let notice = |from| {
        encode_notice(&Notice::Message {
            chat: ChatId(25),
            entry: Entry {
                seq: 123_456,
                at: Time(123_456),
                from,
                body: EntryBody::Text { text: text.into() },
            },
        })
        .len()
    };
    let mean = (notice(Party::User) + notice(Party::Agent("a25".into()))) / 2;
    mean.saturating_sub(send.len())
}

/// Starts the bare relay: connection 2*k* and 2*k* + 1, in the order they are
/// accepted, are partners. [`plain_conns`] opens them one after the other, so that
/// order is theirs. The pair lives and dies together: when one end goes, the other's
/// inbox closes and it ends too (the bench counts both as failed; it stops at the
/// first failure anyway).
pub fn start_forward(threads: usize) -> anyhow::Result<Target> {
    // The second end of a pair whose first connection came: its inbox, and the way to
    // the first's.
    let mut waiting = None;
    spawn_accepting(threads, move |stream| {
        let end = waiting.take().unwrap_or_else(|| {
            let (to_first, first_inbox) = mpsc::unbounded_channel();
            let (to_second, second_inbox) = mpsc::unbounded_channel();
            waiting = Some((second_inbox, to_first));
            (first_inbox, to_second)
        });
        tokio::spawn(forward_connection(stream, end.0, end.1));
    })
}

/// One end of the bare relay: frames read go to the partner (and a reply back), frames
/// the partner sent are written out, flushed once nothing else is ready.
async fn forward_connection(
    stream: tokio::net::TcpStream,
    mut inbox: mpsc::UnboundedReceiver<Utf8Bytes>,
    partner: mpsc::UnboundedSender<Utf8Bytes>,
) {
    let config = switchboard_server::gateway::ws_config(64 * 1024);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let reply = Utf8Bytes::from_static(FORWARD_REPLY);
    let padding = " ".repeat(notice_padding());
    loop {
        let written = tokio::select! {
            msg = ws.next() => {
                let Some(Ok(mut msg)) = msg else { return };
                loop {
                    if let Message::Text(text) = msg {
                        // A partner that is gone takes this end down with it (its
                        // inbox closes), so a frame lost here is never waited for.
                        let mut padded = String::with_capacity(text.len() + padding.len());
                        padded.push_str(text.as_str());
                        padded.push_str(&padding);
                        let _ = partner.send(Utf8Bytes::from(padded));
                        if ws.feed(Message::Text(reply.clone())).await.is_err() {
                            return;
                        }
                    }
                    match ws.next().now_or_never() {
                        Some(Some(Ok(more))) => msg = more,
                        Some(_) => return,
                        None => break,
                    }
                }
                true
            }
            text = inbox.recv() => {
                let Some(text) = text else { return };
                ws.feed(Message::Text(text)).await.is_ok()
            }
        };
        if !written {
            return;
        }
        // What the partner sent meanwhile; then, after letting the other ready tasks
        // run once, what they sent (one write instead of several, as the reference
        // server batches).
        for round in 0..2 {
            if round == 1 {
                tokio::task::yield_now().await;
            }
            while let Ok(text) = inbox.try_recv() {
                if ws.feed(Message::Text(text)).await.is_err() {
                    return;
                }
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// Starts the reference server with `pairs` agents (tokens `t0`, `t1`, …) in queue `q`
/// and per-connection limits raised out of the way.
pub fn start_relay(threads: usize, pairs: usize) -> anyhow::Result<Target> {
    let mut config = ServerConfig {
        queues: vec!["q".into()],
        ..ServerConfig::default()
    };
    config.limits.messages_per_sec = 1_000_000;
    config.limits.burst = 1_000_000;
    config.limits.outbound_queue = 1 << 16;
    config.limits.max_connections = 4 * pairs + 16;
    for i in 0..pairs {
        config.agents.push(AgentConfig {
            id: format!("a{i}").as_str().into(),
            name: String::new(),
            token: Some(format!("t{i}")),
            permissions: BTreeSet::from([CHAT_PERMISSION.to_string()]),
            queues: vec!["q".into()],
        });
    }
    config.validate()?;
    spawn_target(threads, move |listener, stopped| async move {
        if let Err(e) = switchboard_server::serve(listener, config, async move {
            let _ = stopped.await;
        })
        .await
        {
            eprintln!("reference server failed: {e}");
        }
    })
}

/// Opens one client connection with the servers' WebSocket settings (small read
/// buffer: tungstenite zero-fills the whole buffer on every read, so its 128 KiB
/// default costs the client more than the frames) and Nagle off (frames leave as they
/// are written, as on the servers' side).
async fn connect(url: String) -> anyhow::Result<Ws> {
    let config = switchboard_server::gateway::ws_config(64 * 1024);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    Ok(ws)
}

/// Opens `n` plain connections to the echo server or the bare relay (whose partners
/// are connections 2*k* and 2*k* + 1, opened one after the other here).
pub async fn plain_conns(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let ws = connect(format!("ws://{addr}/")).await?;
        conns.push(Conn { ws, chat: 0 });
    }
    Ok(conns)
}

/// Sends `command` and reads frames until its reply; notices in between are skipped.
async fn request(ws: &mut Ws, req: u64, command: Command) -> anyhow::Result<Reply> {
    let msg = ClientMessage {
        req: Some(ReqId::Num(req)),
        command,
    };
    ws.send(Message::text(msg.to_json())).await?;
    loop {
        let frame = ws
            .next()
            .await
            .context("connection closed during set-up")??;
        let Message::Text(text) = frame else { continue };
        match serde_json::from_str::<ServerFrame>(text.as_str())? {
            ServerFrame::Reply { req: r, reply, .. } if r == Some(ReqId::Num(req)) => {
                return Ok(reply);
            }
            ServerFrame::Error {
                req: r,
                code,
                message,
            } if r == Some(ReqId::Num(req)) => bail!("set-up refused: {code}: {message}"),
            _ => {}
        }
    }
}

/// Connects `pairs` agents and users to the reference server and gives each pair a
/// chat: user *i* starts it, agent *i* accepts it.
pub async fn relay_conns(addr: SocketAddr, pairs: usize) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(2 * pairs);
    for i in 0..pairs {
        let mut agent = connect(format!("ws://{addr}/ws?token=t{i}")).await?;
        request(&mut agent, 1, Command::SignIn).await?;
        let mut user = connect(format!("ws://{addr}/ws")).await?;
        let started = request(
            &mut user,
            1,
            Command::StartChat {
                queue: "q".into(),
                subject: "bench".into(),
                source: ChatSource::default(),
                customer: None,
            },
        )
        .await?;
        let Reply::ChatStarted { chat, .. } = started else {
            bail!("start_chat: unexpected reply {started:?}");
        };
        request(&mut agent, 2, Command::Accept { chat }).await?;
        conns.push(Conn {
            ws: user,
            chat: chat.0,
        });
        conns.push(Conn {
            ws: agent,
            chat: chat.0,
        });
    }
    Ok(conns)
}

#[cfg(test)]
mod tests {
    use super::{FORWARD_REPLY, notice_padding, plain_conns, start_forward};
    use futures_util::{SinkExt, StreamExt};
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::Message;

    async fn next_text(ws: &mut crate::load::Ws) -> String {
        let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
        match next.expect("a frame within 5 s") {
            Some(Ok(Message::Text(t))) => t.to_string(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_bare_relay_passes_frames_to_the_partner_and_answers_the_sender() {
        let target = start_forward(1).unwrap();
        let mut conns = plain_conns(target.addr, 4).await.unwrap();
        // Frames reach the partner padded to the size of a `message` notice.
        let padded = |s: &str| format!("{s}{}", " ".repeat(notice_padding()));
        // Connections 0 and 1 are partners, 2 and 3 too.
        conns[0].ws.send(Message::text("from 0")).await.unwrap();
        conns[3].ws.send(Message::text("from 3")).await.unwrap();
        assert_eq!(next_text(&mut conns[0].ws).await, FORWARD_REPLY);
        assert_eq!(next_text(&mut conns[1].ws).await, padded("from 0"));
        assert_eq!(next_text(&mut conns[3].ws).await, FORWARD_REPLY);
        assert_eq!(next_text(&mut conns[2].ws).await, padded("from 3"));
        conns[1].ws.send(Message::text("back")).await.unwrap();
        assert_eq!(next_text(&mut conns[0].ws).await, padded("back"));
        assert_eq!(next_text(&mut conns[1].ws).await, FORWARD_REPLY);
    }

    /// The bare relay moves frames of the reference server's sizes: a `send` padded
    /// by this much is as long as the `message` notice the reference server makes of
    /// it (between the notice from a user and from an agent), and its reply as long as
    /// the reference server's.
    #[test]
    fn the_bare_relay_s_frames_are_the_reference_server_s_sizes() {
        let pad = notice_padding();
        // A 71-byte `send` becomes a notice of about 160 bytes.
        assert!((80..=100).contains(&pad), "{pad}");
        let reply = switchboard_server::protocol::encode_reply(
            &None,
            "send",
            &switchboard_server::domain::Reply::Sent {
                chat: switchboard_server::domain::ChatId(25),
                seq: 123_456,
            },
        );
        assert_eq!(reply.len(), FORWARD_REPLY.len(), "{reply}");
    }
}
