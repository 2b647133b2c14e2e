//! The server a live run drives: the reference server embedded in this process on
//! 127.0.0.1:0 (the default), or an external one provisioned through its admin API.

use crate::cast::Cast;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_server::config::{AgentConfig, Limits, ServerConfig};
use switchboard_server::domain::AgentId;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why the server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The embedded server failed to start.
    #[error("embedded server: {0}")]
    Embedded(String),
    /// Talking to the external server's admin API failed.
    #[error("provisioning {addr}: {message}")]
    Provision {
        /// The server.
        addr: String,
        /// What went wrong.
        message: String,
    },
}

/// The server under test.
pub struct Target {
    /// Host and port.
    pub addr: SocketAddr,
    stop: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// The settings of a server that a scenario's `[faults]` give the embedded one, as
/// `GET /admin/config` tells them; `None` for one it does not tell (another server, or
/// another version of it).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FaultSettings {
    /// The agent grace period (`disconnect.agent_grace`, milliseconds).
    pub agent_grace: Option<Duration>,
    /// Frames queued per connection (`limits.outbound_queue`).
    pub outbound_queue: Option<usize>,
}

impl FaultSettings {
    /// Read from the body of `GET /admin/config`, leniently: fields it does not have,
    /// or has in another shape, are unknown, not an error.
    pub fn from_config(config: &serde_json::Value) -> FaultSettings {
        let number = |pointer| config.pointer(pointer).and_then(serde_json::Value::as_u64);
        FaultSettings {
            agent_grace: number("/disconnect/agent_grace").map(Duration::from_millis),
            outbound_queue: number("/limits/outbound_queue").and_then(|q| usize::try_from(q).ok()),
        }
    }

    /// What differs from what `[faults]` would set on the embedded server, as
    /// warnings: `grace` holds the grace period as the scenario gives it, then in
    /// server time (`agent_grace / time_scale`).
    pub fn unlike_faults(
        &self,
        grace: Option<(Duration, Duration)>,
        outbound_queue: Option<usize>,
    ) -> Vec<String> {
        let mut unlike = Vec::new();
        if let Some((scenario_grace, grace)) = grace {
            let asked = format!(
                "the {} ms that `[faults] agent_grace = \"{}\"` asks for at this time_scale",
                grace.as_millis(),
                crate::dist::duration::format_duration(scenario_grace)
            );
            let advice = format!(
                "give the server that grace (`[disconnect] agent_grace = {}` in its \
                 `--config` file)",
                grace.as_millis()
            );
            match self.agent_grace {
                // The server counts whole milliseconds.
                Some(server) if server.as_millis().abs_diff(grace.as_millis()) <= 1 => {}
                Some(server) => unlike.push(format!(
                    "the server's agent grace period is {} ms, not {asked}: drops \
                     meant to reconnect after the grace period may reconnect within it, or \
                     the reverse; {advice}",
                    server.as_millis()
                )),
                None => unlike.push(format!(
                    "the server does not say its agent grace period (no \
                     `disconnect.agent_grace` in `GET /admin/config`), so whether it is \
                     {asked} is unknown; {advice}"
                )),
            }
        }
        if let Some(q) = outbound_queue {
            match self.outbound_queue {
                Some(server) if server == q => {}
                Some(server) => unlike.push(format!(
                    "the server's outbound queue holds {server} frames, not the {q} that \
                     `[faults] outbound_queue` asks for: slow consumers are closed at \
                     another point; start the server with `--outbound-queue {q}`"
                )),
                None => unlike.push(format!(
                    "the server does not say its outbound queue (no `limits.outbound_queue` \
                     in `GET /admin/config`), so whether it holds the {q} frames `[faults] \
                     outbound_queue` asks for is unknown; start the server with \
                     `--outbound-queue {q}`"
                )),
            }
        }
        unlike
    }
}

/// The token agent `id` connects with (the simulator provisions agents with these).
pub fn agent_token(id: &AgentId) -> String {
    format!("sim-{id}")
}

impl Target {
    /// The WebSocket URL for a user (`token = None`) or an agent.
    pub fn ws_url(&self, token: Option<&str>) -> String {
        match token {
            Some(t) => format!("ws://{}/ws?token={t}", self.addr),
            None => format!("ws://{}/ws", self.addr),
        }
    }

    /// Starts the reference server in this process with the cast's queues, agents,
    /// routing and reference data; its journal goes to `journal`.
    /// `scale` turns scenario time into the server's real time (the grace period);
    /// `outbound_queue` overrides the per-connection frame queue (`[faults]`);
    /// `queue_counts_every` is how often queue counts are pushed (real time).
    pub async fn embedded(
        cast: &Cast,
        journal: Option<PathBuf>,
        connections: usize,
        scale: impl Fn(std::time::Duration) -> std::time::Duration,
        outbound_queue: Option<usize>,
        queue_counts_every: std::time::Duration,
    ) -> Result<Target, ServerError> {
        let config = ServerConfig {
            seed: cast.desk.seed,
            admin_token: None,
            journal,
            routing: cast.desk.routing.clone(),
            // The Desk runs on real time: the grace period is given in scenario time.
            disconnect: switchboard_server::domain::DisconnectRules {
                agent_grace: scale(cast.desk.disconnect.agent_grace),
                ..cast.desk.disconnect.clone()
            },
            limits: Limits {
                max_connections: connections.max(Limits::default().max_connections),
                // Virtual people type slowly, but time_scale compresses them.
                messages_per_sec: 1_000,
                burst: 1_000,
                outbound_queue: outbound_queue.unwrap_or(Limits::default().outbound_queue),
                // Queue counts as often as a second of scenario time: agents who pull
                // by hand react to them, and time is compressed.
                queue_count_interval_ms: u64::try_from(queue_counts_every.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
                ..Limits::default()
            },
            queues: cast.queues.clone(),
            agents: agent_configs(cast),
            reference: cast.reference.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ServerError::Embedded(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::Embedded(e.to_string()))?;
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            if let Err(e) = switchboard_server::serve(listener, config, shutdown).await {
                tracing::error!("embedded server: {e}");
            }
        });
        Ok(Target {
            addr,
            stop: Some((tx, handle)),
        })
    }

    /// Provisions an external server at `addr` through its admin API: the routing
    /// settings, the queues and the agents (with the simulator's tokens). Queues and
    /// agents that already exist are kept.
    pub async fn external(
        addr: SocketAddr,
        admin_token: &str,
        cast: &Cast,
    ) -> Result<Target, ServerError> {
        let fail = |message: String| ServerError::Provision {
            addr: addr.to_string(),
            message,
        };
        let admin = Admin {
            addr,
            token: admin_token,
            limit: ADMIN_TIMEOUT,
        };
        let routing = serde_json::json!({ "routing": cast.desk.routing });
        admin
            .call("PUT", "/admin/config", routing.to_string(), &[])
            .await
            .map_err(fail)?;
        for q in &cast.queues {
            let body = serde_json::json!({ "queue": q }).to_string();
            admin
                .call("POST", "/admin/queues", body, &[409])
                .await
                .map_err(fail)?;
        }
        for a in agent_configs(cast) {
            let body = serde_json::to_string(&a).map_err(|e| fail(e.to_string()))?;
            admin
                .call("POST", "/admin/agents", body, &[409])
                .await
                .map_err(fail)?;
        }
        Ok(Target { addr, stop: None })
    }

    /// An external server's settings that `[faults]` would set on the embedded one.
    pub async fn fault_settings(&self, admin_token: &str) -> Result<FaultSettings, String> {
        let admin = Admin {
            addr: self.addr,
            token: admin_token,
            limit: ADMIN_TIMEOUT,
        };
        let body = admin
            .call("GET", "/admin/config", String::new(), &[])
            .await?;
        let config = serde_json::from_slice(&body)
            .map_err(|e| format!("GET /admin/config: not JSON: {e}"))?;
        Ok(FaultSettings::from_config(&config))
    }

    /// Stops the embedded server (closing its connections, flushing its journal).
    pub async fn stop(mut self) {
        if let Some((tx, handle)) = self.stop.take() {
            let _ = tx.send(());
            let _ = handle.await;
        }
    }
}

fn agent_configs(cast: &Cast) -> Vec<AgentConfig> {
    cast.profiles
        .iter()
        .map(|p| AgentConfig {
            id: p.id.clone(),
            name: p.name.clone(),
            token: Some(agent_token(&p.id)),
            permissions: p.permissions.clone(),
            queues: p.queues.clone(),
        })
        .collect()
}

/// Longest one admin API call may take: a server that accepts connections but never
/// answers must not hold the run before it starts.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin API of an external server, each call given up after `limit`.
struct Admin<'a> {
    addr: SocketAddr,
    token: &'a str,
    limit: Duration,
}

impl Admin<'_> {
    /// One admin API call, answering the response's body; statuses in `tolerated`
    /// count as success (already exists).
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: String,
        tolerated: &[u16],
    ) -> Result<Bytes, String> {
        tokio::time::timeout(self.limit, async {
            let (addr, token) = (self.addr, self.token);
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(conn);
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header("host", addr.to_string())
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| e.to_string())?;
            let res = sender
                .send_request(req)
                .await
                .map_err(|e| format!("{method} {path}: {e}"))?;
            let status = res.status();
            let body = res
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if status.is_success() || tolerated.contains(&status.as_u16()) {
                return Ok(body);
            }
            Err(format!(
                "{method} {path}: {status}: {}",
                String::from_utf8_lossy(&body)
            ))
        })
        .await
        .map_err(|_| format!("{method} {path}: no answer within {:?}", self.limit))?
    }
}

#[cfg(test)]
mod tests {
    use super::{Admin, Duration, FaultSettings};

    /// `[faults]` an external server shares raise nothing; each one it does not share,
    /// or does not tell, is a warning that names the setting to give it.
    #[test]
    fn fault_settings_an_external_server_does_not_share_are_named() {
        let settings = FaultSettings::from_config(&serde_json::json!({
            "routing": {},
            "disconnect": {"agent_grace": 1000, "user": "abandon"},
            "limits": {"outbound_queue": 8, "a_limit_of_a_newer_server": 1}
        }));
        let grace = |ms| Some((Duration::from_secs(20), Duration::from_millis(ms)));
        assert!(settings.unlike_faults(grace(1000), Some(8)).is_empty());
        assert!(settings.unlike_faults(None, None).is_empty());
        let unlike = settings.unlike_faults(grace(2000), Some(1024));
        assert_eq!(unlike.len(), 2, "{unlike:?}");
        assert!(
            unlike[0].contains("agent grace period is 1000 ms, not the 2000 ms that")
                && unlike[0].contains("agent_grace = \"20s\"` asks for at this time_scale")
                && unlike[0].contains("`[disconnect] agent_grace = 2000`"),
            "{}",
            unlike[0]
        );
        assert!(
            unlike[1].contains("holds 8 frames, not the 1024")
                && unlike[1].contains("--outbound-queue 1024"),
            "{}",
            unlike[1]
        );
        // A server that does not tell: unknown, said so, no failure.
        let silent = FaultSettings::from_config(&serde_json::json!({"routing": {}}));
        assert_eq!(silent, FaultSettings::default());
        let unknown = silent.unlike_faults(grace(1000), Some(8));
        assert!(
            unknown[0].starts_with("the server does not say its agent grace period")
                && unknown[1].starts_with("the server does not say its outbound queue"),
            "{unknown:?}"
        );
    }

    /// A server that accepts the connection but never answers fails the call in time.
    #[tokio::test]
    async fn an_admin_call_to_a_silent_server_gives_up() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let _held = tokio::spawn(async move {
            let (socket, _) = silent.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(socket);
        });
        let admin = Admin {
            addr,
            token: "t",
            limit: Duration::from_millis(200),
        };
        let err = admin
            .call("GET", "/admin/config", String::new(), &[])
            .await
            .unwrap_err();
        assert!(err.contains("no answer within"), "{err}");
    }
}
