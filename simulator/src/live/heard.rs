//! What an agent has heard of each of its chats: the last transcript position that
//! reached it, from the history of the chat it took and from each message since.
//!
//! An agent that signs in again within the grace period of a dropped connection gets
//! each held chat back whole (`resumed`, R10). The user's messages in it that the agent
//! had not heard reached it only now: the task hands them on as the messages they are,
//! so they count as received and their latency runs from when they were sent to now.

use std::collections::HashMap;
use switchboard_server::domain::{AcceptedChat, ChatId, Entry, Notice, Party, Reply};

/// Last transcript position heard, by chat.
#[derive(Debug, Default)]
pub struct Heard(HashMap<ChatId, u64>);

impl Heard {
    /// Notes what a reply tells: the history of a chat just accepted.
    pub fn reply(&mut self, reply: &Reply) {
        if let Reply::Accepted(view) = reply {
            self.view(view);
        }
    }

    /// Notes what a notice tells; for `resumed`, returns the user's messages in it not
    /// heard before, as the `message` notices that never arrived.
    pub fn notice(&mut self, notice: &Notice) -> Vec<Notice> {
        match notice {
            Notice::Assigned(view) => {
                self.view(view);
                Vec::new()
            }
            Notice::Message { chat, entry } => {
                self.entry(*chat, entry);
                Vec::new()
            }
            Notice::Resumed(view) => {
                let last = self.0.get(&view.chat).copied().unwrap_or(0);
                self.view(view);
                view.history
                    .iter()
                    .filter(|e| e.seq > last && e.from == Party::User)
                    .map(|entry| Notice::Message {
                        chat: view.chat,
                        entry: entry.clone(),
                    })
                    .collect()
            }
            Notice::ChatEnded { chat, .. } => {
                self.0.remove(chat);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn view(&mut self, view: &AcceptedChat) {
        if let Some(last) = view.history.last() {
            self.entry(view.chat, last);
        }
    }

    fn entry(&mut self, chat: ChatId, entry: &Entry) {
        let last = self.0.entry(chat).or_default();
        *last = (*last).max(entry.seq);
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
        let hello = entry(2, alice.clone(), "hello");
        heard.notice(&Notice::Message {
            chat: ChatId(1),
            entry: entry(3, Party::User, "heard"),
        });
        let history = vec![
            entry(1, Party::User, "before accept"),
            hello,
            entry(3, Party::User, "heard"),
            entry(4, Party::User, "lost in the drop"),
            entry(5, alice, "own words"),
            entry(6, Party::User, "while away"),
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
}
