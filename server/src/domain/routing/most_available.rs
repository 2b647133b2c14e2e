//! `most-available`: largest free capacity first; ties to the longest idle, then the
//! earliest signed in.

use super::{Load, OrderedPool};
use crate::domain::time::Time;
use std::cmp::Reverse;

pub(super) fn pool() -> OrderedPool<(Reverse<u8>, Time, u64)> {
    OrderedPool::new(|l: &Load| (Reverse(l.free), l.idle_since, l.sign_in_seq))
}
