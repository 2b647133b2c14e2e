//! The work an agent plans for a chat it holds, and the searches by the words of the
//! chat's subject that find an article to share or a template for a ticket (R11, R13).

use super::tags::{SEARCH, TICKET, tag};
use crate::behaviour::Effects;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use switchboard_server::domain::{ArticleId, ChatId, Command, TemplateId, TicketKind};

/// The extra work planned for one chat, done in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Share { pin: bool },
    Ticket { kind: TicketKind, template: bool },
    Transfer,
}

/// What a search by term is for (R11, R13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Search {
    /// An article to share, then pin if `pin`.
    Article { pin: bool },
    /// A template for a ticket of this kind.
    Template { kind: TicketKind },
}

/// What an agent searches by for chat `subject`: its words of three letters or more,
/// longest (most telling) first.
pub(super) fn search_terms(subject: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in subject
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
    {
        if w.chars().count() >= 3 && !words.contains(&w) {
            words.push(w);
        }
    }
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    words
}

/// What the agent tracks per chat it holds.
#[derive(Debug)]
pub(super) struct Held {
    /// Which holding of the chat this is (see [`Timer::AgentClose`](crate::behaviour::Timer::AgentClose)).
    pub(super) holding: u64,
    /// Since when the chat occupies the agent; `None` while the connection is down
    /// (the agent does no work on it then).
    pub(super) busy_since: Option<Duration>,
    pub(super) steps: Vec<Step>,
    /// The terms to search articles and templates by ([`search_terms`]).
    pub(super) terms: Vec<String>,
    /// The search in flight: what for, and the index of its term in `terms`.
    pub(super) searching: Option<(Search, usize)>,
    /// A user message waits for an answer.
    pub(super) owes_reply: bool,
    /// The agent asked to close the chat: it answers nothing more and starts no work.
    pub(super) closing: bool,
    /// A step is in flight (its replies are awaited).
    pub(super) working: bool,
    pub(super) pinning: Option<ArticleId>,
    /// The chat's timing generator ([`chat_rng`](super::chat_rng), `chats/timing`): the
    /// handle time, the delays of the answers, a transfer's target agent.
    pub(super) rng: ChaCha8Rng,
}

/// What a search answered: its best match, if any.
pub(super) enum Found {
    Articles(Option<ArticleId>),
    Templates(Option<TemplateId>),
}

/// Searches for what `what` needs with term number `term` of chat `c`'s terms; false
/// when there is no such term (every one was tried).
pub(super) fn search(c: ChatId, h: &mut Held, what: Search, term: usize, fx: &mut Effects) -> bool {
    let Some(word) = h.terms.get(term).cloned() else {
        return false;
    };
    h.searching = Some((what, term));
    let command = match what {
        Search::Article { .. } => Command::SearchArticles { term: word },
        Search::Template { .. } => Command::SearchTemplates { term: word },
    };
    fx.send.push((tag(SEARCH, c), command));
    true
}

pub(super) fn create_ticket(
    c: ChatId,
    kind: TicketKind,
    template: Option<TemplateId>,
    fx: &mut Effects,
) {
    fx.send.push((
        tag(TICKET, c),
        Command::CreateTicket {
            chat: c,
            kind,
            template,
        },
    ));
}
