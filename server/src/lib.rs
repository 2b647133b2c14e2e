//! Switchboard reference server.
//!
//! - [`domain`]: the Desk, the pure routing core (no IO, no clock).
//! - [`protocol`]: the WebSocket wire types, shared with the simulator.
//! - [`config`]: the server's TOML configuration.
//! - [`gateway`]: sockets, HTTP, sessions, journal and metrics around the Desk;
//!   [`serve`] runs it all on a listener, for the binary and for in-process embedding.
//! - [`cli`]: what the command-line programs share.
//! - [`planted`]: bugs to plant in the Desk (feature `fault-injection`), for mutation
//!   tests of the simulator's routing checker.
pub mod cli;
pub mod config;
pub mod domain;
pub mod gateway;
pub mod planted;
pub mod protocol;

pub use config::ServerConfig;
pub use gateway::{ServeError, check_journal, serve};
