//! `least-active`: fewest open chats first; ties to the longest idle, then the earliest
//! signed in.

use super::{Load, OrderedPool};
use crate::domain::time::Time;

pub(super) fn pool() -> OrderedPool<(u8, Time, u64)> {
    OrderedPool::new(|l: &Load| (l.open, l.idle_since, l.sign_in_seq))
}
