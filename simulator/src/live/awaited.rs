//! The commands a participant sent on its connection and whose answers it still
//! waits for: what each answer settles in the run's [`Ledger`] (a refused message will
//! never be seen, a close ends the chat's messages) and when the timed ones went out.

use super::ledger::Ledger;
use crate::behaviour::Tag;
use crate::metrics::{MetricName, Recorder};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;
use switchboard_server::domain::ChatId;

/// When a command was due to go out (a held or scheduled command keeps its due
/// instant), for latencies measured on its answer.
pub(super) struct Sent {
    /// When it was due (its latency counts from then).
    pub at: Instant,
    /// The metric its answer completes, if any.
    pub metric: Option<MetricName>,
}

/// The commands sent on the current connection that wait for their answer (a reply or
/// an error: the server answers every command, in order).
#[derive(Default)]
pub(super) struct Awaited {
    /// What each answer settles in the ledger, by tag, in the order the commands went
    /// out (tags repeat: every message a user sends has the same).
    settles: HashMap<Tag, VecDeque<Settles>>,
    /// When each of those timed on their answer was due (tickets' `ticket_latency`,
    /// the routing probe's `start_chat`).
    timed: HashMap<Tag, Sent>,
}

/// What a command's answer settles in the run's [`Ledger`].
#[derive(Clone, Copy, Debug)]
pub(super) enum Settles {
    /// Nothing.
    Nothing,
    /// A message: refused (an error), it will never be seen.
    Message(ChatId, u64),
    /// A close: done, or refused because the chat had ended, the chat is over (other
    /// refusals, such as a close an agent held through an outage and the chat had
    /// moved on, leave it going).
    Chat(ChatId),
}

impl Awaited {
    /// A command went out.
    pub(super) fn sent(&mut self, tag: Tag, settles: Settles, timed: Option<Sent>) {
        self.settles.entry(tag).or_default().push_back(settles);
        if let Some(s) = timed {
            self.timed.insert(tag, s);
        }
    }

    /// A command's answer came (`error`: the code of a refusal): the ledger learns
    /// what it settles; when it went out, if it was timed.
    pub(super) fn answered(
        &mut self,
        tag: Tag,
        error: Option<&str>,
        ledger: &Ledger,
    ) -> Option<Sent> {
        let settles = match self.settles.get_mut(&tag) {
            Some(waiting) => {
                let first = waiting.pop_front();
                if waiting.is_empty() {
                    self.settles.remove(&tag);
                }
                first
            }
            None => None,
        };
        match settles {
            Some(Settles::Message(chat, id)) if error.is_some() => ledger.close(chat, id),
            Some(Settles::Chat(chat)) if matches!(error, None | Some("chat_ended")) => {
                ledger.chat_over(chat);
            }
            _ => {}
        }
        self.timed.remove(&tag)
    }

    /// The connection is gone, and with it the answers still to come: each counts as
    /// `errors.reply_lost` (the command went out; whether it took effect is unknown,
    /// and a `send` may still reach the other side, so the ledger stops expecting it).
    /// A user's chat (`user_chat`) ends with the user's connection, on the server's
    /// side too: nobody will see what is left of it.
    pub(super) fn lost(&mut self, rec: &mut Recorder, ledger: &Ledger, user_chat: Option<ChatId>) {
        if let Some(chat) = user_chat {
            ledger.chat_over(chat);
        }
        for settles in self.settles.drain().flat_map(|(_, waiting)| waiting) {
            rec.counters.error("reply_lost");
            if let Settles::Message(chat, id) = settles {
                ledger.close(chat, id);
            }
        }
        self.timed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::{Awaited, Settles};
    use crate::live::ledger::{Ledger, Unseen};
    use switchboard_server::domain::ChatId;

    /// What each answer settles in the ledger: a refused message leaves it, a sent one
    /// stays until seen; a close done, or refused because the chat had ended, ends the
    /// chat's messages, a close refused otherwise (the chat moved on) does not.
    #[test]
    fn answers_settle_the_ledger_by_what_they_answer() {
        let ledger = Ledger::default();
        let mut awaited = Awaited::default();
        let (chat, other) = (ChatId(1), ChatId(2));
        let refused = ledger.open(chat, 10);
        let taken = ledger.open(chat, 20);
        ledger.open(other, 30);
        awaited.sent(3, Settles::Message(chat, refused), None);
        awaited.sent(3, Settles::Message(chat, taken), None);
        awaited.sent(9, Settles::Chat(chat), None);
        awaited.sent(9, Settles::Chat(other), None);
        // Answers to one tag come in the order the commands went out.
        awaited.answered(3, Some("rate_limited"), &ledger);
        awaited.answered(3, None, &ledger);
        assert_eq!(ledger.unseen(100).count, 2);
        awaited.answered(9, Some("not_owner"), &ledger);
        assert_eq!(
            ledger.unseen(100).count,
            2,
            "a close refused: the chat goes on"
        );
        awaited.answered(9, Some("chat_ended"), &ledger);
        assert_eq!(ledger.unseen(100).count, 1);
        awaited.sent(9, Settles::Chat(chat), None);
        awaited.answered(9, None, &ledger);
        assert_eq!(ledger.unseen(100), Unseen::default());
        assert!(awaited.settles.is_empty());
    }
}
