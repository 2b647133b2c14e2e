//! What an agent has heard of each of its chats: the last transcript position that
//! reached it, from the history of the chat it took and from each message since.
//!
//! An agent that signs in again within the grace period of a dropped connection gets
//! each held chat back whole (`resumed`, R10). The user's messages in it that the agent
//! had not heard reached it only now: both runtimes hand them on to the agent as the
//! messages they are, before the chat, so they count as received (and, live, their
//! latency runs from when they were sent to now).

use std::collections::{BTreeSet, HashMap};
use switchboard_server::domain::{AcceptedChat, ChatId, Entry, Notice, Party, Reply};

/// Transcript positions heard, by chat. A set, not a high mark: on a reconnect the
/// server may deliver a message written after the drop before the `resumed` chat that
/// holds the ones written during it.
#[derive(Debug, Default)]
pub struct Heard(HashMap<ChatId, BTreeSet<u64>>);

impl Heard {
    /// Notes what a reply tells: the history of a chat just accepted.
    pub fn reply(&mut self, reply: &Reply) {
        if let Reply::Accepted(view) = reply {
            self.view(view);
        }
    }

    /// Notes what a notice tells; for `resumed`, returns the user's messages in it not
    /// heard before, as the `message` notices that never arrived. A chat heard nothing
    /// of (its accept was lost in the drop) hands on nothing: its history is what the
    /// agent takes it with, as on an accept.
    pub fn notice(&mut self, notice: &Notice) -> Vec<Notice> {
        match notice {
            Notice::Assigned(view) => {
                self.view(view);
                Vec::new()
            }
            Notice::Message { chat, entry } => {
                self.0.entry(*chat).or_default().insert(entry.seq);
                Vec::new()
            }
            Notice::Resumed(view) => {
                let Some(heard) = self.0.get(&view.chat) else {
                    self.view(view);
                    return Vec::new();
                };
                let missed: Vec<Notice> = view
                    .history
                    .iter()
                    .filter(|e| e.from == Party::User && !heard.contains(&e.seq))
                    .map(|entry| Notice::Message {
                        chat: view.chat,
                        entry: entry.clone(),
                    })
                    .collect();
                self.view(view);
                missed
            }
            Notice::ChatEnded { chat, .. } => {
                self.0.remove(chat);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn view(&mut self, view: &AcceptedChat) {
        let heard = self.0.entry(view.chat).or_default();
        heard.extend(view.history.iter().map(|e: &Entry| e.seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_server::domain::{EntryBody, Origin, Resources, Time};

    fn entry(seq: u64, from: Party, text: &str) -> Entry {
        Entry {
            seq,
            at: Time(seq),
            from,
            body: EntryBody::Text { text: text.into() },
        }
    }

    fn view(history: Vec<Entry>) -> Box<AcceptedChat> {
        Box::new(AcceptedChat {
            chat: ChatId(1),
            queue: "hardware".into(),
            subject: "printer".into(),
            source: Default::default(),
            user: switchboard_server::domain::UserId(1),
            origin: Origin::Queue,
            requested_at: Time(0),
            history,
            notes: Vec::new(),
            customer: None,
            resources: Resources::default(),
        })
    }

    fn texts(notices: &[Notice]) -> Vec<&str> {
        notices
            .iter()
            .filter_map(|n| match n {
                Notice::Message { entry, .. } => match &entry.body {
                    EntryBody::Text { text } => Some(text.as_str()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    #[test]
    fn resumed_hands_on_only_the_users_unheard_messages() {
        let alice = Party::Agent("alice".into());
        let mut heard = Heard::default();
        let before = vec![entry(1, Party::User, "before accept")];
        assert!(heard.notice(&Notice::Assigned(view(before))).is_empty());
        let message = |seq, text| Notice::Message {
            chat: ChatId(1),
            entry: entry(seq, Party::User, text),
        };
        heard.notice(&message(3, "heard"));
        // Written after the drop, delivered to the new connection before the chat
        // was resumed.
        heard.notice(&message(7, "early on the new connection"));
        let history = vec![
            entry(1, Party::User, "before accept"),
            entry(2, alice.clone(), "hello"),
            entry(3, Party::User, "heard"),
            entry(4, Party::User, "lost in the drop"),
            entry(5, alice, "own words"),
            entry(6, Party::User, "while away"),
            entry(7, Party::User, "early on the new connection"),
        ];
        let missed = heard.notice(&Notice::Resumed(view(history.clone())));
        assert_eq!(texts(&missed), ["lost in the drop", "while away"]);
        // Resumed twice: nothing new.
        assert!(heard.notice(&Notice::Resumed(view(history))).is_empty());
    }

    #[test]
    fn a_chat_accepted_by_reply_counts_its_history_as_heard() {
        let mut heard = Heard::default();
        heard.reply(&Reply::Accepted(view(vec![entry(1, Party::User, "old")])));
        let missed = heard.notice(&Notice::Resumed(view(vec![
            entry(1, Party::User, "old"),
            entry(2, Party::User, "new"),
        ])));
        assert_eq!(texts(&missed), ["new"]);
    }

    #[test]
    fn a_chat_heard_nothing_of_hands_nothing_on() {
        // Its accept was lost in the drop: the history is what the agent takes it
        // with, not messages that reached it late.
        let mut heard = Heard::default();
        let history = vec![entry(1, Party::User, "old"), entry(2, Party::User, "new")];
        assert!(
            heard
                .notice(&Notice::Resumed(view(history.clone())))
                .is_empty()
        );
        assert!(heard.notice(&Notice::Resumed(view(history))).is_empty());
    }
}
