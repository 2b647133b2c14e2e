//! When each transfer was due, shared by every task of a live run. The transferring
//! agent's task notes the instant its `transfer` command was due as it sends it; the
//! user's task dates the `agent_left` notice that transfer brings by that instant, so
//! `transfer_wait` runs from when the transfer was meant to happen, as every latency
//! does: a server slow to tell the user (or the agent's own task running late) does not
//! shorten it. Virtual time needs none of this: there the notice comes at the instant of
//! the command.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;
use switchboard_server::domain::ChatId;

/// The due instant of the latest transfer of each chat, until its user hears of it.
#[derive(Debug, Default)]
pub struct TransferTimes(Mutex<HashMap<ChatId, Instant>>);

impl TransferTimes {
    /// A transfer of `chat` was due at `at` (a later one replaces it: a refused transfer
    /// brings no notice).
    pub fn due(&self, chat: ChatId, at: Instant) {
        self.lock().insert(chat, at);
    }

    /// The due instant of `chat`'s latest transfer, which its user has just heard of.
    pub fn take(&self, chat: ChatId) -> Option<Instant> {
        self.lock().remove(&chat)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChatId, Instant>> {
        // A task that panicked holding the lock left the map whole (inserts and
        // removes do not unwind midway).
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
