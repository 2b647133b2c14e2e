//! A connection as the rest of the server sees it: the sending side of its outbound
//! queue ([`Outbox`]), the frames queued in it ([`Queued`]) and the kick that closes
//! it ([`Kick`]). Whoever runs a Desk step pushes the frames it produced through the
//! recipients' outboxes; the connection's own session writes them to its socket.

use super::outbound::{self, Refused};
use super::state::{Counters, lock};
use futures_util::task::AtomicWaker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Why a connection is being closed by the server, set once.
///
/// Only the connection's own session task waits for it (in several places, all polled
/// by that one task), so one registered waker is enough: waiting costs two atomic
/// operations per poll instead of a place in a wait list per `select!`.
#[derive(Default)]
pub(crate) struct Kick {
    /// Whether `reason` is set: read on every frame and every wait without a lock.
    set: AtomicBool,
    reason: Mutex<Option<(u16, String)>>,
    waiter: AtomicWaker,
    /// Where a replaced agent connection hands the notices it still holds.
    handover: Mutex<Option<oneshot::Sender<Vec<Utf8Bytes>>>>,
}

impl Kick {
    /// Asks the connection to close with `code` and `reason`. The first ask wins;
    /// returns whether this was it.
    pub(crate) fn kick(&self, code: u16, reason: impl Into<String>) -> bool {
        let mut r = lock(&self.reason);
        let first = r.is_none();
        if first {
            *r = Some((code, reason.into()));
            self.set.store(true, Ordering::Release);
        }
        drop(r);
        self.waiter.wake();
        first
    }

    /// Whether the connection was asked to close.
    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Asks the connection, being replaced, to hand its queued notices to `to`.
    pub(crate) fn hand_over_to(&self, to: oneshot::Sender<Vec<Utf8Bytes>>) {
        *lock(&self.handover) = Some(to);
    }

    /// Where to hand queued notices, if the connection was replaced.
    pub(crate) fn take_handover(&self) -> Option<oneshot::Sender<Vec<Utf8Bytes>>> {
        lock(&self.handover).take()
    }

    /// Waits until the connection is asked to close. Only the session's own task may
    /// wait (see the type's docs).
    pub(crate) async fn wait(&self) -> (u16, String) {
        std::future::poll_fn(|cx| {
            if let Some(r) = self.reason() {
                return Poll::Ready(r);
            }
            self.waiter.register(cx.waker());
            // A kick between the check and the registration woke nobody: look again.
            match self.reason() {
                Some(r) => Poll::Ready(r),
                None => Poll::Pending,
            }
        })
        .await
    }

    fn reason(&self) -> Option<(u16, String)> {
        if self.is_set() {
            lock(&self.reason).clone()
        } else {
            None
        }
    }
}

/// A frame waiting in a connection's outbound queue.
pub(crate) struct Queued {
    /// The serialised frame.
    pub frame: Utf8Bytes,
    /// A notice that a newer connection of the participant would take over (an
    /// agent's; a user's connection is never replaced), not an answer to this
    /// connection's own message. The session keeps these until the end of the step that
    /// wrote them.
    pub notice: bool,
}

/// The sending side of one connection's bounded outbound queue.
#[derive(Clone)]
pub(crate) struct Outbox {
    /// The connection's id (unique for the server's life).
    pub id: u64,
    tx: outbound::Sender<Queued>,
    /// Closes the connection.
    pub kick: Arc<Kick>,
    /// Whether a newer connection may replace this one and take over its notices.
    replaceable: bool,
}

impl Outbox {
    /// A queue of `capacity` frames and its receiving end; `replaceable` for an
    /// agent's connection, which a newer one of the agent may replace.
    pub(crate) fn new(
        id: u64,
        capacity: usize,
        replaceable: bool,
    ) -> (Outbox, outbound::Receiver<Queued>) {
        let (tx, rx) = outbound::queue(capacity);
        (
            Outbox {
                id,
                tx,
                kick: Arc::new(Kick::default()),
                replaceable,
            },
            rx,
        )
    }

    /// Queues a reply or an error: a frame for this connection only.
    pub(crate) fn push(&self, frame: Utf8Bytes, counters: &Mutex<Counters>) -> bool {
        self.queue(
            Queued {
                frame,
                notice: false,
            },
            counters,
        )
    }

    /// Queues a notice to the participant.
    pub(crate) fn push_notice(&self, frame: Utf8Bytes, counters: &Mutex<Counters>) -> bool {
        self.queue(
            Queued {
                frame,
                notice: self.replaceable,
            },
            counters,
        )
    }

    /// Queues a frame without waiting. A full queue means a slow consumer: the
    /// connection is closed (1008) rather than slowing anyone else down.
    fn queue(&self, frame: Queued, counters: &Mutex<Counters>) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(Refused::Full) => {
                // Counted once per connection, even when several pushes find the queue
                // full at the same moment.
                let first = self.kick.kick(
                    crate::protocol::close::POLICY,
                    format!(
                        "slow consumer: outbound queue full ({} frames)",
                        self.tx.capacity()
                    ),
                );
                if first {
                    lock(counters).slow_consumers += 1;
                }
                false
            }
            Err(Refused::Closed) => false,
        }
    }
}
