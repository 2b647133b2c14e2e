//! Switchboard reference server.
pub mod domain;
