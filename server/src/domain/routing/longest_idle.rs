//! `longest-idle`: the agent whose last assignment (or sign-in) is oldest first; ties
//! to the earliest signed in.

use super::{Load, OrderedPool};
use crate::domain::time::Time;

pub(super) fn pool() -> OrderedPool<(Time, u64)> {
    OrderedPool::new(|l: &Load| (l.idle_since, l.sign_in_seq))
}
