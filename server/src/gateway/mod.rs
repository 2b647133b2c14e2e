//! The gateway: everything between sockets and the Desk.
//!
//! [`serve`] accepts TCP connections, serves HTTP/1.1 on each (hyper) and upgrades
//! `GET /ws` to WebSocket sessions (tokio-tungstenite) on the same port. Around the
//! Desk it runs four kinds of task, in the shape of mini-redis:
//!
//! - one per connection ([`http`], then [`session`] after an upgrade), each holding a
//!   clone of the shutdown receiver and of the drain sender;
//! - a timer that sends `Tick` when the Desk's next grace period runs out;
//! - the queue-count pusher, which sends each queue's members its latest counts once
//!   per `queue_count_interval_ms` (coalesced `queue_changed` notices);
//! - the journal writer ([`journal`]).
//!
//! Shutdown: stop accepting, tell every session to close (1001), wait (bounded) for
//! every connection task to finish — their `Disconnect` commands reach the journal —
//! then close the journal channel and wait for the writer to flush.

mod connection;
mod http;
mod journal;
mod metrics;
mod outbound;
mod session;
mod state;

use crate::config::ServerConfig;
use crate::domain::{Command, DeskError, Principal};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use state::{Core, Counters, Registry, Shared, lock};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Bytes of the read buffer each WebSocket connection allocates (and, since
/// tungstenite zero-fills it, keeps resident) up front. tungstenite's default is
/// 128 KiB, i.e. 1.3 GiB for 10,000 connections; protocol frames are a few hundred
/// bytes and a larger message just grows the buffer, so a small one costs nothing.
pub const WS_READ_BUFFER: usize = 8 * 1024;

/// The WebSocket settings of the server's sessions: frames and messages up to
/// `max_message_bytes`, a small read buffer ([`WS_READ_BUFFER`]). Public so that
/// benchmarks can give a bare echo server the same settings.
pub fn ws_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration does not hold together.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The Desk refused the configuration.
    #[error("invalid configuration: {0}")]
    Desk(#[from] DeskError),
    /// The journal could not be opened or written.
    #[error("journal {path}: {source}")]
    Journal {
        /// The journal file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// After the shutdown grace: tells the Desk now of every connection still open (a
/// session stuck writing to a slow peer can outlast the grace), while the journal still
/// records it. Their sessions, when they end, find themselves unregistered and do not
/// tell the Desk again.
fn disconnect_stragglers(shared: &Shared) {
    loop {
        // One at a time, each taken out of the registry and disconnected under the
        // Desk's lock, as a session's own end does.
        let desk = lock(&shared.core);
        let who = {
            let mut reg = lock(&shared.registry);
            if let Some(a) = reg.agents.keys().next().cloned() {
                reg.agents.remove(&a);
                Principal::Agent(a)
            } else if let Some(u) = reg.users.keys().next().copied() {
                reg.users.remove(&u);
                Principal::User(u)
            } else {
                return;
            }
        };
        let _ = shared.execute_locked(desk, &who, Command::Disconnect, None);
    }
}

/// Opens the journal file as [`serve`] will, so that a file it cannot use (an earlier
/// run's journal, a directory, no permission) is reported before anything announces the
/// server as ready. `serve` checks again when it opens it.
pub async fn check_journal(path: &std::path::Path) -> Result<(), ServeError> {
    journal::open(path)
        .await
        .map(drop)
        .map_err(|source| ServeError::Journal {
            path: path.to_path_buf(),
            source,
        })
}

/// Serves HTTP and WebSocket on `listener` until `shutdown` completes, then closes
/// every connection (1001), flushes the journal and returns.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use switchboard_server::{config::ServerConfig, serve};
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(serve(listener, ServerConfig::default(), async move {
///     let _ = stopped.await;
/// }));
/// // ... connect to ws://{addr}/ws ...
/// # let _ = addr;
/// let _ = stop.send(());
/// server.await??;
/// # Ok(()) }
/// ```
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    config.validate()?;
    let desk = config.build_desk()?;
    let journal_lost = Arc::new(AtomicU64::new(0));
    let (journal_tx, journal_task) = match &config.journal {
        Some(path) => {
            let file = journal::open(path)
                .await
                .map_err(|source| ServeError::Journal {
                    path: path.clone(),
                    source,
                })?;
            let (tx, rx) = mpsc::unbounded_channel();
            (
                Some(tx),
                Some((path.clone(), {
                    let path = path.clone();
                    let lost = Arc::clone(&journal_lost);
                    tokio::spawn(async move { journal::write(&path, file, rx, lost).await })
                })),
            )
        }
        None => (None, None),
    };
    let tokens: HashMap<String, _> = config
        .agents
        .iter()
        .filter_map(|a| a.token.clone().map(|t| (t, a.id.clone())))
        .collect();
    let shared = Arc::new(Shared {
        core: Mutex::new(Core {
            desk,
            journal: journal_tx,
            seq: 0,
        }),
        registry: Mutex::new(Registry::default()),
        counters: Mutex::new(Counters::default()),
        tokens: RwLock::new(tokens),
        admin_token: config.admin_token.clone(),
        limits: config.limits.clone(),
        start: Instant::now(),
        next_user: AtomicU64::new(1),
        next_conn: AtomicU64::new(1),
        frames_in: AtomicU64::new(0),
        journal_lost,
        ws_connections: AtomicUsize::new(0),
        agent_connections: AtomicUsize::new(0),
        user_connections: AtomicUsize::new(0),
        timer: Notify::new(),
        queue_counts: Mutex::new(std::collections::BTreeMap::new()),
        read_renders: Arc::new(tokio::sync::Semaphore::new(state::READ_API_RENDERS)),
    });

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (drain_tx, mut drain_rx) = mpsc::channel::<()>(1);
    let timer = tokio::spawn(run_timer(Arc::clone(&shared), shutdown_rx.clone()));
    let counts = tokio::spawn(run_count_pusher(Arc::clone(&shared), shutdown_rx.clone()));

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let ctx = http::Ctx {
                        shared: Arc::clone(&shared),
                        shutdown: shutdown_rx.clone(),
                        drain: drain_tx.clone(),
                    };
                    tokio::spawn(serve_connection(stream, ctx));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    tracing::info!("shutting down");
    drop(listener);
    let _ = shutdown_tx.send(true);
    drop(drain_tx);
    let grace = Duration::from_millis(shared.limits.shutdown_grace_ms);
    if tokio::time::timeout(grace, drain_rx.recv()).await.is_err() {
        tracing::warn!("some connections did not close within {grace:?}");
        disconnect_stragglers(&shared);
    }
    let _ = timer.await;
    let _ = counts.await;
    // Closing the channel lets the writer drain and flush.
    lock(&shared.core).journal = None;
    if let Some((path, task)) = journal_task {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => return Err(ServeError::Journal { path, source }),
            Err(e) => {
                return Err(ServeError::Journal {
                    path,
                    source: std::io::Error::other(e.to_string()),
                });
            }
        }
    }
    Ok(())
}

async fn serve_connection(stream: tokio::net::TcpStream, ctx: http::Ctx) {
    let mut shutdown = ctx.shutdown.clone();
    let _drain = ctx.drain.clone();
    let service = service_fn(move |req| http::handle(req, ctx.clone()));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    if *shutdown.borrow() {
        conn.as_mut().graceful_shutdown();
    }
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Pushes the coalesced queue counts every `queue_count_interval_ms`.
async fn run_count_pusher(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_millis(shared.limits.queue_count_interval_ms);
    if every.is_zero() {
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => shared.push_queue_counts(),
        }
    }
}

/// Sends `Tick` when the Desk's next grace period runs out.
async fn run_timer(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let next = lock(&shared.core).desk.next_deadline();
        // A deadline too far to represent (a huge grace period) is never.
        let wake = next.and_then(|t| {
            tokio::time::Instant::from_std(shared.start)
                .checked_add(Duration::from_millis(t.as_millis()))
        });
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = shared.timer.notified() => {}
            _ = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            } => shared.tick(),
        }
    }
}
