//! Tags on an agent's commands, so that a reply finds what it answers: the low byte
//! names the command, the rest the chat.

use crate::behaviour::Tag;
use switchboard_server::domain::ChatId;

pub(super) const SIGN_IN: Tag = 1;
pub(super) const AVAILABILITY: Tag = 2;
pub(super) const LIST_QUEUE: Tag = 3;
pub(super) const LIST_TRANSFERRED: Tag = 4;
pub(super) const ACCEPT: Tag = 5;
pub(super) const ACCEPT_TRANSFER: Tag = 6;
pub(super) const SEND: Tag = 7;
pub(super) const CLOSE: Tag = 8;
pub(super) const SHARE: Tag = 9;
pub(super) const PIN: Tag = 10;
pub(super) const TICKET: Tag = 11;
pub(super) const FILL: Tag = 12;
pub(super) const CONFIRM: Tag = 13;
pub(super) const TRANSFER: Tag = 14;
pub(super) const SEARCH: Tag = 15;
/// Listing Transferred after a reconnect, to find the transfers offered meanwhile.
pub(super) const OFFERS_AFTER_DROP: Tag = 16;

pub(super) fn tag(kind: Tag, chat: ChatId) -> Tag {
    (chat.0 << 8) | kind
}

pub(super) fn untag(t: Tag) -> (Tag, ChatId) {
    (t & 0xff, ChatId(t >> 8))
}
