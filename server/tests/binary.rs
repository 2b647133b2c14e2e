//! The `switchboard-server` binary: prints its bound address first, serves WebSocket and
//! HTTP on it, and on SIGTERM closes connections with 1001, flushes the journal and
//! exits 0.

#![cfg(unix)]

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const WAIT: Duration = Duration::from_secs(20);

type Res = Result<(), Box<dyn std::error::Error>>;

async fn next_text<S>(ws: &mut S) -> Result<String, Box<dyn std::error::Error>>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await? {
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(_)) => {}
            other => return Err(format!("no text frame: {other:?}").into()),
        }
    }
}

async fn close_code<S>(ws: &mut S) -> Result<u16, Box<dyn std::error::Error>>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await? {
            Some(Ok(Message::Close(Some(f)))) => {
                // Keep polling so the close reply goes out and the server need not wait.
                while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, ws.next()).await {}
                return Ok(u16::from(f.code));
            }
            Some(Ok(_)) => {}
            other => return Err(format!("no close frame: {other:?}").into()),
        }
    }
}

/// The server started by `command` (the binary, or a shell that runs it), its log on a
/// pipe, and the address it printed first.
struct Started {
    child: tokio::process::Child,
    stderr: tokio::process::ChildStderr,
    addr: std::net::SocketAddr,
}

async fn start(
    command: &mut tokio::process::Command,
) -> Result<Started, Box<dyn std::error::Error>> {
    let mut child = command
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut first = String::new();
    tokio::time::timeout(WAIT, BufReader::new(stdout).read_line(&mut first)).await??;
    let addr = first.trim().parse()?;
    Ok(Started {
        child,
        stderr,
        addr,
    })
}

/// `GET /healthz` answers 200.
async fn healthy(addr: std::net::SocketAddr) -> Res {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut resp = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut resp)).await??;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    Ok(())
}

#[tokio::test]
async fn binary_serves_and_stops_cleanly_on_sigterm() -> Res {
    let journal =
        std::env::temp_dir().join(format!("switchboard-bin-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&journal);
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/example.toml");
    let Started {
        mut child,
        mut stderr,
        addr,
    } = start(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard-server"))
            .args(["--listen", "127.0.0.1:0", "--config", config, "--journal"])
            .arg(&journal),
    )
    .await?;

    // HTTP on the same port.
    healthy(addr).await?;

    // An agent and a user over WebSocket.
    let mut req = format!("ws://{addr}/ws").into_client_request()?;
    req.headers_mut()
        .insert("Authorization", "Bearer alice-token".parse()?);
    let (mut agent, _) = tokio_tungstenite::connect_async(req).await?;
    assert!(next_text(&mut agent).await?.contains("welcome"));
    agent
        .send(Message::text(r#"{"type":"sign_in","req":1}"#))
        .await?;
    assert!(next_text(&mut agent).await?.contains(r#""reply":"status""#));
    let (mut user, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
    assert!(next_text(&mut user).await?.contains(r#""role":"user""#));

    let pid = child.id().ok_or("no pid")?;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(killed.success());
    assert_eq!(close_code(&mut agent).await?, 1001);
    assert_eq!(close_code(&mut user).await?, 1001);
    let status = tokio::time::timeout(WAIT, child.wait()).await??;
    assert!(status.success(), "exit status {status:?}");
    // Its log, written to a pipe, has no colour codes.
    let mut log = String::new();
    tokio::time::timeout(WAIT, stderr.read_to_string(&mut log)).await??;
    assert!(log.contains("listening on"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");

    let text = std::fs::read_to_string(&journal)?;
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(
        lines.first().map(|l| l["command"]["type"].clone()),
        Some("sign_in".into())
    );
    assert!(
        lines.iter().any(|l| l["command"]["type"] == "disconnect"),
        "{text}"
    );
    let _ = std::fs::remove_file(&journal);
    Ok(())
}

/// A journal that already holds an earlier run is refused before the address line: a
/// caller waiting for that line is never handed the address of a server that exits.
#[tokio::test]
async fn a_used_journal_is_refused_before_the_address_is_printed() -> Res {
    let journal =
        std::env::temp_dir().join(format!("switchboard-bin-used-{}.jsonl", std::process::id()));
    std::fs::write(&journal, "{\"seq\":1}\n")?;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard-server"))
        .args(["--listen", "127.0.0.1:0", "--journal"])
        .arg(&journal)
        // A backtrace is for bugs, not for a file the user named.
        .env("RUST_BACKTRACE", "1")
        .output()
        .await?;
    let _ = std::fs::remove_file(&journal);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("earlier run"), "{err}");
    // One line, the cause said once.
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: journal "), "{err}");
    assert_eq!(err.matches("already holds").count(), 1, "{err}");
    Ok(())
}

/// Under an open-files limit it cannot raise (`ulimit -n` in `sh` lowers the hard limit
/// too) the server lowers `max_connections` to what fits and says so: one connection
/// too many is refused with 503 `too_many_connections`, not left waiting on a listener
/// that cannot accept, and HTTP still answers.
#[tokio::test]
async fn a_low_open_files_limit_lowers_max_connections() -> Res {
    if hard_open_files_limit() < 128 {
        eprintln!("skipped: the hard open-files limit is below the 128 this test sets");
        return Ok(());
    }
    let Started {
        mut child,
        mut stderr,
        addr,
    } = start(
        tokio::process::Command::new("sh")
            .args(["-c", r#"ulimit -n 128 && exec "$0" --listen 127.0.0.1:0"#])
            .arg(env!("CARGO_BIN_EXE_switchboard-server")),
    )
    .await?;

    // 128 less the 64 kept for other files.
    let mut users = Vec::new();
    for _ in 0..64 {
        let (mut user, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
        assert!(next_text(&mut user).await?.contains(r#""role":"user""#));
        users.push(user);
    }
    let refused = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")),
    )
    .await?;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 503);
            // The body is there if it came with the headers.
            if let Some(body) = resp.body() {
                let body = String::from_utf8_lossy(body);
                assert!(body.contains("too_many_connections"), "{body}");
            }
        }
        other => return Err(format!("the 65th connection was not refused: {other:?}").into()),
    }
    healthy(addr).await?;

    let pid = child.id().ok_or("no pid")?;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    for user in &mut users {
        assert_eq!(close_code(user).await?, 1001);
    }
    let status = tokio::time::timeout(WAIT, child.wait()).await??;
    assert!(status.success(), "exit status {status:?}");
    let mut log = String::new();
    tokio::time::timeout(WAIT, stderr.read_to_string(&mut log)).await??;
    assert!(
        log.contains("max_connections lowered from 10000 to 64"),
        "{log}"
    );
    Ok(())
}

/// The hard open-files limit, as `sh` reports it.
fn hard_open_files_limit() -> u64 {
    let out = std::process::Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .expect("sh runs");
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim() {
        "unlimited" => u64::MAX,
        n => n.parse().expect("a number of files"),
    }
}
