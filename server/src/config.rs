//! The server's configuration: what a `--config` TOML file holds (support queues,
//! agents with their tokens, auto-accept and disconnect settings, reference data) plus
//! the gateway's own settings (admin token, journal, limits). `server/example.toml`
//! documents every field.

use crate::domain::{
    AgentId, AgentProfile, Desk, DeskConfig, DeskError, DisconnectRules, QueueId, ReferenceData,
    RoutingConfig,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a server config.
    #[error("invalid config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// The settings do not hold together.
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// An agent as configured: their Desk profile plus the token they connect with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Login name, unique.
    pub id: AgentId,
    /// Display name shown to users.
    #[serde(default)]
    pub name: String,
    /// Bearer token the agent connects with. An agent without one cannot connect.
    #[serde(default)]
    pub token: Option<String>,
    /// Permissions; live chat needs `ESChat_Agent` (R1).
    #[serde(default)]
    pub permissions: BTreeSet<String>,
    /// Support queues the agent belongs to.
    #[serde(default)]
    pub queues: Vec<QueueId>,
}

impl AgentConfig {
    /// The Desk's view of the agent (no token).
    pub fn profile(&self) -> AgentProfile {
        AgentProfile {
            id: self.id.clone(),
            name: if self.name.is_empty() {
                self.id.to_string()
            } else {
                self.name.clone()
            },
            permissions: self.permissions.clone(),
            queues: self.queues.clone(),
        }
    }
}

/// Gateway limits. Every one has a safe default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest WebSocket message accepted, in bytes; larger ones close the connection
    /// with 1009.
    pub max_message_bytes: usize,
    /// Sustained messages per second per connection (token bucket); more are refused
    /// with `rate_limited`.
    pub messages_per_sec: u32,
    /// Burst allowance of the token bucket.
    pub burst: u32,
    /// Frames buffered per connection before it is closed as a slow consumer (1008).
    pub outbound_queue: usize,
    /// Most simultaneous WebSocket connections; more are refused with HTTP 503.
    pub max_connections: usize,
    /// How often the server pings each connection, in milliseconds (0 = never).
    pub ping_interval_ms: u64,
    /// A connection silent for this long (no frame, no pong) is closed (0 = never).
    pub idle_timeout_ms: u64,
    /// How long one write to a peer may take before the connection is dropped.
    pub write_timeout_ms: u64,
    /// Largest HTTP request body, in bytes (413 above it).
    pub max_http_body_bytes: usize,
    /// How long shutdown waits for connections to close before it gives up on them.
    pub shutdown_grace_ms: u64,
    /// Queue counts (`queue_changed`) go to a queue's agents at most this often, with
    /// the latest figures: a busy queue changes hundreds of times a second and every
    /// change would otherwise be a frame to every member. 0 sends every change.
    pub queue_count_interval_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            messages_per_sec: 50,
            burst: 100,
            outbound_queue: 1024,
            max_connections: 10_000,
            ping_interval_ms: 30_000,
            idle_timeout_ms: 90_000,
            write_timeout_ms: 10_000,
            max_http_body_bytes: 1024 * 1024,
            shutdown_grace_ms: 5_000,
            queue_count_interval_ms: 250,
        }
    }
}

/// Everything the server is configured with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Seed of the Desk's randomness (the `random` policy).
    pub seed: u64,
    /// Token for `/admin/` (and, like an agent token, for `/api/`). None: admin API off.
    pub admin_token: Option<String>,
    /// Where to append the journal (JSON lines). None: no journal.
    pub journal: Option<PathBuf>,
    /// Auto-accept settings (R2, R6, R7).
    pub routing: RoutingConfig,
    /// What disconnects do (documented assumptions).
    pub disconnect: DisconnectRules,
    /// Gateway limits.
    pub limits: Limits,
    /// Support queues.
    pub queues: Vec<QueueId>,
    /// Agents.
    pub agents: Vec<AgentConfig>,
    /// Knowledge articles, templates, outages, customers.
    pub reference: ReferenceData,
}

impl ServerConfig {
    /// Reads and checks a TOML config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: ServerConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and checks a TOML config held in memory.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: ServerConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            source: Box::new(source),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the Desk does not: tokens unique and non-empty, limits non-zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = BTreeMap::new();
        for a in &self.agents {
            if let Some(t) = &a.token {
                if t.trim().is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "agent `{}` has an empty token",
                        a.id
                    )));
                }
                if let Some(other) = seen.insert(t.as_str(), &a.id) {
                    return Err(ConfigError::Invalid(format!(
                        "agents `{other}` and `{}` share a token",
                        a.id
                    )));
                }
                if self.admin_token.as_deref() == Some(t.as_str()) {
                    return Err(ConfigError::Invalid(format!(
                        "agent `{}` uses the admin token",
                        a.id
                    )));
                }
            }
        }
        if self
            .admin_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(ConfigError::Invalid("admin_token is empty".into()));
        }
        let l = &self.limits;
        for (name, v) in [
            ("limits.max_message_bytes", l.max_message_bytes),
            ("limits.messages_per_sec", l.messages_per_sec as usize),
            ("limits.burst", l.burst as usize),
            ("limits.outbound_queue", l.outbound_queue),
            ("limits.max_connections", l.max_connections),
            ("limits.max_http_body_bytes", l.max_http_body_bytes),
            ("limits.write_timeout_ms", l.write_timeout_ms as usize),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        self.build_desk()
            .map(|_| ())
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The Desk's own configuration.
    pub fn desk_config(&self) -> DeskConfig {
        DeskConfig {
            routing: self.routing.clone(),
            disconnect: self.disconnect.clone(),
            seed: self.seed,
        }
    }

    /// A fresh Desk with this configuration.
    pub fn build_desk(&self) -> Result<Desk, DeskError> {
        Desk::new(
            self.desk_config(),
            self.queues.iter().cloned(),
            self.agents.iter().map(AgentConfig::profile),
            self.reference.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("example.toml");
        let config = ServerConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!config.queues.is_empty());
        assert!(!config.reference.articles.is_empty());
        assert!(!config.reference.templates.is_empty());
    }

    #[test]
    fn duplicate_tokens_are_refused() {
        let err = ServerConfig::from_toml(
            r#"
            queues = ["q"]
            [[agents]]
            id = "a"
            token = "t"
            [[agents]]
            id = "b"
            token = "t"
            "#,
        )
        .expect_err("shared token");
        assert!(err.to_string().contains("share a token"), "{err}");
    }
}
