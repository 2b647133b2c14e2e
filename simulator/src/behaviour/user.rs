//! A virtual user: asks for a chat at its arrival time, waits (abandoning when patience
//! runs out), then talks — a message, the agent's answer, think, the next — and ends
//! the conversation after its last message unless agents drive the chat length.
//!
//! Faults (`[faults]`): a user may close the instant an agent joins (the worst moment
//! to give up) or the instant an agent's message arrives (racing a transfer).

use super::{Effects, Input, Participant, Tag, Timer, count_error};
use crate::dist::{CountDist, DurationDist};
use crate::metrics::{ChatOutcome, MetricName, Recorder};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::Duration;
use switchboard_server::domain::{
    ChatId, ChatSource, ChatState, Command, EntryBody, LeftReason, Notice, QueueId, Reply,
};

/// What users of one stream do; shared by all of them.
#[derive(Clone, Debug)]
pub struct UserPlan {
    /// The queue they ask.
    pub queue: QueueId,
    /// The subject they type.
    pub subjects: Vec<String>,
    /// Self-service or chatbot.
    pub source: ChatSource,
    /// Their customer record, if any.
    pub customer: Option<String>,
    /// How long they wait before abandoning; `None`: forever.
    pub patience: Option<DurationDist>,
    /// How many messages they send.
    pub messages: CountDist,
    /// Time between an answer and their next message.
    pub think_time: DurationDist,
    /// Whether the user ends the conversation after the last message (false when the
    /// agents' handle time decides the length).
    pub closes: bool,
    /// Fault injection: chance of closing the instant an agent joins.
    pub abandon_on_join: f64,
    /// Fault injection: chance per agent message of closing at once (racing the
    /// agent's transfer).
    pub close_on_reply: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not started yet.
    Idle,
    /// Asked; waiting for the start reply or an agent.
    Waiting,
    /// An agent is in the chat.
    Talking,
    /// Between agents after a transfer or an agent loss.
    Between,
    /// Ended (closed, abandoned or refused).
    Ended,
}

const START: Tag = 1;
const CLOSE: Tag = 2;
const MESSAGE: Tag = 3;

/// One virtual user.
pub struct UserBot {
    plan: Arc<UserPlan>,
    rng: ChaCha8Rng,
    /// When the schedule said this user arrives (the start of `accept_wait`).
    intended: Duration,
    phase: Phase,
    chat: Option<ChatId>,
    messages_left: u32,
    /// Bumped whenever the flow changes, to drop stale timers.
    generation: u32,
    first_joined: Option<Duration>,
    left_at: Option<Duration>,
    abandoning: bool,
    /// Patience ran out before the start reply came.
    patience_due: bool,
    /// The connection died.
    disconnected: bool,
    /// When it died.
    disconnected_at: Option<Duration>,
}

impl UserBot {
    /// A user of `plan` scheduled to arrive at `intended` (scenario time).
    pub fn new(plan: Arc<UserPlan>, intended: Duration, rng: ChaCha8Rng) -> Self {
        UserBot {
            plan,
            rng,
            intended,
            phase: Phase::Idle,
            chat: None,
            messages_left: 0,
            generation: 0,
            first_joined: None,
            left_at: None,
            abandoning: false,
            patience_due: false,
            disconnected: false,
            disconnected_at: None,
        }
    }

    /// The intended arrival time.
    pub fn intended(&self) -> Duration {
        self.intended
    }

    /// The user's chat, once started.
    pub fn chat(&self) -> Option<ChatId> {
        self.chat
    }

    /// Whether the user is done.
    pub fn ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    fn next_message(&mut self, fx: &mut Effects) {
        if self.messages_left > 0 {
            let think = self.plan.think_time.sample(&mut self.rng);
            fx.timers.push((think, Timer::UserMessage(self.generation)));
        } else if self.plan.closes {
            let think = self.plan.think_time.sample(&mut self.rng);
            fx.timers.push((think, Timer::UserClose(self.generation)));
        }
    }

    /// Counts what became of the user's chat request, for its queue too.
    fn count(&self, rec: &mut Recorder, outcome: ChatOutcome) {
        rec.count_chat(self.plan.queue.as_str(), outcome);
    }

    fn end(&mut self, now: Duration, state: &ChatState, rec: &mut Recorder) {
        if self.phase == Phase::Ended {
            return;
        }
        match (state, self.first_joined) {
            (ChatState::Closed { .. }, Some(joined)) => {
                rec.counters.chats.closed += 1;
                rec.record(MetricName::HandleTime, now.saturating_sub(joined));
            }
            (_, Some(joined)) => {
                // Ended by a disconnect after an agent had it: counts as closed work.
                rec.counters.chats.closed += 1;
                rec.record(MetricName::HandleTime, now.saturating_sub(joined));
            }
            (_, None) => self.count(rec, ChatOutcome::Abandoned),
        }
        self.phase = Phase::Ended;
        self.generation += 1;
    }
}

impl Participant for UserBot {
    fn on(&mut self, now: Duration, input: Input<'_>, fx: &mut Effects, rec: &mut Recorder) {
        match input {
            Input::Start => {
                let i = if self.plan.subjects.is_empty() {
                    0
                } else {
                    rand::Rng::random_range(&mut self.rng, 0..self.plan.subjects.len())
                };
                let subject = self
                    .plan
                    .subjects
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "I need help".into());
                fx.send.push((
                    START,
                    Command::StartChat {
                        queue: self.plan.queue.clone(),
                        subject,
                        source: self.plan.source,
                        customer: self.plan.customer.clone(),
                    },
                ));
                self.count(rec, ChatOutcome::Offered);
                self.phase = Phase::Waiting;
                self.messages_left = self.plan.messages.sample(&mut self.rng);
                if let Some(p) = &self.plan.patience {
                    // Patience counts from the intended arrival: a late start eats into it.
                    let deadline = self.intended + p.sample(&mut self.rng);
                    fx.timers.push((
                        deadline.saturating_sub(now),
                        Timer::Patience(self.generation),
                    ));
                }
            }
            Input::Reply(START, Reply::ChatStarted { chat, .. }) => {
                self.chat = Some(*chat);
                // Patience ran out before the server even answered (a late start, or
                // a slow server): abandon now rather than never.
                if self.patience_due && self.first_joined.is_none() {
                    self.abandoning = true;
                    fx.send.push((CLOSE, Command::Close { chat: *chat }));
                }
            }
            Input::Reply(CLOSE, _) => {
                let state = if self.abandoning {
                    ChatState::Abandoned
                } else {
                    ChatState::Closed {
                        by: switchboard_server::domain::Party::User,
                    }
                };
                self.end(now, &state, rec);
            }
            Input::Reply(MESSAGE, _) => rec.counters.messages.sent += 1,
            Input::Reply(..) => {}
            Input::Error(tag, code) => {
                count_error(rec, code);
                match (tag, code) {
                    // The chat ended under us (agent closed first): the notice tells how.
                    (CLOSE | MESSAGE, "chat_ended") => {}
                    (START, _) => {
                        self.phase = Phase::Ended;
                        self.count(rec, ChatOutcome::Lost);
                    }
                    _ => {}
                }
            }
            Input::Timer(Timer::Patience(g)) if g == self.generation => {
                if matches!(self.phase, Phase::Waiting) && self.first_joined.is_none() {
                    match self.chat {
                        Some(chat) => {
                            self.abandoning = true;
                            fx.send.push((CLOSE, Command::Close { chat }));
                        }
                        None => self.patience_due = true,
                    }
                }
            }
            Input::Timer(Timer::UserMessage(g)) if g == self.generation => {
                if let (Phase::Talking, Some(chat)) = (self.phase, self.chat) {
                    self.messages_left = self.messages_left.saturating_sub(1);
                    let text = format!("question {} from the user", self.messages_left + 1);
                    fx.send.push((MESSAGE, Command::Send { chat, text }));
                }
            }
            Input::Timer(Timer::UserClose(g)) if g == self.generation => {
                if let (Phase::Talking, Some(chat)) = (self.phase, self.chat) {
                    fx.send.push((CLOSE, Command::Close { chat }));
                }
            }
            Input::Disconnected => {
                self.disconnected = true;
                self.disconnected_at.get_or_insert(now);
            }
            Input::Timer(_) => {}
            Input::Notice(n) => match n {
                Notice::AgentJoined { chat, .. } if Some(*chat) == self.chat => {
                    if self.phase == Phase::Ended {
                        return;
                    }
                    let first = self.first_joined.is_none();
                    if first {
                        self.first_joined = Some(now);
                        self.count(rec, ChatOutcome::Accepted);
                        rec.record_accept_wait(
                            self.plan.queue.as_str(),
                            now.saturating_sub(self.intended),
                        );
                    }
                    if let Some(left) = self.left_at.take() {
                        rec.record(MetricName::TransferWait, now.saturating_sub(left));
                    }
                    self.phase = Phase::Talking;
                    self.generation += 1;
                    // Once per user: at the first agent's join, not again at the next
                    // one's after a transfer or a lost agent.
                    if first && super::chance(&mut self.rng, self.plan.abandon_on_join) {
                        fx.send.push((CLOSE, Command::Close { chat: *chat }));
                        return;
                    }
                    self.next_message(fx);
                }
                Notice::AgentLeft { chat, reason, .. }
                    if Some(*chat) == self.chat && self.phase == Phase::Talking =>
                {
                    self.phase = Phase::Between;
                    // `transfer_wait` is transferred → next agent joined; a chat back in
                    // the queue because its agent's connection was lost is not a transfer.
                    self.left_at = (*reason == LeftReason::Transferred).then_some(now);
                    self.generation += 1;
                }
                Notice::Message { chat, entry } if Some(*chat) == self.chat => {
                    // Conversation messages only: a shared article is counted as such.
                    if matches!(entry.body, EntryBody::Text { .. }) {
                        rec.counters.messages.received += 1;
                    }
                    if self.phase == Phase::Talking
                        && matches!(entry.from, switchboard_server::domain::Party::Agent(_))
                        && super::chance(&mut self.rng, self.plan.close_on_reply)
                    {
                        self.generation += 1;
                        fx.send.push((CLOSE, Command::Close { chat: *chat }));
                        return;
                    }
                    if self.phase == Phase::Talking {
                        self.generation += 1;
                        self.next_message(fx);
                    }
                }
                Notice::ChatEnded { chat, state } if Some(*chat) == self.chat => {
                    self.end(now, state, rec);
                }
                _ => {}
            },
        }
    }

    fn queue(&self) -> Option<&str> {
        Some(self.plan.queue.as_str())
    }

    fn finish(&mut self, now: Duration, rec: &mut Recorder) {
        match (self.phase, self.first_joined, self.disconnected_at) {
            // Its connection died while it waited: the server dropped the chat (or
            // never saw it); it is not still waiting.
            (Phase::Waiting, None, Some(_)) => self.count(rec, ChatOutcome::Lost),
            (Phase::Waiting, None, None) => {
                self.count(rec, ChatOutcome::QueuedAtEnd);
                rec.waiting_at_end(now.saturating_sub(self.intended));
            }
            // Its connection died after an agent had joined: the server ended the chat
            // then (its notice could not arrive), as it does when a user disconnects.
            // Closed work, as in `end` (the connection errors are counted too).
            (Phase::Talking | Phase::Between, Some(joined), Some(at)) => {
                rec.counters.chats.closed += 1;
                rec.record(MetricName::HandleTime, at.saturating_sub(joined));
            }
            // Still talking (or between two agents) when the run ended.
            (Phase::Talking | Phase::Between, Some(_), None) => {
                rec.counters.chats.active_at_end += 1;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn user() -> UserBot {
        let plan = Arc::new(UserPlan {
            queue: "q".into(),
            subjects: vec!["help".into()],
            source: ChatSource::SelfService,
            customer: None,
            patience: None,
            messages: CountDist::constant(5),
            think_time: DurationDist::constant(Duration::from_secs(10)),
            closes: true,
            abandon_on_join: 0.0,
            close_on_reply: 0.0,
        });
        UserBot::new(plan, Duration::ZERO, ChaCha8Rng::seed_from_u64(1))
    }

    fn at(bot: &mut UserBot, secs: u64, input: Input<'_>, rec: &mut Recorder) {
        bot.on(
            Duration::from_secs(secs),
            input,
            &mut Effects::default(),
            rec,
        );
    }

    /// A user still talking when the run ends is neither closed nor waiting: the run
    /// cut the conversation off, and its length is not known.
    #[test]
    fn a_conversation_the_run_cut_off_is_still_talking() {
        let mut rec = Recorder::new(Duration::from_secs(60));
        let mut talking = user();
        at(&mut talking, 0, Input::Start, &mut rec);
        let started = Reply::ChatStarted {
            chat: ChatId(1),
            queue: "q".into(),
            position: 0,
            assigned: false,
        };
        at(&mut talking, 0, Input::Reply(START, &started), &mut rec);
        let joined = Notice::AgentJoined {
            chat: ChatId(1),
            agent: "a".into(),
            name: "a".into(),
        };
        at(&mut talking, 5, Input::Notice(&joined), &mut rec);
        talking.finish(Duration::from_secs(40), &mut rec);
        let c = &rec.counters.chats;
        assert_eq!(
            (c.accepted, c.closed, c.active_at_end, c.queued_at_end),
            (1, 0, 1, 0)
        );
        assert_eq!(rec.count(MetricName::HandleTime), 0);
    }

    /// A user whose connection dies while talking is closed work up to that moment (the
    /// server ended the chat then); one whose connection dies while waiting is lost.
    #[test]
    fn a_dead_connection_ends_the_chat_it_carried() {
        let started = |chat| Reply::ChatStarted {
            chat,
            queue: "q".into(),
            position: 0,
            assigned: false,
        };
        let joined = Notice::AgentJoined {
            chat: ChatId(1),
            agent: "a".into(),
            name: "a".into(),
        };
        let mut rec = Recorder::new(Duration::from_secs(60));
        let mut talking = user();
        at(&mut talking, 0, Input::Start, &mut rec);
        at(
            &mut talking,
            0,
            Input::Reply(START, &started(ChatId(1))),
            &mut rec,
        );
        at(&mut talking, 5, Input::Notice(&joined), &mut rec);
        at(&mut talking, 30, Input::Disconnected, &mut rec);
        talking.finish(Duration::from_secs(40), &mut rec);
        let mut waiting = user();
        at(&mut waiting, 0, Input::Start, &mut rec);
        at(
            &mut waiting,
            0,
            Input::Reply(START, &started(ChatId(2))),
            &mut rec,
        );
        at(&mut waiting, 30, Input::Disconnected, &mut rec);
        waiting.finish(Duration::from_secs(40), &mut rec);
        let c = &rec.counters.chats;
        assert_eq!(
            (c.accepted, c.closed, c.lost, c.queued_at_end),
            (1, 1, 1, 0)
        );
        assert_eq!(
            rec.exact(MetricName::HandleTime).max,
            Some(crate::metrics::recorder::micros(Duration::from_secs(25)))
        );
    }

    /// `transfer_wait` runs from a transfer to the next agent joining; a chat back in
    /// the queue because its agent's connection was lost adds no sample.
    #[test]
    fn only_transfers_count_as_transfer_waits() {
        let mut bot = user();
        let mut rec = Recorder::new(Duration::from_secs(60));
        let chat = ChatId(1);
        let joined = |agent: &str| Notice::AgentJoined {
            chat,
            agent: agent.into(),
            name: agent.into(),
        };
        let left = |reason| Notice::AgentLeft {
            chat,
            agent: "a".into(),
            reason,
        };
        at(&mut bot, 0, Input::Start, &mut rec);
        let started = Reply::ChatStarted {
            chat,
            queue: "q".into(),
            position: 0,
            assigned: false,
        };
        at(&mut bot, 0, Input::Reply(START, &started), &mut rec);
        at(&mut bot, 5, Input::Notice(&joined("a")), &mut rec);
        at(
            &mut bot,
            20,
            Input::Notice(&left(LeftReason::AgentGone)),
            &mut rec,
        );
        at(&mut bot, 50, Input::Notice(&joined("b")), &mut rec);
        assert_eq!(rec.count(MetricName::TransferWait), 0);
        at(
            &mut bot,
            60,
            Input::Notice(&left(LeftReason::Transferred)),
            &mut rec,
        );
        at(&mut bot, 67, Input::Notice(&joined("c")), &mut rec);
        assert_eq!(rec.count(MetricName::TransferWait), 1);
        assert_eq!(
            rec.exact(MetricName::TransferWait).max,
            Some(crate::metrics::recorder::micros(Duration::from_secs(7)))
        );
    }
    /// `abandon_on_join` is drawn once per user, at the first agent's join: a chat
    /// that goes on (the close raced a transfer) is not given up again at the next.
    #[test]
    fn a_user_gives_up_on_joining_once_at_most() {
        let mut rec = Recorder::new(Duration::from_secs(60));
        let mut bot = user();
        let mut plan = (*bot.plan).clone();
        plan.abandon_on_join = 1.0;
        bot.plan = Arc::new(plan);
        at(&mut bot, 0, Input::Start, &mut rec);
        let started = Reply::ChatStarted {
            chat: ChatId(1),
            queue: "q".into(),
            position: 0,
            assigned: false,
        };
        at(&mut bot, 0, Input::Reply(START, &started), &mut rec);
        let joined = |agent: &str| Notice::AgentJoined {
            chat: ChatId(1),
            agent: agent.into(),
            name: agent.into(),
        };
        let closes = |bot: &mut UserBot, notice: &Notice, rec: &mut Recorder| {
            let mut fx = Effects::default();
            bot.on(Duration::from_secs(5), Input::Notice(notice), &mut fx, rec);
            fx.send
                .iter()
                .any(|(_, c)| matches!(c, Command::Close { .. }))
        };
        assert!(closes(&mut bot, &joined("a"), &mut rec));
        let left = Notice::AgentLeft {
            chat: ChatId(1),
            agent: "a".into(),
            reason: LeftReason::Transferred,
        };
        at(&mut bot, 6, Input::Notice(&left), &mut rec);
        assert!(!closes(&mut bot, &joined("b"), &mut rec));
    }
}
