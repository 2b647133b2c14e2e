//! `fill-first`: the busiest agent who still has a free slot, so one agent fills up
//! before the next gets anything; ties to the earliest signed in.

use super::{Load, OrderedPool};
use std::cmp::Reverse;

pub(super) fn pool() -> OrderedPool<(Reverse<u8>, u64)> {
    OrderedPool::new(|l: &Load| (Reverse(l.open), l.sign_in_seq))
}
