//! A connection's outbound queue: bounded, filled by whichever task runs a Desk step
//! (any number of senders), emptied by the connection's own session (one receiver).
//!
//! It does what a bounded tokio `mpsc` channel would, for less per frame: a push is a
//! lock, a `push_back` and, only when the queue was empty, a wake-up; a pop is a lock
//! and a `pop_front`. (A bounded channel also takes and gives back a semaphore permit
//! per frame, and its receiver wakes a waiting sender on every pop — nobody waits
//! here: a full queue is refused, never waited on.) Memory grows with what is queued,
//! not with the capacity, and a large backlog's memory is given back once it drains.

use super::state::lock;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::Poll;

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue holds `capacity` frames already: the consumer is too slow.
    Full,
    /// The receiver is gone: the connection ended.
    Closed,
}

/// Slots an empty queue may keep; a drained backlog beyond this gives its memory back.
const KEEP_WHEN_EMPTY: usize = 256;

struct Inner<T> {
    state: Mutex<State<T>>,
    /// The receiver's task, registered while the queue is empty.
    waiter: AtomicWaker,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> State<T> {
    fn pop(&mut self) -> Option<T> {
        let item = self.items.pop_front();
        if self.items.is_empty() && self.items.capacity() > KEEP_WHEN_EMPTY {
            self.items.shrink_to(KEEP_WHEN_EMPTY);
        }
        item
    }
}

/// A queue of at most `capacity` items, and its receiving end.
pub(crate) fn queue<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            items: VecDeque::new(),
            closed: false,
        }),
        waiter: AtomicWaker::new(),
        capacity,
    });
    (
        Sender {
            inner: Arc::clone(&inner),
        },
        Receiver { inner },
    )
}

/// The sending side; clones share the queue.
pub(crate) struct Sender<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Sender<T> {
    /// Queues `item` without waiting.
    pub(crate) fn try_send(&self, item: T) -> Result<(), Refused> {
        let mut state = lock(&self.inner.state);
        if state.closed {
            return Err(Refused::Closed);
        }
        if state.items.len() >= self.inner.capacity {
            return Err(Refused::Full);
        }
        let was_empty = state.items.is_empty();
        state.items.push_back(item);
        drop(state);
        // The receiver only waits on an empty queue (it registers, under the lock,
        // after finding it empty), so only the first item after that needs to wake it.
        if was_empty {
            self.inner.waiter.wake();
        }
        Ok(())
    }

    /// The most items the queue holds.
    pub(crate) fn capacity(&self) -> usize {
        self.inner.capacity
    }
}

/// The receiving side. Dropping it closes the queue: later pushes are refused and
/// what it still held is dropped.
pub(crate) struct Receiver<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Receiver<T> {
    /// The next item, if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        lock(&self.inner.state).pop()
    }

    /// Waits for the next item. (The queue never ends on the sending side: the
    /// session that receives also holds a sender.)
    pub(crate) async fn recv(&mut self) -> T {
        std::future::poll_fn(|cx| {
            let mut state = lock(&self.inner.state);
            match state.pop() {
                Some(item) => Poll::Ready(item),
                None => {
                    // Under the lock: a push after this sees an empty queue and wakes.
                    self.inner.waiter.register(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let items = {
            let mut state = lock(&self.inner.state);
            state.closed = true;
            std::mem::take(&mut state.items)
        };
        // Dropped outside the lock.
        drop(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn items_come_out_in_order_and_a_full_queue_refuses() {
        let (tx, mut rx) = queue(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.clone().try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(Refused::Full));
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(tx.try_send(4), Ok(()));
        assert_eq!(rx.try_recv(), Some(2));
        assert_eq!(rx.try_recv(), Some(4));
        assert_eq!(rx.try_recv(), None);
        assert_eq!(tx.capacity(), 2);
    }

    #[test]
    fn a_drained_backlog_gives_its_memory_back() {
        let (tx, mut rx) = queue(100_000);
        for i in 0..50_000 {
            tx.try_send(i).unwrap();
        }
        assert!(lock(&rx.inner.state).items.capacity() >= 50_000);
        while rx.try_recv().is_some() {}
        assert!(lock(&rx.inner.state).items.capacity() <= KEEP_WHEN_EMPTY);
    }

    #[test]
    fn a_dropped_receiver_closes_the_queue_and_drops_what_it_held() {
        let (tx, rx) = queue(4);
        let held = Arc::new(());
        tx.try_send(Arc::clone(&held)).unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&held), 1, "the queued item was dropped");
        assert_eq!(tx.try_send(Arc::clone(&held)), Err(Refused::Closed));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_receiver_is_woken_by_every_item_from_other_threads() {
        // Many senders on other threads, one receiver that waits whenever the queue is
        // empty: every item arrives (a lost wake-up would hang until the timeout).
        let (tx, mut rx) = queue(1_000_000);
        let senders: Vec<_> = (0..4u64)
            .map(|s| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        tx.try_send(s * 1_000_000 + i).unwrap();
                        if i % 64 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut last = [None::<u64>; 4];
        let started = std::time::Instant::now();
        let received = tokio::time::timeout(Duration::from_secs(20), async {
            for _ in 0..80_000 {
                let v = rx.recv().await;
                let s = (v / 1_000_000) as usize;
                // Each sender's items keep their order.
                assert!(last[s].is_none_or(|l| l < v));
                last[s] = Some(v);
            }
        })
        .await;
        // A lost wake-up leaves the receiver waiting until the timeout polls it again
        // (which then finds every item queued): it shows as time, not as a hang.
        assert!(received.is_ok(), "a wake-up was lost");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a wake-up was lost: {:?}",
            started.elapsed()
        );
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(rx.try_recv(), None);
    }
}
