//! Tags on an agent's commands, so that a reply finds what it answers: the low byte
//! names the command, the rest the chat.

use crate::behaviour::Tag;
use switchboard_server::domain::ChatId;

pub(super) const SIGN_IN: Tag = 1;
pub(super) const AVAILABILITY: Tag = 2;
pub(super) const LIST_QUEUE: Tag = 3;
pub(super) const LIST_TRANSFERRED: Tag = 4;
pub(super) const ACCEPT: u64 = 5;
pub(super) const ACCEPT_TRANSFER: u64 = 6;
pub(super) const SEND: u64 = 7;
pub(super) const CLOSE: u64 = 8;
pub(super) const SHARE: u64 = 9;
pub(super) const PIN: u64 = 10;
pub(super) const TICKET: u64 = 11;
pub(super) const FILL: u64 = 12;
pub(super) const CONFIRM: u64 = 13;
pub(super) const TRANSFER: u64 = 14;
pub(super) const SEARCH: u64 = 15;
/// Listing Transferred after a reconnect, to find the transfers offered meanwhile.
pub(super) const OFFERS_AFTER_DROP: Tag = 16;

pub(super) fn tag(kind: u64, chat: ChatId) -> Tag {
    (chat.0 << 8) | kind
}

pub(super) fn untag(t: Tag) -> (u64, ChatId) {
    (t & 0xff, ChatId(t >> 8))
}
