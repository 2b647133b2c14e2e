//! What an agent does with what the server sends it: the replies to its commands,
//! the errors, and the notices (chats assigned, user messages, ends, queue counts,
//! transfers offered).

use super::AgentBot;
use super::tags::{
    ACCEPT, ACCEPT_TRANSFER, AVAILABILITY, CLOSE, CONFIRM, FILL, LIST_QUEUE, LIST_TRANSFERRED,
    OFFERS_AFTER_DROP, PIN, SEARCH, SEND, SHARE, SIGN_IN, TICKET, TRANSFER, tag, untag,
};
use super::work::Found;
use crate::behaviour::{Effects, Tag, Timer, count_error};
use crate::metrics::Recorder;
use rand::Rng;
use std::time::Duration;
use switchboard_server::domain::{
    Availability, ChatId, ChatState, Command, Notice, QueueId, Reply, TicketKind, TicketStatus,
    TransferTarget,
};

impl AgentBot {
    pub(super) fn on_reply(
        &mut self,
        now: Duration,
        t: Tag,
        reply: &Reply,
        fx: &mut Effects,
        rec: &mut Recorder,
    ) {
        match t {
            SIGN_IN => {
                let resumed = self.signed_in_at.is_some();
                if !resumed {
                    self.signed_in_at = Some(now);
                }
                // Signed in: the agent offers its capacity again, and the chats it
                // kept through an outage occupy it again from now.
                self.count_slots(now);
                self.declared = self.capacity();
                for h in self.held.values_mut() {
                    h.busy_since.get_or_insert(now);
                }
                if let (true, Reply::Status(s)) = (resumed, reply) {
                    self.reconcile(now, &s.my_chats, fx);
                    // A transfer offered just before the drop was forgotten with it, and
                    // one offered during the outage never arrived: Transferred holds
                    // both (R5).
                    fx.send.push((OFFERS_AFTER_DROP, Command::ListTransferred));
                }
                let availability = if self.plan.auto_accept {
                    // A puller under auto-accept takes nothing from the router.
                    Availability::AvailableFor(if self.plan.pulls {
                        0
                    } else {
                        self.plan.available_for
                    })
                } else {
                    Availability::Available
                };
                fx.send
                    .push((AVAILABILITY, Command::SetAvailability { availability }));
                self.resumed(fx);
                if let Reply::Status(s) = reply {
                    // The sign-in status says how much already waits.
                    if s.queue_count + s.transferred_count > 0 {
                        self.counts
                            .insert(QueueId::from("*"), (s.queue_count, s.transferred_count));
                    }
                }
                self.maybe_pull(fx);
            }
            AVAILABILITY => {}
            OFFERS_AFTER_DROP => {
                let Reply::Chats { chats } = reply else {
                    return;
                };
                for summary in chats {
                    if let ChatState::Transferred {
                        to: TransferTarget::Agent(to),
                        ..
                    } = &summary.state
                        && *to == self.id
                        && !self.offered.contains(&summary.chat)
                        && !self.accepting.contains(&summary.chat)
                    {
                        self.offer(summary.chat, fx);
                    }
                }
            }
            LIST_TRANSFERRED | LIST_QUEUE => {
                let Reply::Chats { chats } = reply else {
                    return;
                };
                let candidates: Vec<ChatId> = chats
                    .iter()
                    .map(|c| c.chat)
                    .filter(|c| !self.accepting.contains(c) && !self.held.contains_key(c))
                    .take(3)
                    .collect();
                if candidates.is_empty() {
                    if t == LIST_TRANSFERRED {
                        fx.send.push((LIST_QUEUE, Command::ListQueue));
                    } else {
                        self.counts.clear();
                    }
                    return;
                }
                // People do not all click the oldest: pick among the first few (in a
                // burst everyone goes for the oldest).
                let c = if self.plan.faults.accept_burst {
                    candidates[0]
                } else {
                    candidates[self.rng.random_range(0..candidates.len())]
                };
                self.accepting.insert(c);
                if t == LIST_TRANSFERRED {
                    fx.send
                        .push((tag(ACCEPT_TRANSFER, c), Command::AcceptTransfer { chat: c }));
                } else {
                    fx.send.push((tag(ACCEPT, c), Command::Accept { chat: c }));
                }
            }
            _ => {
                let (kind, c) = untag(t);
                match (kind, reply) {
                    (ACCEPT | ACCEPT_TRANSFER, Reply::Accepted(view)) => {
                        self.take(now, view, fx);
                        self.maybe_pull(fx);
                    }
                    (SEND, _) => {
                        rec.counters.messages.sent += 1;
                        if self.plan.handle_time.is_none() {
                            self.work(c, fx);
                        }
                        self.race_transfer(c, fx);
                    }
                    (CLOSE, _) => {
                        self.release(now, c);
                        self.maybe_pull(fx);
                    }
                    (SEARCH, Reply::Articles { articles }) => {
                        let found = Found::Articles(articles.first().map(|a| a.id.clone()));
                        self.searched(c, found, fx);
                    }
                    (SEARCH, Reply::Templates { templates }) => {
                        let found = Found::Templates(templates.first().map(|t| t.id.clone()));
                        self.searched(c, found, fx);
                    }
                    (SHARE, _) => {
                        rec.counters.articles.shared += 1;
                        let pin = self
                            .held
                            .get_mut(&c)
                            .filter(|h| !h.closing)
                            .and_then(|h| h.pinning.take());
                        match pin {
                            Some(article) => fx
                                .send
                                .push((tag(PIN, c), Command::PinArticle { chat: c, article })),
                            None => self.step_done(c, fx),
                        }
                    }
                    (PIN, _) => {
                        rec.counters.articles.pinned += 1;
                        self.step_done(c, fx);
                    }
                    (TICKET | FILL | CONFIRM, Reply::Ticket(ticket)) => match ticket.status {
                        TicketStatus::Created => {
                            match ticket.kind {
                                TicketKind::Incident => rec.counters.tickets.incidents += 1,
                                TicketKind::WorkOrder => rec.counters.tickets.work_orders += 1,
                            }
                            if ticket.template.is_some() {
                                rec.counters.tickets.from_template += 1;
                            }
                            if kind == CONFIRM {
                                rec.counters.tickets.drafts_confirmed += 1;
                            }
                            self.step_done(c, fx);
                        }
                        // A chat being closed gets no more work: the draft stays one.
                        TicketStatus::Draft if self.held.get(&c).is_none_or(|h| h.closing) => {}
                        TicketStatus::Draft if kind == TICKET => {
                            // Edit mode: fill every blank required field, then confirm.
                            let fields = ticket
                                .blank_required()
                                .into_iter()
                                .map(|f| (f, "filled in by the agent".to_string()))
                                .collect();
                            fx.send.push((
                                tag(FILL, c),
                                Command::FillTicket {
                                    ticket: ticket.id,
                                    fields,
                                },
                            ));
                        }
                        TicketStatus::Draft => {
                            fx.send.push((
                                tag(CONFIRM, c),
                                Command::ConfirmTicket { ticket: ticket.id },
                            ));
                        }
                    },
                    (TRANSFER, _) => {
                        rec.counters.chats.transferred += 1;
                        self.release(now, c);
                        self.maybe_pull(fx);
                    }
                    _ => {}
                }
            }
        }
    }

    pub(super) fn on_error(
        &mut self,
        now: Duration,
        t: Tag,
        code: &str,
        fx: &mut Effects,
        rec: &mut Recorder,
    ) {
        count_error(rec, code);
        let (kind, c) = untag(t);
        match kind {
            // Refused (rate limited, …): it acts on what it holds all the same.
            SIGN_IN => self.resumed(fx),
            OFFERS_AFTER_DROP => {
                let d = self.plan.accept_delay.sample(&mut self.rng);
                fx.timers.push((d, Timer::ListOffers));
            }
            ACCEPT_TRANSFER if code == "transfer_limit" => {
                // R6: four from Transferred already. Keep a personal offer (nobody else
                // may take it) for when a chat is freed, and pull from Queue meanwhile.
                self.accepting.remove(&c);
                self.transfers_blocked = true;
                if self.offered.contains(&c) {
                    self.held_back.insert(c);
                }
                self.maybe_pull(fx);
            }
            ACCEPT | ACCEPT_TRANSFER => {
                // Lost the race (R8) or the chat went away: look again.
                self.accepting.remove(&c);
                self.offered.remove(&c);
                self.maybe_pull(fx);
            }
            LIST_QUEUE | LIST_TRANSFERRED => {
                // Refused (rate limited, …): look again after the reaction delay.
                self.maybe_pull(fx);
            }
            SEARCH => {
                // Refused (rate limited, …): as if no term found anything.
                if let Some(what) = self.held.get_mut(&c).and_then(|h| h.searching.take()) {
                    self.found_nothing(c, what.0, fx);
                }
            }
            SHARE | PIN | TICKET | FILL | CONFIRM | TRANSFER
                if code != "chat_ended" && code != "not_owner" =>
            {
                self.step_done(c, fx);
            }
            _ if code == "chat_ended" || code == "not_owner" => self.release(now, c),
            // Any other refusal of an answer or a close (rate limited, …): try again
            // rather than leave the user waiting or the slot taken for ever.
            SEND => {
                if let Some(h) = self.held.get_mut(&c) {
                    h.owes_reply = true;
                    let d = self.plan.reply_delay.sample(&mut h.rng);
                    fx.timers.push((d, Timer::AgentReply(c, h.holding)));
                }
            }
            CLOSE => {
                if let Some(h) = self.held.get_mut(&c) {
                    let d = self.plan.reply_delay.sample(&mut h.rng);
                    fx.timers.push((d, Timer::AgentClose(c, h.holding)));
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_notice(
        &mut self,
        now: Duration,
        n: &Notice,
        fx: &mut Effects,
        rec: &mut Recorder,
    ) {
        match n {
            Notice::Assigned(view) => {
                self.take(now, view, fx);
            }
            Notice::Message { chat, entry }
                if entry.from == switchboard_server::domain::Party::User =>
            {
                if self.held.contains_key(chat)
                    && matches!(
                        entry.body,
                        switchboard_server::domain::EntryBody::Text { .. }
                    )
                {
                    rec.counters.messages.received += 1;
                }
                if let Some(h) = self.held.get_mut(chat)
                    && !h.owes_reply
                    && !h.closing
                {
                    h.owes_reply = true;
                    let d = self.plan.reply_delay.sample(&mut h.rng);
                    fx.timers.push((d, Timer::AgentReply(*chat, h.holding)));
                }
            }
            Notice::ChatEnded { chat, .. } => {
                self.release(now, *chat);
                self.offered.remove(chat);
                self.maybe_pull(fx);
            }
            Notice::QueueChanged {
                queue,
                queued,
                transferred,
            } => {
                self.counts.remove(&QueueId::from("*"));
                self.counts.insert(queue.clone(), (*queued, *transferred));
                self.maybe_pull(fx);
            }
            Notice::TransferOffered { chat, .. } => self.offer(*chat, fx),
            Notice::TransferWithdrawn { chat, .. } => {
                self.offered.remove(chat);
            }
            _ => {}
        }
    }

    /// A transfer addressed to the agent: it accepts after its reaction delay (R5).
    fn offer(&mut self, c: ChatId, fx: &mut Effects) {
        self.offered.insert(c);
        let d = self.plan.accept_delay.sample(&mut self.rng);
        fx.timers.push((d, Timer::TakeTransfer(c)));
    }

    /// The sign-in after a drop was answered: what came due meanwhile fires now, acting
    /// on a chat still held in the same holding and void for one taken back.
    fn resumed(&mut self, fx: &mut Effects) {
        self.resuming = false;
        for t in std::mem::take(&mut self.deferred) {
            fx.timers.push((Duration::ZERO, t));
        }
    }
}
