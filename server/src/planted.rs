//! Planted bugs for mutation tests of the routing checker (`docs/checker.md`).
//!
//! With the cargo feature `fault-injection` (off by default, test builds only), one bug
//! at a time can be switched on at run time — [`plant`], or the environment variable
//! `SWITCHBOARD_PLANTED_BUG` read on first use — and the Desk misbehaves in exactly that
//! way. Without the feature [`active`] is a constant `false` and every call site
//! compiles away: normal behaviour never changes.

use crate::domain::Delivery;

/// A bug that can be planted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// A second agent may accept a chat someone already accepted.
    DoubleAccept = 1,
    /// Auto-accept ignores "Available for N" (treats every agent as available for 4).
    IgnoreCapacity = 2,
    /// Agents see, and may accept, transfers addressed to other queues.
    LeakTransfers = 3,
    /// One message (the third relayed) never reaches the other side.
    DropMessage = 4,
    /// Two consecutive messages to the same participant arrive swapped.
    ReorderMessages = 5,
    /// Chats of an agent whose grace period runs out are forgotten, not re-queued.
    LoseOnDisconnect = 6,
}

impl Bug {
    /// Every bug.
    pub const ALL: [Bug; 6] = [
        Bug::DoubleAccept,
        Bug::IgnoreCapacity,
        Bug::LeakTransfers,
        Bug::DropMessage,
        Bug::ReorderMessages,
        Bug::LoseOnDisconnect,
    ];

    /// The name used in `SWITCHBOARD_PLANTED_BUG`.
    pub fn name(self) -> &'static str {
        match self {
            Bug::DoubleAccept => "double-accept",
            Bug::IgnoreCapacity => "ignore-capacity",
            Bug::LeakTransfers => "leak-transfers",
            Bug::DropMessage => "drop-message",
            Bug::ReorderMessages => "reorder-messages",
            Bug::LoseOnDisconnect => "lose-on-disconnect",
        }
    }
}

#[cfg(feature = "fault-injection")]
mod on {
    use super::Bug;
    use crate::domain::{Delivery, Notice, Recipient};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

    static PLANTED: AtomicU8 = AtomicU8::new(u8::MAX);
    static MESSAGES: AtomicU64 = AtomicU64::new(0);
    static HELD: Mutex<Option<Delivery>> = Mutex::new(None);

    pub fn plant(bug: Option<Bug>) {
        PLANTED.store(bug.map_or(0, |b| b as u8), Ordering::SeqCst);
        MESSAGES.store(0, Ordering::SeqCst);
        if let Ok(mut h) = HELD.lock() {
            *h = None;
        }
    }

    fn current() -> u8 {
        let v = PLANTED.load(Ordering::SeqCst);
        if v != u8::MAX {
            return v;
        }
        let from_env = std::env::var("SWITCHBOARD_PLANTED_BUG")
            .ok()
            .and_then(|n| Bug::ALL.into_iter().find(|b| b.name() == n))
            .map_or(0, |b| b as u8);
        PLANTED.store(from_env, Ordering::SeqCst);
        from_env
    }

    pub fn active(bug: Bug) -> bool {
        current() == bug as u8
    }

    pub fn mangle(out: &mut Vec<Delivery>) {
        if active(Bug::DropMessage) {
            if let Some(i) = out
                .iter()
                .position(|d| matches!(d.notice, Notice::Message { .. }))
                && MESSAGES.fetch_add(1, Ordering::SeqCst) + 1 == 3
            {
                out.remove(i);
            }
            return;
        }
        if !active(Bug::ReorderMessages) || MESSAGES.load(Ordering::SeqCst) > 0 {
            return;
        }
        // Hold one message to a user until the next message to the same user in the
        // same chat, then deliver it after that one (once). If the chat ends first, the
        // held message goes out before the end and the bug tries again later.
        let mut held = HELD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut i = 0;
        while i < out.len() {
            let chat = match &out[i].notice {
                Notice::Message { chat, .. } | Notice::ChatEnded { chat, .. } => *chat,
                _ => {
                    i += 1;
                    continue;
                }
            };
            let is_message = matches!(out[i].notice, Notice::Message { .. });
            let to_user = matches!(out[i].to, Recipient::User(_));
            let same = held.as_ref().is_some_and(|h| {
                matches!(&h.notice, Notice::Message { chat: c, .. } if *c == chat)
                    && (h.to == out[i].to || !is_message)
            });
            if same && let Some(h) = held.take() {
                if is_message {
                    out.insert(i + 1, h);
                    MESSAGES.store(1, Ordering::SeqCst);
                    return;
                }
                out.insert(i, h);
                i += 1;
            } else if is_message && to_user && held.is_none() {
                *held = Some(out.remove(i));
                continue;
            }
            i += 1;
        }
    }
}

/// Plants `bug` (or none) for everything in this process from now on.
#[cfg(feature = "fault-injection")]
pub fn plant(bug: Option<Bug>) {
    on::plant(bug);
}

/// Whether `bug` is planted.
#[inline]
pub fn active(bug: Bug) -> bool {
    #[cfg(feature = "fault-injection")]
    {
        on::active(bug)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        let _ = bug;
        false
    }
}

/// Applies the message bugs to a command's deliveries.
#[inline]
pub fn mangle(out: &mut Vec<Delivery>) {
    #[cfg(feature = "fault-injection")]
    on::mangle(out);
    #[cfg(not(feature = "fault-injection"))]
    let _ = out;
}
