//! When each transfer was due, shared by every task of a live run. The transferring
//! agent's task notes the instant its `transfer` command was due as it sends it; the
//! user's task dates the `agent_left` notice that transfer brings by that instant, so
//! `transfer_wait` runs from when the transfer was meant to happen, as every latency
//! does: a server slow to tell the user (or the agent's own task running late) does not
//! shorten it. Virtual time needs none of this: there the notice comes at the instant of
//! the command.
//!
//! Transfers are told apart by chat and transferring agent: a chat transferred twice
//! in quick succession (by the first agent, then by the next) has two, and the user's
//! notice for each names the agent who left.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;
use switchboard_server::domain::{AgentId, ChatId};

/// The due instant of each agent's latest transfer of each chat, until the chat's user
/// hears of it or is done.
#[derive(Debug, Default)]
pub struct TransferTimes(Mutex<HashMap<ChatId, Vec<(AgentId, Instant)>>>);

impl TransferTimes {
    /// `agent`'s transfer of `chat` was due at `at`. A later one of the same agent and
    /// chat replaces it: a refused transfer brings no notice.
    pub fn due(&self, chat: ChatId, agent: &AgentId, at: Instant) {
        let mut map = self.lock();
        let entries = map.entry(chat).or_default();
        match entries.iter_mut().find(|(a, _)| a == agent) {
            Some(entry) => entry.1 = at,
            None => entries.push((agent.clone(), at)),
        }
    }

    /// When `agent`'s transfer of `chat`, which the chat's user has just heard of, was
    /// due.
    pub fn take(&self, chat: ChatId, agent: &AgentId) -> Option<Instant> {
        let mut map = self.lock();
        let entries = map.get_mut(&chat)?;
        let i = entries.iter().position(|(a, _)| a == agent)?;
        let (_, at) = entries.swap_remove(i);
        if entries.is_empty() {
            map.remove(&chat);
        }
        Some(at)
    }

    /// The chat's user is done: what is left of its transfers (refused ones) goes.
    pub fn forget(&self, chat: ChatId) {
        self.lock().remove(&chat);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChatId, Vec<(AgentId, Instant)>>> {
        // A task that panicked holding the lock left the map whole (inserts and
        // removes do not unwind midway).
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::TransferTimes;
    use std::time::{Duration, Instant};
    use switchboard_server::domain::{AgentId, ChatId};

    /// Two transfers of one chat in quick succession keep their own instants, each
    /// taken by the notice naming its agent; a refused one is replaced by the agent's
    /// next, and what is left goes with the chat's user.
    #[test]
    fn transfers_are_told_apart_by_their_agent() {
        let times = TransferTimes::default();
        let (chat, alice, bob) = (ChatId(7), AgentId::from("alice"), AgentId::from("bob"));
        let t0 = Instant::now();
        let (t1, t2, t3) = (
            t0 + Duration::from_secs(1),
            t0 + Duration::from_secs(2),
            t0 + Duration::from_secs(3),
        );
        times.due(chat, &alice, t0);
        times.due(chat, &alice, t1);
        times.due(chat, &bob, t2);
        assert_eq!(times.take(chat, &alice), Some(t1), "the latest of alice's");
        assert_eq!(times.take(chat, &alice), None);
        assert_eq!(times.take(ChatId(8), &bob), None);
        times.due(chat, &alice, t3);
        times.forget(chat);
        assert_eq!(times.take(chat, &bob), None);
        assert_eq!(times.take(chat, &alice), None);
    }
}
