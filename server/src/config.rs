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
    /// Ended chats kept for the read API, the most recent first; older ones (their
    /// transcripts with them) are dropped, so a long soak test grows only with its
    /// tickets. None: every chat is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_ended_chats: Option<usize>,
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
            keep_ended_chats: None,
        }
    }
}

/// Open files a server process keeps for other things than WebSocket connections: the
/// listener, standard streams, the journal, the runtime's own, HTTP requests in flight.
pub const RESERVED_OPEN_FILES: u64 = 64;

impl Limits {
    /// Lowers `max_connections` to what an open-files limit of `open_files` leaves
    /// room for (each connection holds a descriptor), and says so. Past the limit the
    /// listener could not accept at all: a client would wait on a connection nobody
    /// answers, where a lowered `max_connections` refuses it with 503
    /// `too_many_connections`, and HTTP still answers.
    pub fn fit_open_files(&mut self, open_files: u64) -> Option<String> {
        let room = open_files.saturating_sub(RESERVED_OPEN_FILES).max(1);
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        if self.max_connections <= room {
            return None;
        }
        let asked = std::mem::replace(&mut self.max_connections, room);
        Some(format!(
            "max_connections lowered from {asked} to {room}: the open-files limit is \
             {open_files} even raised ({RESERVED_OPEN_FILES} of them kept for the listener, \
             HTTP and the journal), so more connections could not be accepted; raise the \
             hard limit (`ulimit -Hn` as root, `LimitNOFILE` under systemd) to serve more"
        ))
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

/// The largest `limits.outbound_queue`: a client a million frames behind is gone in
/// all but name.
pub const MAX_OUTBOUND_QUEUE: usize = 1_000_000;

/// What is wrong with a token, if anything: it is empty, or has whitespace around it
/// (a token read from a file with its newline would never match the header's).
pub fn token_problem(token: &str) -> Option<&'static str> {
    if token.trim().is_empty() {
        Some("is empty")
    } else if token.trim() != token {
        Some("has leading or trailing whitespace")
    } else {
        None
    }
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

    /// Checks what the Desk does not: tokens unique, non-empty and without surrounding
    /// whitespace, limits non-zero and within bounds, reference ids unique.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = BTreeMap::new();
        for a in &self.agents {
            if let Some(t) = &a.token {
                if let Some(problem) = token_problem(t) {
                    return Err(ConfigError::Invalid(format!(
                        "agent `{}`: the token {problem}",
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
        if let Some(problem) = self.admin_token.as_deref().and_then(token_problem) {
            return Err(ConfigError::Invalid(format!("admin_token {problem}")));
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
        if l.outbound_queue > MAX_OUTBOUND_QUEUE {
            return Err(ConfigError::Invalid(format!(
                "limits.outbound_queue must be at most {MAX_OUTBOUND_QUEUE}, not {}",
                l.outbound_queue
            )));
        }
        if l.ping_interval_ms > 0
            && l.idle_timeout_ms > 0
            && l.idle_timeout_ms <= l.ping_interval_ms
        {
            return Err(ConfigError::Invalid(format!(
                "limits.idle_timeout_ms ({}) must be longer than limits.ping_interval_ms ({}): \
                 an idle connection would be closed before it was ever pinged",
                l.idle_timeout_ms, l.ping_interval_ms
            )));
        }
        let mut articles = BTreeSet::new();
        if let Some(a) = self
            .reference
            .articles
            .iter()
            .find(|a| !articles.insert(&a.id))
        {
            return Err(ConfigError::Invalid(format!(
                "two articles have the id `{}`",
                a.id
            )));
        }
        let mut templates = BTreeSet::new();
        if let Some(t) = self
            .reference
            .templates
            .iter()
            .find(|t| !templates.insert(&t.id))
        {
            return Err(ConfigError::Invalid(format!(
                "two templates have the id `{}`",
                t.id
            )));
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
        let mut desk = Desk::new(
            self.desk_config(),
            self.queues.iter().cloned(),
            self.agents.iter().map(AgentConfig::profile),
            self.reference.clone(),
        )?;
        desk.keep_ended_chats(self.limits.keep_ended_chats);
        Ok(desk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_connections_fits_the_open_files_limit() {
        let mut limits = Limits::default();
        assert_eq!(limits.fit_open_files(20_000), None);
        assert_eq!(limits.max_connections, 10_000);
        assert_eq!(limits.fit_open_files(10_064), None, "exactly enough");
        assert_eq!(limits.max_connections, 10_000);

        let said = limits.fit_open_files(1024).expect("lowered");
        assert_eq!(limits.max_connections, 960);
        assert!(said.contains("from 10000 to 960"), "{said}");
        assert!(said.contains("limit is 1024"), "{said}");
        // A limit below the reserve still leaves one connection.
        assert!(limits.fit_open_files(10).is_some());
        assert_eq!(limits.max_connections, 1);
    }

    #[test]
    fn example_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("example.toml");
        let config = ServerConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!config.queues.is_empty());
        assert!(!config.reference.articles.is_empty());
        assert!(!config.reference.templates.is_empty());
    }

    #[test]
    fn a_desk_keeps_as_many_ended_chats_as_configured() {
        let config = ServerConfig::from_toml(
            r#"
            queues = ["q"]
            [limits]
            keep_ended_chats = 1
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.limits.keep_ended_chats, Some(1));
        let mut desk = config.build_desk().expect("desk");
        let user = |n| crate::domain::Principal::User(crate::domain::UserId(n));
        let start = |desk: &mut Desk, n: u64| {
            let start = crate::domain::Command::StartChat {
                queue: "q".into(),
                subject: "help".into(),
                source: Default::default(),
                customer: None,
            };
            let o = desk
                .handle(&user(n), start, crate::domain::Time(n))
                .expect("start");
            match o.reply {
                crate::domain::Reply::ChatStarted { chat, .. } => chat,
                other => panic!("{other:?}"),
            }
        };
        let mut chats = Vec::new();
        for n in 1..=2 {
            let chat = start(&mut desk, n);
            let close = crate::domain::Command::Close { chat };
            desk.handle(&user(n), close, crate::domain::Time(n))
                .expect("close");
            chats.push(chat);
        }
        assert!(
            desk.chat(chats[0]).is_none(),
            "the older ended chat is dropped"
        );
        assert!(desk.chat(chats[1]).is_some(), "the last one is kept");
        assert_eq!(desk.stats().chats_by_state.get("abandoned"), Some(&2));
        // A command about the dropped chat is told it ended, as for any ended chat.
        let again = crate::domain::Command::Close { chat: chats[0] };
        let e = desk
            .handle(&user(1), again, crate::domain::Time(3))
            .expect_err("ended");
        assert_eq!(e.code(), "chat_ended");
        // Another user's open chat stays unknown to a user, limit or not.
        let open = start(&mut desk, 3);
        let send = crate::domain::Command::Send {
            chat: open,
            text: "hi".into(),
        };
        let e = desk
            .handle(&user(1), send, crate::domain::Time(4))
            .expect_err("not theirs");
        assert_eq!(e.code(), "unknown_chat");
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

    /// Values that would only fail later (a panic in every session, connections closed
    /// before their first ping, a token no header can carry, an article that vanishes)
    /// are refused at load, naming the field.
    #[test]
    fn values_that_could_never_work_are_refused() {
        let cases = [
            (
                "[limits]\noutbound_queue = 1000001",
                "limits.outbound_queue",
            ),
            (
                "[limits]\nping_interval_ms = 30000\nidle_timeout_ms = 30000",
                "limits.idle_timeout_ms",
            ),
            (
                "admin_token = \"secret\\n\"",
                "admin_token has leading or trailing",
            ),
            (
                "[[agents]]\nid = \"a\"\ntoken = \" a\"",
                "agent `a`: the token has leading",
            ),
            (
                "[[reference.articles]]\nid = \"KA-1\"\ntitle = \"one\"\n\
                 [[reference.articles]]\nid = \"KA-1\"\ntitle = \"two\"",
                "two articles have the id `KA-1`",
            ),
        ];
        for (text, expected) in cases {
            let err =
                ServerConfig::from_toml(&format!("queues = [\"q\"]\n{text}")).expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
        // Either keep-alive setting off is fine, as is the largest queue.
        for text in [
            "[limits]\nping_interval_ms = 0\nidle_timeout_ms = 1000",
            "[limits]\nping_interval_ms = 1000\nidle_timeout_ms = 0",
            "[limits]\noutbound_queue = 1000000",
        ] {
            ServerConfig::from_toml(&format!("queues = [\"q\"]\n{text}"))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }
}
