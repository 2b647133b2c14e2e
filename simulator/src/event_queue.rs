//! A min-queue of timed events. Both drivers use it: virtual time's event list (keyed
//! by scenario time) and each live task's timers (keyed by real instants). Within an
//! instant, what its events cause comes before the next event scheduled for it in
//! advance (see [`EventQueue`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::ops::Add;
use std::time::Duration;

struct Entry<T, E> {
    at: T,
    seq: u64,
    event: E,
}

impl<T: Ord, E> PartialEq for Entry<T, E> {
    fn eq(&self, o: &Self) -> bool {
        (&self.at, self.seq) == (&o.at, o.seq)
    }
}
impl<T: Ord, E> Eq for Entry<T, E> {}
impl<T: Ord, E> PartialOrd for Entry<T, E> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T: Ord, E> Ord for Entry<T, E> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (&self.at, self.seq).cmp(&(&o.at, o.seq))
    }
}

/// Timed events, earliest first.
///
/// Within an instant, events queued while it is being processed (the answers and
/// notices an event of that instant caused) come, first in first out, before the
/// events scheduled for it in advance (timers, in the order they were queued). So a
/// chain of consequences completes before the next timer of the same instant fires:
/// a user whose patience runs out at the very instant an agent takes the chat hears
/// the agent join first, instead of closing a chat the Desk already gave away (which
/// would count as answered within target with a conversation of no length). Events
/// queued for an instant already past still come first.
pub struct EventQueue<T, E> {
    heap: BinaryHeap<Reverse<Entry<T, E>>>,
    /// Events for `now`, queued while `now` was being processed.
    now_fifo: VecDeque<E>,
    /// The instant of the event popped last.
    now: Option<T>,
    seq: u64,
}

impl<T: Ord + Copy, E> Default for EventQueue<T, E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            now_fifo: VecDeque::new(),
            now: None,
            seq: 0,
        }
    }
}

impl<T: Ord + Copy, E> EventQueue<T, E> {
    /// Queues `event` at `at`.
    pub fn push(&mut self, at: T, event: E) {
        if self.now == Some(at) {
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

    /// The instant of the earliest event.
    pub fn next_at(&self) -> Option<T> {
        let heap = self.heap.peek().map(|Reverse(e)| e.at);
        match (self.now_fifo.is_empty(), self.now, heap) {
            (false, Some(now), Some(h)) => Some(now.min(h)),
            (false, Some(now), None) => Some(now),
            _ => heap,
        }
    }

    /// The earliest event.
    pub fn pop(&mut self) -> Option<(T, E)> {
        let heap_first = self
            .heap
            .peek()
            .is_some_and(|Reverse(e)| self.now.is_some_and(|now| e.at < now));
        if !heap_first
            && let Some(now) = self.now
            && let Some(e) = self.now_fifo.pop_front()
        {
            return Some((now, e));
        }
        let Reverse(e) = self.heap.pop()?;
        // An event queued for an instant already past does not take the clock back.
        self.now = Some(self.now.map_or(e.at, |now| now.max(e.at)));
        Some((e.at, e.event))
    }

    /// Delays every event by `by` (its owner was stalled that long).
    pub fn shift(&mut self, by: Duration)
    where
        T: Add<Duration, Output = T>,
    {
        let heap = std::mem::take(&mut self.heap);
        self.heap = heap
            .into_iter()
            .map(|Reverse(mut e)| {
                e.at = e.at + by;
                Reverse(e)
            })
            .collect();
        self.now = self.now.map(|now| now + by);
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
        assert_eq!(q.next_at(), Some(Duration::from_secs(1)));
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(q.next_at(), None);
    }

    #[test]
    fn what_an_instant_causes_comes_before_its_next_scheduled_event() {
        let mut q = EventQueue::default();
        q.push(Duration::from_secs(1), "a");
        q.push(Duration::from_secs(1), "b");
        q.push(Duration::from_secs(2), "e");
        assert_eq!(q.pop(), Some((Duration::from_secs(1), "a")));
        // Caused by "a" while processing 1 s: before "b", scheduled for 1 s earlier.
        q.push(Duration::from_secs(1), "c");
        assert_eq!(q.pop(), Some((Duration::from_secs(1), "c")));
        q.push(Duration::from_secs(1), "d");
        q.push(Duration::from_secs(3), "f");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["d", "b", "e", "f"]);
    }

    #[test]
    fn an_event_queued_in_the_past_still_comes_first() {
        let mut q = EventQueue::default();
        q.push(Duration::from_secs(5), "now");
        assert_eq!(q.pop(), Some((Duration::from_secs(5), "now")));
        q.push(Duration::from_secs(5), "fifo");
        q.push(Duration::from_secs(4), "late");
        assert_eq!(q.next_at(), Some(Duration::from_secs(4)));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        // The late event does not take the clock back: the rest keep their instant.
        assert_eq!(
            order,
            [
                (Duration::from_secs(4), "late"),
                (Duration::from_secs(5), "fifo")
            ]
        );
    }

    #[test]
    fn shifting_delays_everything_queued() {
        let mut q = EventQueue::default();
        q.push(Duration::from_secs(1), "a");
        q.push(Duration::from_secs(3), "c");
        assert_eq!(q.pop(), Some((Duration::from_secs(1), "a")));
        q.push(Duration::from_secs(1), "b");
        q.shift(Duration::from_secs(10));
        assert_eq!(q.next_at(), Some(Duration::from_secs(11)));
        assert_eq!(q.pop(), Some((Duration::from_secs(11), "b")));
        assert_eq!(q.pop(), Some((Duration::from_secs(13), "c")));
        assert_eq!(q.pop(), None);
    }
}
