//! The event queue of virtual time: events ordered by their instant, and events of the
//! same instant in the order they were queued.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

/// Who an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pid {
    /// An agent, by index.
    Agent(usize),
    /// A user, by number.
    User(u64),
    /// The Desk's own timekeeping.
    System,
}

struct Entry<E> {
    at: Duration,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// A min-queue of timed events, first in first out within an instant.
///
/// Most events are answers and notices for the instant being processed; they skip
/// the heap and wait in a FIFO. Events already in the heap for that instant were
/// queued earlier, so they still come first: the order is exactly (instant, order
/// queued).
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Entry<E>>>,
    /// Events for `now`, queued while `now` was being processed.
    now_fifo: VecDeque<E>,
    now: Duration,
    /// An event has been popped: `now` is the instant being processed.
    processing: bool,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            now_fifo: VecDeque::new(),
            now: Duration::ZERO,
            processing: false,
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Queues `event` at `at`.
    pub fn push(&mut self, at: Duration, event: E) {
        if self.processing && at == self.now {
            self.now_fifo.push_back(event);
            return;
        }
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            event,
        }));
    }

    /// The earliest event.
    pub fn pop(&mut self) -> Option<(Duration, E)> {
        let heap_now = self.heap.peek().is_some_and(|Reverse(e)| e.at == self.now);
        if !heap_now && let Some(e) = self.now_fifo.pop_front() {
            return Some((self.now, e));
        }
        let Reverse(e) = self.heap.pop()?;
        self.now = e.at;
        self.processing = true;
        Some((e.at, e.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_fifo() {
        let mut q = EventQueue::default();
        q.push(Duration::from_secs(2), "c");
        q.push(Duration::from_secs(1), "a");
        q.push(Duration::from_secs(1), "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn events_queued_during_an_instant_follow_those_queued_before() {
        let mut q = EventQueue::default();
        q.push(Duration::from_secs(1), "a");
        q.push(Duration::from_secs(1), "b");
        q.push(Duration::from_secs(2), "d");
        assert_eq!(q.pop(), Some((Duration::from_secs(1), "a")));
        // Queued while processing 1 s: after "b", before 2 s.
        q.push(Duration::from_secs(1), "c");
        q.push(Duration::from_secs(3), "e");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["b", "c", "d", "e"]);
    }
}
