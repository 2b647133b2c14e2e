//! `switchboard-server`: the reference live-chat server as a process.
//!
//! Prints the bound address as the first line on stdout (so scripts can use
//! `--listen 127.0.0.1:0`), serves until SIGINT or SIGTERM, then closes every
//! connection (1001), flushes the journal and exits 0. An error that stops it once its
//! arguments are read (a bad configuration, a journal it cannot write, an address it
//! cannot listen on) is printed as one `error: …` line, and it exits 1; bad arguments
//! get the usage text and exit 2.

use anyhow::Context as _;
use clap::Parser;
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard_server::{ServerConfig, check_journal, cli, serve};

/// Switchboard reference live-chat server (WebSocket + HTTP on one port).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Server configuration (TOML; see server/example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Token for the admin API (overrides the config file).
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Append a JSON-lines journal of every Desk command to FILE (overrides the config).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Largest WebSocket message in bytes (larger ones close the connection, 1009).
    #[arg(long)]
    max_message_bytes: Option<usize>,
    /// Sustained messages per second per connection (`limits.messages_per_sec`).
    #[arg(long, alias = "max-message-rate")]
    messages_per_sec: Option<u32>,
    /// Most messages a connection may send at once: the size of its token bucket,
    /// refilled at the message rate (`limits.burst`).
    #[arg(long)]
    burst: Option<u32>,
    /// Frames buffered per connection before it is closed as a slow consumer.
    #[arg(long)]
    outbound_queue: Option<usize>,
    /// Most simultaneous WebSocket connections.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Keep only the N chats that ended last (`limits.keep_ended_chats`), so that a
    /// soak test's memory grows only with its tickets; by default every chat is kept.
    #[arg(long, value_name = "N")]
    keep_ended_chats: Option<usize>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::describe(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::default(),
    };
    if args.admin_token.is_some() {
        config.admin_token = args.admin_token.clone();
    }
    if args.journal.is_some() {
        config.journal = args.journal.clone();
    }
    let l = &mut config.limits;
    if let Some(v) = args.max_message_bytes {
        l.max_message_bytes = v;
    }
    if let Some(v) = args.messages_per_sec {
        l.messages_per_sec = v;
    }
    if let Some(v) = args.burst {
        l.burst = v;
    }
    if let Some(v) = args.outbound_queue {
        l.outbound_queue = v;
    }
    if let Some(v) = args.max_connections {
        l.max_connections = v;
    }
    if let Some(v) = args.keep_ended_chats {
        l.keep_ended_chats = Some(v);
    }
    config.validate()?;
    if let Some(open_files) = cli::raise_open_files_limit()
        && let Some(lowered) = config.limits.fit_open_files(open_files)
    {
        tracing::warn!("{lowered}");
    }
    // A journal it cannot write is an error before the address line, which tells a
    // caller that the server is up.
    if let Some(path) = &config.journal {
        check_journal(path).await?;
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{addr}")?;
        out.flush()?;
    }
    tracing::info!("listening on {addr}");
    serve(listener, config, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
