//! Tickets from chats: without a template (R12), with one and its draft → confirm path
//! (R13), never two for one chat (R14).

use super::Desk;
use crate::domain::chat::{EntryBody, render_transcript};
use crate::domain::error::DeskError;
use crate::domain::ids::{AgentId, ChatId, TemplateId, TicketId};
use crate::domain::outcome::{Delivery, Notice, Recipient, Reply};
use crate::domain::ticket::{Activity, Ticket, TicketKind, TicketStatus};
use crate::domain::time::Time;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Desk {
    pub(super) fn create_ticket(
        &mut self,
        a: &AgentId,
        c: ChatId,
        kind: TicketKind,
        template: Option<TemplateId>,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let chat = self.owned(a, c)?;
        if let Some(t) = chat.ticket {
            return Err(DeskError::TicketExists { chat: c, ticket: t });
        }
        let summary = chat.subject.clone();
        let pinned = chat.pinned.iter().cloned().collect();
        let (fields, required) = match &template {
            None => (BTreeMap::new(), Vec::new()),
            Some(t) => {
                let tpl = self
                    .library
                    .templates
                    .get(t)
                    .ok_or_else(|| DeskError::UnknownTemplate(t.clone()))?;
                (
                    tpl.fields
                        .iter()
                        .map(|f| (f.name.clone(), f.value.clone()))
                        .collect(),
                    tpl.fields
                        .iter()
                        .filter(|f| f.required)
                        .map(|f| f.name.clone())
                        .collect(),
                )
            }
        };
        let id = TicketId(self.next_ticket);
        self.next_ticket += 1;
        let numbered = &mut self.numbered[kind as usize];
        *numbered += 1;
        let ticket = Ticket {
            id,
            number: format!("{}{:06}", kind.prefix(), numbered),
            kind,
            chat: c,
            agent: a.clone(),
            template,
            fields,
            required,
            status: TicketStatus::Draft,
            summary,
            description: Arc::from(""),
            activity: Vec::new(),
            pinned,
            created_at: None,
        };
        let blank = ticket.blank_required();
        self.tickets.insert(id, ticket);
        self.chats.get_mut(&c).expect("owned chat exists").ticket = Some(id);
        if blank.is_empty() {
            self.finish_ticket(id, a, now, out);
        }
        Ok(Reply::Ticket(Box::new(self.tickets[&id].clone())))
    }

    /// The draft ticket `t` if `a` may edit it: its creator, or the chat's owner now.
    fn editable(&self, a: &AgentId, t: TicketId) -> Result<&Ticket, DeskError> {
        let ticket = self.tickets.get(&t).ok_or(DeskError::UnknownTicket(t))?;
        // A chat dropped once it ended (`forget_ended_chats`) is `chat_ended`: its
        // transcript, which the ticket would take in, is gone.
        let chat = self.chat_ref(ticket.chat)?;
        if &ticket.agent != a && !chat.owned_by(a) {
            // R3, R5: an agent who may not see the chat learns nothing of it.
            self.visible_to(a, chat)?;
            return Err(DeskError::NotOwner {
                chat: ticket.chat,
                agent: a.clone(),
            });
        }
        if ticket.status != TicketStatus::Draft {
            return Err(DeskError::NotDraft(t));
        }
        Ok(ticket)
    }

    pub(super) fn fill_ticket(
        &mut self,
        a: &AgentId,
        t: TicketId,
        fields: BTreeMap<String, String>,
    ) -> Result<Reply, DeskError> {
        let ticket = self.editable(a, t)?;
        if let Some(unknown) = fields.keys().find(|k| !ticket.fields.contains_key(*k)) {
            return Err(DeskError::UnknownField(unknown.clone()));
        }
        let ticket = self.tickets.get_mut(&t).expect("editable ticket exists");
        ticket.fields.extend(fields);
        Ok(Reply::Ticket(Box::new(ticket.clone())))
    }

    /// R13: Confirm + Save.
    pub(super) fn confirm_ticket(
        &mut self,
        a: &AgentId,
        t: TicketId,
        now: Time,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        let blank = self.editable(a, t)?.blank_required();
        if !blank.is_empty() {
            return Err(DeskError::RequiredFieldsBlank(blank));
        }
        self.finish_ticket(t, a, now, out);
        Ok(Reply::Ticket(Box::new(self.tickets[&t].clone())))
    }

    /// Creates the ticket: the transcript as it stands goes into the description, and
    /// articles shared so far into the activity log (R11). The user is told, and so is
    /// the chat's owner when someone else (the draft's creator, who transferred the
    /// chat since) confirmed it: the ticket is in the owner's Resources now.
    fn finish_ticket(&mut self, t: TicketId, by: &AgentId, now: Time, out: &mut Vec<Delivery>) {
        let c = self.tickets[&t].chat;
        let chat = &self.chats[&c];
        // Each share at the time it was made, as the transcript has it (not the time
        // the ticket came to be).
        let activity: Vec<Activity> = chat
            .transcript
            .iter()
            .filter_map(|e| match &e.body {
                EntryBody::Article { article, link, .. } => Some(Activity {
                    at: e.at,
                    text: shared_line(article, link),
                }),
                _ => None,
            })
            .collect();
        let description: Arc<str> =
            format!("Chat transcript:\n{}", render_transcript(&chat.transcript)).into();
        let user = chat.user;
        let owner = chat.state.owner().filter(|o| *o != by).cloned();
        let ticket = self.tickets.get_mut(&t).expect("finished ticket exists");
        ticket.status = TicketStatus::Created;
        ticket.created_at = Some(now);
        ticket.description = description;
        ticket.activity.extend(activity);
        let view = Box::new(ticket.clone());
        if let Some(owner) = owner {
            out.push(Delivery {
                to: Recipient::Agent(owner),
                notice: Notice::TicketCreated {
                    chat: c,
                    ticket: view.clone(),
                },
            });
        }
        out.push(Delivery {
            to: Recipient::User(user),
            notice: Notice::TicketCreated {
                chat: c,
                ticket: view,
            },
        });
    }
}

/// The activity-log line for a shared article (R11).
pub(super) fn shared_line(article: &crate::domain::ids::ArticleId, link: &str) -> String {
    format!("Shared knowledge article {article}: {link}")
}
