//! Knowledge articles and templates: search, share into a chat, pin to its ticket (R11,
//! R13).

use super::Desk;
use super::tickets::shared_line;
use crate::domain::chat::{EntryBody, Party};
use crate::domain::error::DeskError;
use crate::domain::ids::{AgentId, ArticleId, ChatId};
use crate::domain::outcome::{Delivery, Notice, Recipient, Reply};
use crate::domain::ticket::{Activity, TicketStatus};
use crate::domain::time::Time;

/// Most results a search returns.
const SEARCH_LIMIT: usize = 20;

impl Desk {
    pub(super) fn search_articles(&self, term: &str) -> Reply {
        Reply::Articles {
            articles: self
                .library
                .search_articles(term, SEARCH_LIMIT)
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }

    pub(super) fn search_templates(&self, term: &str) -> Reply {
        Reply::Templates {
            templates: self
                .library
                .search_templates(term, SEARCH_LIMIT)
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }

    /// R11: the article appears in the conversation and in the ticket's activity log.
    pub(super) fn share_article(
        &mut self,
        a: &AgentId,
        c: ChatId,
        article: ArticleId,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let user = self.owned(a, c)?.user;
        let art = self
            .library
            .articles
            .get(&article)
            .ok_or_else(|| DeskError::UnknownArticle(article.clone()))?;
        let body = EntryBody::Article {
            article: art.id.clone(),
            title: art.title.clone(),
            link: art.link.clone(),
        };
        let line = shared_line(&art.id, &art.link);
        let entry = self.append(c, Party::Agent(a.clone()), body, now);
        let chat = self.chats.get_mut(&c).expect("owned chat exists");
        chat.shared.push(article);
        if let Some(t) = chat.ticket {
            let ticket = self.tickets.get_mut(&t).expect("a chat's ticket exists");
            // A draft gets the whole list when it is created.
            if ticket.status == TicketStatus::Created {
                ticket.activity.push(Activity {
                    at: now,
                    text: line,
                });
            }
        }
        let seq = entry.seq;
        out.push(Delivery {
            to: Recipient::User(user),
            notice: Notice::Message { chat: c, entry },
        });
        Ok(Reply::Sent { chat: c, seq })
    }

    /// R11: flag the article on the chat's ticket (now, or when it is created).
    pub(super) fn pin_article(
        &mut self,
        a: &AgentId,
        c: ChatId,
        article: ArticleId,
    ) -> Result<Reply, DeskError> {
        self.owned(a, c)?;
        if !self.library.articles.contains_key(&article) {
            return Err(DeskError::UnknownArticle(article));
        }
        let chat = self.chats.get_mut(&c).expect("owned chat exists");
        chat.pinned.insert(article.clone());
        if let Some(t) = chat.ticket {
            let ticket = self.tickets.get_mut(&t).expect("a chat's ticket exists");
            if !ticket.pinned.contains(&article) {
                ticket.pinned.push(article);
            }
        }
        Ok(Reply::Done)
    }
}
