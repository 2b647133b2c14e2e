//! Shared helpers for the end-to-end tests: an embedded server on `127.0.0.1:0`, a
//! WebSocket client that matches replies to requests by `req` and keeps notices for
//! later, and a minimal HTTP/1.1 client. Every wait is bounded by [`WAIT`].

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use switchboard_server::protocol::ServerFrame;
use switchboard_server::{ServeError, ServerConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// The admin token of [`base_config`].
pub const ADMIN: &str = "test-admin";

/// A configuration with three queues, four agents (dave lacks `ESChat_Agent`) and
/// reference data; generous rate limits so tests are not throttled unless they mean it.
pub fn base_config() -> ServerConfig {
    let mut c = ServerConfig::from_toml(BASE).unwrap_or_else(|e| panic!("base config: {e}"));
    c.admin_token = Some(ADMIN.into());
    c
}

const BASE: &str = r#"
queues = ["hardware", "software", "network"]

[limits]
messages_per_sec = 10000
burst = 10000

[[agents]]
id = "alice"
name = "Alice"
token = "alice-token"
permissions = ["ESChat_Agent"]
queues = ["hardware", "software"]

[[agents]]
id = "bob"
name = "Bob"
token = "bob-token"
permissions = ["ESChat_Agent"]
queues = ["software"]

[[agents]]
id = "carol"
name = "Carol"
token = "carol-token"
permissions = ["ESChat_Agent"]
queues = ["network"]

[[agents]]
id = "dave"
name = "Dave"
token = "dave-token"
permissions = ["Incident_Submitter"]
queues = ["hardware"]

[[reference.articles]]
id = "KA-0001"
title = "Reset a forgotten Windows password"
keywords = ["password", "reset"]
link = "https://kb.example.com/KA-0001"

[[reference.articles]]
id = "KA-0002"
title = "Connect to the corporate VPN"
keywords = ["vpn", "remote"]
link = "https://kb.example.com/KA-0002"

[[reference.templates]]
id = "TPL-LAPTOP"
name = "Laptop hardware fault"
keywords = ["laptop", "hardware"]
fields = [
  { name = "asset_tag", required = true },
  { name = "urgency", required = false, value = "3-Medium" },
]

[[reference.templates]]
id = "TPL-PASSWORD"
name = "Password reset"
keywords = ["password"]
fields = [{ name = "account", required = true, value = "windows" }]

[[reference.outages]]
id = "OUT-1"
title = "Email delayed"
service = "Exchange"

[[reference.customers]]
id = "jsmith"
name = "Jane Smith"
contact = "jane@example.com"
site = "Berlin"
company = "Example GmbH"
tickets = ["INC000812"]
assets = ["LAPTOP-4411"]
"#;

/// A unique path in the system temp dir (no cleanup needed for correctness).
pub fn temp_path(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("switchboard-{}-{n}-{name}", std::process::id()))
}

/// A server embedded in the test process.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    /// Starts a server on `127.0.0.1:0`.
    pub async fn start(config: ServerConfig) -> Result<TestServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, async move {
            let _ = stopped.await;
        }));
        Ok(TestServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Shuts the server down gracefully and waits for `serve` to return.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let task = self.task.take().context("already stopped")?;
        tokio::time::timeout(WAIT, task)
            .await
            .context("serve did not return in time")??
            .map_err(|e| anyhow!("serve failed: {e}"))
    }

    /// A user connection.
    pub async fn user(&self) -> Result<Client> {
        Client::connect(&format!("ws://{}/ws", self.addr), None).await
    }

    /// An agent connection (token in the Authorization header).
    pub async fn agent(&self, token: &str) -> Result<Client> {
        Client::connect(&format!("ws://{}/ws", self.addr), Some(token)).await
    }

    /// An agent connection that has signed in.
    pub async fn signed_in(&self, token: &str) -> Result<Client> {
        let mut c = self.agent(token).await?;
        c.ok(json!({"type": "sign_in"})).await?;
        Ok(c)
    }

    /// An HTTP request; returns status and body.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Result<(u16, String)> {
        http(self.addr, method, path, token, body).await
    }

    /// `GET /metrics`, parsed into (series, value) pairs.
    pub async fn metrics(&self) -> Result<Vec<(String, f64)>> {
        let (status, body) = self.http("GET", "/metrics", None, None).await?;
        ensure!(status == 200, "metrics status {status}");
        parse_prometheus(&body)
    }

    /// Waits (bounded) until `check` holds for the admin view of the agents.
    pub async fn wait_for_agents(&self, check: impl Fn(&Value) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (_, body) = self.http("GET", "/admin/agents", Some(ADMIN), None).await?;
            let v: Value = serde_json::from_str(&body)?;
            if check(&v) {
                return Ok(());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "condition not met: {v}"
            );
            // Polling a condition the server exposes, not sleeping instead of syncing.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits (bounded) until the series `series` of `/metrics` satisfies `check`.
    pub async fn wait_for_metric(&self, series: &str, check: impl Fn(f64) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = metric(&self.metrics().await?, series);
            if value.is_some_and(&check) {
                return Ok(());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "{series} never got there: {value:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Parses Prometheus text: every non-comment line must be `series value`.
pub fn parse_prometheus(text: &str) -> Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .with_context(|| format!("bad metrics line: {line}"))?;
        ensure!(
            series.starts_with("switchboard_"),
            "unprefixed series: {line}"
        );
        let value: f64 = value
            .parse()
            .with_context(|| format!("bad value in: {line}"))?;
        out.push((series.to_string(), value));
    }
    Ok(out)
}

/// The value of one series, if present.
pub fn metric(samples: &[(String, f64)], series: &str) -> Option<f64> {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client.
pub struct Client {
    ws: Socket,
    next_req: u64,
    backlog: VecDeque<Value>,
    /// The server's `welcome` frame.
    pub welcome: Value,
}

impl Client {
    /// Connects and reads the `welcome` frame.
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Client> {
        let mut request = url.into_client_request()?;
        if let Some(t) = token {
            request
                .headers_mut()
                .insert("Authorization", format!("Bearer {t}").parse()?);
        }
        let (ws, _) = tokio::time::timeout(WAIT, connect_async(request))
            .await
            .context("connect timed out")??;
        let mut c = Client {
            ws,
            next_req: 1,
            backlog: VecDeque::new(),
            welcome: Value::Null,
        };
        let w = c.frame().await?;
        ensure!(w["type"] == "welcome", "first frame is not welcome: {w}");
        c.welcome = w;
        Ok(c)
    }

    /// The user id the server gave this connection.
    pub fn user_id(&self) -> u64 {
        self.welcome["user"].as_u64().unwrap_or(0)
    }

    /// Sends a raw WebSocket message.
    pub async fn send_raw(&mut self, m: Message) -> Result<()> {
        tokio::time::timeout(WAIT, self.ws.send(m))
            .await
            .context("send timed out")??;
        Ok(())
    }

    /// Sends several messages in one write (they reach the server together).
    pub async fn send_burst(&mut self, ms: Vec<Message>) -> Result<()> {
        tokio::time::timeout(WAIT, async {
            for m in ms {
                self.ws.feed(m).await?;
            }
            self.ws.flush().await
        })
        .await
        .context("send timed out")??;
        Ok(())
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, s: &str) -> Result<()> {
        self.send_raw(Message::text(s)).await
    }

    /// Reads the next JSON frame (pings and pongs skipped).
    pub async fn frame(&mut self) -> Result<Value> {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .context("no frame in time")?
                .context("connection ended")??;
            match m {
                Message::Text(t) => {
                    // Every frame must also read as the typed protocol the simulator uses.
                    if let Err(e) = ServerFrame::parse(t.as_str()) {
                        bail!("frame does not parse as ServerFrame ({e}): {t}");
                    }
                    return Ok(serde_json::from_str(t.as_str())?);
                }
                Message::Close(f) => bail!("connection closed: {f:?}"),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                Message::Binary(_) => bail!("unexpected binary frame"),
            }
        }
    }

    /// Reads the next raw message.
    pub async fn raw(&mut self) -> Result<Message> {
        Ok(tokio::time::timeout(WAIT, self.ws.next())
            .await
            .context("no message in time")?
            .context("connection ended")??)
    }

    /// Reads until the server's close frame; returns it (None if the stream just
    /// ended). Text frames on the way are discarded.
    pub async fn closed(&mut self) -> Result<Option<CloseFrame>> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .context("no close in time")?;
            match m {
                None => return Ok(None),
                Some(Ok(Message::Close(f))) => {
                    // Keep polling so our close reply goes out (clean handshake).
                    while let Ok(Some(Ok(_))) =
                        tokio::time::timeout_at(deadline, self.ws.next()).await
                    {
                    }
                    return Ok(f);
                }
                Some(Ok(_)) => {}
                Some(Err(tungstenite::Error::ConnectionClosed))
                | Some(Err(tungstenite::Error::AlreadyClosed)) => return Ok(None),
                Some(Err(e)) => bail!("error instead of close: {e}"),
            }
        }
    }

    /// Sends `msg` with a fresh `req` and returns the matching reply or error frame;
    /// everything else that arrives meanwhile is kept for [`Client::notice`].
    pub async fn request(&mut self, mut msg: Value) -> Result<Value> {
        let req = self.next_req;
        self.next_req += 1;
        msg["req"] = json!(req);
        self.send_text(&msg.to_string()).await?;
        self.answer(json!(req)).await
    }

    /// Waits for the reply or error frame with this `req`.
    pub async fn answer(&mut self, req: Value) -> Result<Value> {
        loop {
            let f = self.frame().await?;
            if (f["type"] == "reply" || f["type"] == "error") && f["req"] == req {
                return Ok(f);
            }
            self.backlog.push_back(f);
        }
    }

    /// [`Client::request`] that must succeed.
    pub async fn ok(&mut self, msg: Value) -> Result<Value> {
        let f = self.request(msg.clone()).await?;
        ensure!(f["type"] == "reply", "{msg} failed: {f}");
        Ok(f)
    }

    /// [`Client::request`] that must fail; returns the error code.
    pub async fn err(&mut self, msg: Value) -> Result<String> {
        let f = self.request(msg.clone()).await?;
        ensure!(f["type"] == "error", "{msg} should have failed: {f}");
        ensure!(
            f["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message: {f}"
        );
        Ok(f["code"].as_str().unwrap_or_default().to_string())
    }

    /// The first notice named `name` (kept ones first), others kept for later.
    pub async fn notice(&mut self, name: &str) -> Result<Value> {
        self.notice_where(|f| f["notice"] == name).await
    }

    /// The first notice matching `pred` (kept ones first), others kept for later.
    pub async fn notice_where(&mut self, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        let is = |f: &Value| f["type"] == "notice" && pred(f);
        if let Some(i) = self.backlog.iter().position(is) {
            return self.backlog.remove(i).context("backlog");
        }
        loop {
            let f = self.frame().await?;
            if is(&f) {
                return Ok(f);
            }
            self.backlog.push_back(f);
        }
    }

    /// Notices received so far and not yet taken, without reading more.
    pub fn kept(&self) -> impl Iterator<Item = &Value> {
        self.backlog.iter()
    }

    /// Closes the connection cleanly.
    pub async fn close(mut self) -> Result<()> {
        let _ = tokio::time::timeout(WAIT, self.ws.close(None)).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
        Ok(())
    }
}

/// A minimal HTTP/1.1 request over a fresh connection (`Connection: close`).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, String)> {
    let fut = async {
        let mut s = TcpStream::connect(addr).await?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method == "POST" || method == "PUT" {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").context("no header end")?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .context("no status")?
            .parse()?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        anyhow::Ok((status, body))
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .context("http timed out")?
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
