//! The Desk.
