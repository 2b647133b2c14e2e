//! The two targets, each started in-process on `127.0.0.1:0` in a runtime of its own
//! (so the server's tasks and the client's do not share worker threads), and the
//! connections the load client drives against them.
//!
//! - **echo**: a bare tokio-tungstenite server that writes every text frame back
//!   (batched: it flushes once nothing else is ready, as the reference server does).
//!   It is the floor any WebSocket server pays.
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
use switchboard_server::domain::{CHAT_PERMISSION, ChatSource, Command, Reply};
use switchboard_server::protocol::{ClientMessage, ReqId, ServerFrame};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

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

/// Starts the bare echo server.
pub fn start_echo(threads: usize) -> anyhow::Result<Target> {
    spawn_target(threads, |listener, mut stopped| async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(echo_connection(stream));
                }
            }
        }
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

/// Opens `n` plain connections to the echo server.
pub async fn echo_conns(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Conn>> {
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
