//! Messages on their way, for a live run's end: every message a participant sends is
//! entered with its send time and taken out when the other side sees it, or can no
//! longer be expected to (the server refused it, its answer was lost with a dropped
//! connection, the chat ended). A message that reaches nobody at once, written while
//! the chat changed hands, is taken out when the next agent's accept brings it in the
//! chat's history. What is left when the run ends was sent and not seen:
//! `messages.undelivered_at_end`, which `message_latency` cannot sample (it is taken
//! when a message arrives), with the age of the oldest for the summary's warning.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use switchboard_server::domain::ChatId;

/// Locks over the chats, so that tasks entering messages of different chats rarely
/// wait for each other.
const SHARDS: usize = 64;

/// The messages sent and not yet seen, by chat: message id → send time (µs of the
/// run's clock, as stamped in the text).
pub struct Ledger {
    next: AtomicU64,
    shards: [Mutex<HashMap<ChatId, HashMap<u64, u64>>>; SHARDS],
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            next: AtomicU64::new(1),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }
}

/// What the ledger held when the run ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unseen {
    /// Messages sent and not seen.
    pub count: u64,
    /// How long before the end the oldest of them was sent.
    pub oldest: Option<Duration>,
}

impl Ledger {
    fn shard(&self, chat: ChatId) -> std::sync::MutexGuard<'_, HashMap<ChatId, HashMap<u64, u64>>> {
        let i = (chat.0 % SHARDS as u64) as usize;
        // A task that panicked holding the lock left a map that is still whole.
        self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Enters a message about to be sent to `chat` at `sent_us`; its id, to stamp in
    /// its text.
    pub fn open(&self, chat: ChatId, sent_us: u64) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.shard(chat)
            .entry(chat)
            .or_default()
            .insert(id, sent_us);
        id
    }

    /// Takes message `id` of `chat` out: seen, refused, or never to be known.
    pub fn close(&self, chat: ChatId, id: u64) {
        let mut shard = self.shard(chat);
        if let Some(messages) = shard.get_mut(&chat) {
            messages.remove(&id);
            if messages.is_empty() {
                shard.remove(&chat);
            }
        }
    }

    /// Takes every message of `chat` out: it ended, nobody is left to see them.
    pub fn chat_over(&self, chat: ChatId) {
        self.shard(chat).remove(&chat);
    }

    /// What is left at `end_us` (µs of the run's clock).
    pub fn unseen(&self, end_us: u64) -> Unseen {
        let mut left = Unseen::default();
        for shard in &self.shards {
            let shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for &sent in shard.values().flat_map(HashMap::values) {
                left.count += 1;
                let age = Duration::from_micros(end_us.saturating_sub(sent));
                left.oldest = Some(left.oldest.map_or(age, |o| o.max(age)));
            }
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::{Ledger, Unseen};
    use std::time::Duration;
    use switchboard_server::domain::ChatId;

    #[test]
    fn what_is_left_is_what_was_neither_seen_nor_given_up() {
        let ledger = Ledger::default();
        let seen = ledger.open(ChatId(1), 1_000);
        let waiting = ledger.open(ChatId(1), 2_000);
        let late = ledger.open(ChatId(2), 500);
        let ended = ledger.open(ChatId(3), 100);
        assert_ne!(seen, waiting);
        ledger.close(ChatId(1), seen);
        ledger.chat_over(ChatId(3));
        // Closing twice, or a message of another chat, changes nothing.
        ledger.close(ChatId(1), seen);
        ledger.close(ChatId(2), waiting);
        assert_eq!(
            ledger.unseen(10_000),
            Unseen {
                count: 2,
                oldest: Some(Duration::from_micros(9_500)),
            }
        );
        ledger.close(ChatId(2), late);
        ledger.close(ChatId(1), waiting);
        let _ = ended;
        assert_eq!(ledger.unseen(10_000), Unseen::default());
    }
}
