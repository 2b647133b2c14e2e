//! The agent's behaviour, input by input.

use super::tags::{OFFERS_AFTER_DROP, SEARCH};
use super::*;
use crate::dist::DurationDist;
use rand::SeedableRng;
use switchboard_server::domain::outcome::ArticleSummary;
use switchboard_server::domain::{
    AgentStatus, ArticleId, ChatSource, ChatState, ChatSummary, Notice, Reply, Resources, Time,
    TransferNote, TransferTarget, UserId,
};

fn plan(faults: AgentFaults) -> Arc<AgentPlan> {
    let zero = DurationDist::constant(Duration::ZERO);
    Arc::new(AgentPlan {
        auto_accept: true,
        pulls: false,
        available_for: 2,
        accept_delay: zero,
        reply_delay: DurationDist::constant(Duration::from_secs(1)),
        handle_time: None,
        transfer: None,
        ticket_probability: 0.0,
        work_order_share: 0.0,
        template_probability: 0.0,
        share_probability: 0.0,
        pin_probability: 0.0,
        faults,
        seed: 1,
    })
}

fn view(chat: u64) -> AcceptedChat {
    AcceptedChat {
        chat: ChatId(chat),
        queue: "q".into(),
        subject: "help".into(),
        source: ChatSource::SelfService,
        user: UserId(chat),
        origin: Origin::Auto,
        requested_at: Time(0),
        history: Vec::new(),
        notes: Vec::new(),
        customer: None,
        resources: Resources::default(),
    }
}

fn status(my_chats: Vec<ChatId>) -> Reply {
    Reply::Status(AgentStatus {
        agent: "a-1".into(),
        name: "a-1".into(),
        queues: vec!["q".into()],
        availability: Availability::AvailableFor(2),
        auto_accept: true,
        my_chats,
        queue_count: 0,
        transferred_count: 0,
    })
}

/// Agent `a-1` following `plan`, its generator seeded with `seed`.
fn bot(plan: Arc<AgentPlan>, seed: u64) -> AgentBot {
    AgentBot::new("a-1".into(), plan, ChaCha8Rng::seed_from_u64(seed))
}

/// A bot without faults that was just given chat 1.
fn holding_chat_1() -> AgentBot {
    let mut bot = bot(plan(AgentFaults::none()), 1);
    step(
        &mut bot,
        Input::Notice(&Notice::Assigned(Box::new(view(1)))),
    );
    bot
}

/// The one command `fx` sends (it fails the test if there are none or several).
fn only_command(fx: &Effects) -> &Command {
    match fx.send.as_slice() {
        [(_, command)] => command,
        other => panic!("not one command sent: {other:?}"),
    }
}

/// Whether `fx` sets `timer`.
fn sets(fx: &Effects, timer: &Timer) -> bool {
    fx.timers.iter().any(|(_, t)| t == timer)
}

fn step(bot: &mut AgentBot, input: Input<'_>) -> Effects {
    let mut fx = Effects::default();
    let mut rec = Recorder::new(Duration::from_secs(60));
    bot.on(Duration::from_secs(1), input, &mut fx, &mut rec);
    fx
}

fn dropping(within: f64) -> AgentBot {
    let faults = AgentFaults {
        drop_probability: 1.0,
        drop_after: DurationDist::constant(Duration::from_secs(3)),
        reconnect_within_grace: within,
        reconnect_delay: DurationDist::constant(Duration::from_secs(4)),
        grace: Duration::from_secs(20),
        ..AgentFaults::none()
    };
    bot(plan(faults), 1)
}

/// Takes chat 7 and lets its drop timer fire; returns the asked fault.
fn take_and_drop(bot: &mut AgentBot) -> Option<Fault> {
    step(bot, Input::Start);
    step(bot, Input::Reply(SIGN_IN, &status(Vec::new())));
    let fx = step(bot, Input::Notice(&Notice::Assigned(Box::new(view(7)))));
    assert!(
        fx.timers
            .contains(&(Duration::from_secs(3), Timer::FaultDrop(ChatId(7), 1))),
        "{:?}",
        fx.timers
    );
    step(bot, Input::Timer(Timer::FaultDrop(ChatId(7), 1))).fault
}

/// A signed-in agent that closes each chat a minute after taking it.
fn closing_after_a_minute() -> AgentBot {
    let mut p = (*plan(AgentFaults::none())).clone();
    p.handle_time = Some(DurationDist::constant(Duration::from_secs(60)));
    let mut bot = bot(Arc::new(p), 1);
    step(&mut bot, Input::Start);
    step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
    bot
}

/// An agent that closes a chat says nothing more in it: an answer it still owed
/// would only be refused (`chat_ended`) and counted as an error.
#[test]
fn a_chat_being_closed_gets_no_more_answers() {
    let mut bot = closing_after_a_minute();
    step(
        &mut bot,
        Input::Notice(&Notice::Assigned(Box::new(view(7)))),
    );
    let chat = ChatId(7);
    let message = |seq| Notice::Message {
        chat,
        entry: switchboard_server::domain::Entry {
            seq,
            at: Time(seq),
            from: switchboard_server::domain::Party::User,
            body: switchboard_server::domain::EntryBody::Text {
                text: "still there?".into(),
            },
        },
    };
    let fx = step(&mut bot, Input::Notice(&message(1)));
    assert!(
        fx.timers
            .contains(&(Duration::from_secs(1), Timer::AgentReply(chat, 1)))
    );
    let fx = step(&mut bot, Input::Timer(Timer::AgentClose(chat, 1)));
    assert!(
        matches!(only_command(&fx), Command::Close { .. }),
        "{:?}",
        fx.send
    );
    // The answer it owed, and a message that crossed the close: nothing.
    let fx = step(&mut bot, Input::Timer(Timer::AgentReply(chat, 1)));
    assert!(fx.send.is_empty(), "{:?}", fx.send);
    let fx = step(&mut bot, Input::Notice(&message(2)));
    assert!(
        fx.timers.is_empty() && fx.send.is_empty(),
        "{:?}",
        fx.timers
    );
}

/// R11, R13: the agent searches articles and templates by the words of the chat's
/// subject, longest first, until a term finds something; it shares the best match,
/// and when no term finds a template it creates the ticket without one.
#[test]
fn planned_work_searches_by_the_subjects_words() {
    let mut p = (*plan(AgentFaults::none())).clone();
    (
        p.share_probability,
        p.ticket_probability,
        p.template_probability,
    ) = (1.0, 1.0, 1.0);
    let mut bot = bot(Arc::new(p), 1);
    step(&mut bot, Input::Start);
    step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
    let chat = ChatId(7);
    let v = AcceptedChat {
        subject: "My VPN token expired".into(),
        ..view(7)
    };
    step(&mut bot, Input::Notice(&Notice::Assigned(Box::new(v))));
    // Work starts once the agent has answered.
    step(&mut bot, Input::Timer(Timer::AgentReply(chat, 1)));
    let sent = Reply::Sent { chat, seq: 1 };
    let sends = |fx: Effects| -> Vec<Command> { fx.send.into_iter().map(|(_, c)| c).collect() };
    let articles = |ids: &[&str]| Reply::Articles {
        articles: ids
            .iter()
            .map(|id| ArticleSummary {
                id: (*id).into(),
                title: String::new(),
                link: String::new(),
            })
            .collect(),
    };
    let term = |t: &str| Command::SearchArticles { term: t.into() };
    let fx = step(&mut bot, Input::Reply(tag(SEND, chat), &sent));
    assert_eq!(sends(fx), [term("expired")]);
    // A template search's answer (a stale one) does not answer an article search.
    let stale = Reply::Templates {
        templates: Vec::new(),
    };
    let fx = step(&mut bot, Input::Reply(tag(SEARCH, chat), &stale));
    assert!(fx.send.is_empty(), "{:?}", fx.send);
    let fx = step(&mut bot, Input::Reply(tag(SEARCH, chat), &articles(&[])));
    assert_eq!(sends(fx), [term("token")]);
    let fx = step(
        &mut bot,
        Input::Reply(tag(SEARCH, chat), &articles(&["KA-0002", "KA-0009"])),
    );
    let article = ArticleId::from("KA-0002");
    assert_eq!(sends(fx), [Command::ShareArticle { chat, article }]);
    // Shared: the ticket's template is searched for the same way.
    let fx = step(&mut bot, Input::Reply(tag(SHARE, chat), &sent));
    assert_eq!(
        sends(fx),
        [Command::SearchTemplates {
            term: "expired".into()
        }]
    );
    let none = Reply::Templates {
        templates: Vec::new(),
    };
    for next in ["token", "vpn"] {
        let fx = step(&mut bot, Input::Reply(tag(SEARCH, chat), &none));
        assert_eq!(sends(fx), [Command::SearchTemplates { term: next.into() }]);
    }
    // "my" is too short to search by: nothing found, no template.
    let fx = step(&mut bot, Input::Reply(tag(SEARCH, chat), &none));
    assert_eq!(
        sends(fx),
        [Command::CreateTicket {
            chat,
            kind: TicketKind::Incident,
            template: None
        }]
    );
}

#[test]
fn search_terms_are_the_subjects_longer_words_longest_first() {
    assert_eq!(
        search_terms("Printer jams on every PAGE, printer"),
        ["printer", "every", "jams", "page"]
    );
    assert!(search_terms("a an to").is_empty());
}

/// A chat taken again (after the Desk took it back, say) gets its own timers: the
/// close planned for the first holding does not end the second early.
#[test]
fn timers_of_an_earlier_holding_are_void() {
    let mut bot = closing_after_a_minute();
    let first = step(
        &mut bot,
        Input::Notice(&Notice::Assigned(Box::new(view(7)))),
    );
    assert!(sets(&first, &Timer::AgentClose(ChatId(7), 1)));
    // The connection drops past the grace period: the Desk took the chat back (the
    // sign-in's status no longer lists it), then routes it to the agent again.
    step(&mut bot, Input::Disconnected);
    step(&mut bot, Input::Start);
    step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
    assert!(!bot.held.contains_key(&ChatId(7)));
    step(
        &mut bot,
        Input::Notice(&Notice::Assigned(Box::new(view(7)))),
    );
    // The first holding's close fires: nothing happens.
    let stale = step(&mut bot, Input::Timer(Timer::AgentClose(ChatId(7), 1)));
    assert!(stale.send.is_empty(), "{:?}", stale.send);
    let due = step(&mut bot, Input::Timer(Timer::AgentClose(ChatId(7), 2)));
    assert!(
        matches!(only_command(&due), Command::Close { chat: ChatId(7) }),
        "{:?}",
        due.send
    );
}

/// A chat transferred to a queue that auto-accept routes arrives as `auto`, but its
/// notes say it was transferred: only the first agent transfers a chat.
#[test]
fn a_routed_queue_transfer_is_not_transferred_again() {
    let mut p = (*plan(AgentFaults::none())).clone();
    p.transfer = Some((1.0, TransferTo::Queue("q".into()), "again".into()));
    let mut bot = bot(Arc::new(p), 1);
    step(&mut bot, Input::Start);
    step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
    step(
        &mut bot,
        Input::Notice(&Notice::Assigned(Box::new(view(7)))),
    );
    let mut routed = view(8);
    routed.notes.push(TransferNote {
        from: "a-2".into(),
        to: TransferTarget::Queue("q".into()),
        notes: "for the queue".into(),
        at: Time(0),
    });
    step(&mut bot, Input::Notice(&Notice::Assigned(Box::new(routed))));
    assert!(bot.held[&ChatId(7)].steps.contains(&Step::Transfer));
    assert!(!bot.held[&ChatId(8)].steps.contains(&Step::Transfer));
}

/// Occupancy counts neither slots nor chat time while the connection is down: a
/// chat held from 0 to 30 s with a 10 s outage is 20 s busy out of 2 × 20 s offered.
#[test]
fn an_outage_offers_no_slots_and_works_no_chat() {
    let mut bot = dropping(1.0);
    let mut rec = Recorder::new(Duration::from_secs(60));
    let mut at = |bot: &mut AgentBot, secs: u64, input: Input<'_>| {
        bot.on(
            Duration::from_secs(secs),
            input,
            &mut Effects::default(),
            &mut rec,
        );
    };
    at(&mut bot, 0, Input::Start);
    at(&mut bot, 0, Input::Reply(SIGN_IN, &status(Vec::new())));
    at(
        &mut bot,
        0,
        Input::Notice(&Notice::Assigned(Box::new(view(7)))),
    );
    at(&mut bot, 10, Input::Disconnected);
    at(&mut bot, 20, Input::Start);
    at(
        &mut bot,
        20,
        Input::Reply(SIGN_IN, &status(vec![ChatId(7)])),
    );
    bot.finish(Duration::from_secs(30), &mut rec);
    let work = &rec.agents()["a-1"];
    assert_eq!(work.chats, 1);
    assert_eq!(work.busy_slot_seconds, 20.0);
    assert_eq!(work.offered_slot_seconds, 40.0);
}

/// An agent who lowers its availability offers fewer slots from then on, but never
/// fewer than the chats it is working.
#[test]
fn lowered_availability_offers_fewer_slots() {
    let faults = AgentFaults {
        flip_every: Some(DurationDist::constant(Duration::from_secs(10))),
        ..AgentFaults::none()
    };
    let mut bot = bot(plan(faults), 3);
    let mut rec = Recorder::new(Duration::from_secs(60));
    let mut at = |bot: &mut AgentBot, secs: u64, input: Input<'_>| {
        let mut fx = Effects::default();
        bot.on(Duration::from_secs(secs), input, &mut fx, &mut rec);
        fx
    };
    at(&mut bot, 0, Input::Start);
    at(&mut bot, 0, Input::Reply(SIGN_IN, &status(Vec::new())));
    at(
        &mut bot,
        0,
        Input::Notice(&Notice::Assigned(Box::new(view(7)))),
    );
    let fx = at(&mut bot, 10, Input::Timer(Timer::FaultFlip));
    let lowered = fx
        .send
        .iter()
        .find_map(|(_, c)| match c {
            Command::SetAvailability {
                availability: Availability::AvailableFor(n),
            } => Some(u64::from(*n)),
            _ => None,
        })
        .expect("a flip lowers the availability");
    bot.finish(Duration::from_secs(30), &mut rec);
    let work = &rec.agents()["a-1"];
    // 2 slots for 10 s, then max(lowered, 1 chat in hand) for 20 s.
    let expected = 2 * 10 + lowered.max(1) * 20;
    assert_eq!(
        work.offered_slot_seconds, expected as f64,
        "lowered to {lowered}"
    );
    assert_eq!(work.busy_slot_seconds, 30.0);
}

#[test]
fn a_drop_within_grace_resumes_and_answers_the_user() {
    let mut bot = dropping(1.0);
    let fault = take_and_drop(&mut bot);
    assert_eq!(
        fault,
        Some(Fault::Drop {
            reconnect_after: Duration::from_secs(4),
            within_grace: true
        })
    );
    step(&mut bot, Input::Disconnected);
    // While offline a second drop is not asked for.
    assert_eq!(
        step(&mut bot, Input::Timer(Timer::FaultDrop(ChatId(7), 1))).fault,
        None
    );
    let fx = step(&mut bot, Input::Start);
    assert!(matches!(fx.send.as_slice(), [(SIGN_IN, Command::SignIn)]));
    // The Desk resumed chat 7: the agent answers (messages may have been missed).
    let fx = step(&mut bot, Input::Reply(SIGN_IN, &status(vec![ChatId(7)])));
    assert!(
        fx.timers
            .contains(&(Duration::from_secs(1), Timer::AgentReply(ChatId(7), 1)))
    );
    assert!(bot.held.contains_key(&ChatId(7)));
}

/// A transfer offered just before a drop is forgotten with the connection, and one
/// offered during the outage never arrives: after signing in again the agent lists
/// Transferred and takes what is addressed to it (R5), not what waits for others.
#[test]
fn transfers_offered_around_a_drop_are_found_again_after_it() {
    let mut bot = dropping(1.0);
    assert!(take_and_drop(&mut bot).is_some());
    let offered = Notice::TransferOffered {
        chat: ChatId(8),
        queue: "q".into(),
        from: "a-2".into(),
        notes: "over to you".into(),
    };
    step(&mut bot, Input::Notice(&offered));
    step(&mut bot, Input::Disconnected);
    // Reconnected: the sign-in reply asks for Transferred.
    step(&mut bot, Input::Start);
    let fx = step(&mut bot, Input::Reply(SIGN_IN, &status(vec![ChatId(7)])));
    assert!(
        fx.send
            .iter()
            .any(|(t, c)| *t == OFFERS_AFTER_DROP && *c == Command::ListTransferred),
        "{:?}",
        fx.send
    );
    let summary = |chat: u64, to: TransferTarget| ChatSummary {
        chat: ChatId(chat),
        queue: "q".into(),
        subject: "help".into(),
        source: ChatSource::SelfService,
        state: ChatState::Transferred {
            from: "a-2".into(),
            to,
        },
        waiting_since: Time(0),
    };
    let listed = Reply::Chats {
        chats: vec![
            summary(8, TransferTarget::Agent("a-1".into())),
            summary(9, TransferTarget::Agent("a-3".into())),
            summary(10, TransferTarget::Queue("q".into())),
        ],
    };
    let fx = step(&mut bot, Input::Reply(OFFERS_AFTER_DROP, &listed));
    let takes: Vec<&Timer> = fx.timers.iter().map(|(_, t)| t).collect();
    assert_eq!(takes, [&Timer::TakeTransfer(ChatId(8))]);
    let fx = step(&mut bot, Input::Timer(Timer::TakeTransfer(ChatId(8))));
    assert!(
        matches!(
            only_command(&fx),
            Command::AcceptTransfer { chat: ChatId(8) }
        ),
        "{:?}",
        fx.send
    );
    // Listed again (another reconnect): an offer already in hand is not doubled.
    let fx = step(&mut bot, Input::Reply(OFFERS_AFTER_DROP, &listed));
    assert!(fx.timers.is_empty(), "{:?}", fx.timers);
}

/// What comes due while the agent is away (an answer, the close) waits until the
/// sign-in says which chats it still holds: then it acts on a chat it kept and is void
/// for one the Desk took back, instead of going out blindly on the reconnect.
#[test]
fn what_comes_due_during_an_outage_waits_for_the_sign_in() {
    for (resumed, acts) in [(vec![ChatId(7)], true), (Vec::new(), false)] {
        let mut bot = dropping(1.0);
        assert!(take_and_drop(&mut bot).is_some());
        step(&mut bot, Input::Disconnected);
        let due = [Timer::AgentClose(ChatId(7), 1)];
        for t in due {
            let fx = step(&mut bot, Input::Timer(t));
            assert!(fx.send.is_empty(), "{:?}", fx.send);
        }
        // Reconnected, not yet told what it holds: still nothing.
        step(&mut bot, Input::Start);
        let fx = step(&mut bot, Input::Timer(Timer::AgentReply(ChatId(7), 1)));
        assert!(fx.send.is_empty(), "{:?}", fx.send);
        let fx = step(&mut bot, Input::Reply(SIGN_IN, &status(resumed.clone())));
        let refire: Vec<Timer> = fx
            .timers
            .iter()
            .filter(|(d, _)| d.is_zero())
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(
            refire,
            [
                Timer::AgentClose(ChatId(7), 1),
                Timer::AgentReply(ChatId(7), 1)
            ]
        );
        let fx = step(&mut bot, Input::Timer(Timer::AgentClose(ChatId(7), 1)));
        let closes = fx
            .send
            .iter()
            .any(|(_, c)| *c == Command::Close { chat: ChatId(7) });
        assert_eq!(closes, acts, "resumed {resumed:?}: {:?}", fx.send);
    }
}

/// A connection that broke before the first sign-in was answered, or a sign-in that
/// was refused, does not leave the agent waiting to act for the rest of the run.
#[test]
fn an_agent_resumes_acting_after_any_answer_to_its_sign_in() {
    let close_7 = |bot: &mut AgentBot| {
        step(bot, Input::Notice(&Notice::Assigned(Box::new(view(7)))));
        let fx = step(bot, Input::Timer(Timer::AgentClose(ChatId(7), 1)));
        fx.send
            .iter()
            .any(|(_, c)| *c == Command::Close { chat: ChatId(7) })
    };
    // Dropped before its first sign-in was answered.
    let mut bot = dropping(1.0);
    step(&mut bot, Input::Start);
    step(&mut bot, Input::Disconnected);
    step(&mut bot, Input::Start);
    step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
    assert!(close_7(&mut bot), "acts after a first sign-in");
    // Its sign-in after a drop refused: what came due fires all the same.
    let mut bot = dropping(1.0);
    assert!(take_and_drop(&mut bot).is_some());
    step(&mut bot, Input::Disconnected);
    step(&mut bot, Input::Timer(Timer::AgentClose(ChatId(7), 1)));
    step(&mut bot, Input::Start);
    let fx = step(&mut bot, Input::Error(SIGN_IN, "rate_limited"));
    assert!(
        fx.timers
            .contains(&(Duration::ZERO, Timer::AgentClose(ChatId(7), 1))),
        "{:?}",
        fx.timers
    );
}

/// A refused listing of Transferred after a drop is tried again after a while.
#[test]
fn a_refused_listing_of_offers_is_tried_again() {
    let mut bot = dropping(1.0);
    assert!(take_and_drop(&mut bot).is_some());
    step(&mut bot, Input::Disconnected);
    step(&mut bot, Input::Start);
    step(&mut bot, Input::Reply(SIGN_IN, &status(vec![ChatId(7)])));
    let fx = step(&mut bot, Input::Error(OFFERS_AFTER_DROP, "rate_limited"));
    assert!(sets(&fx, &Timer::ListOffers), "{:?}", fx.timers);
    let fx = step(&mut bot, Input::Timer(Timer::ListOffers));
    assert!(
        fx.send
            .iter()
            .any(|(t, c)| *t == OFFERS_AFTER_DROP && *c == Command::ListTransferred),
        "{:?}",
        fx.send
    );
}

#[test]
fn a_drop_after_grace_releases_what_the_desk_took_back() {
    let mut bot = dropping(0.0);
    let fault = take_and_drop(&mut bot);
    assert_eq!(
        fault,
        Some(Fault::Drop {
            reconnect_after: Duration::from_secs(24),
            within_grace: false
        })
    );
    step(&mut bot, Input::Disconnected);
    step(&mut bot, Input::Start);
    // Chat 7 went back to the queue; chat 9 was accepted but its reply was lost.
    step(&mut bot, Input::Reply(SIGN_IN, &status(vec![ChatId(9)])));
    assert!(!bot.held.contains_key(&ChatId(7)));
    assert!(bot.held.contains_key(&ChatId(9)));
}

#[test]
fn without_faults_nothing_is_injected() {
    let mut bot = bot(plan(AgentFaults::none()), 5);
    let fx = step(&mut bot, Input::Start);
    assert!(fx.timers.is_empty(), "{:?}", fx.timers);
    step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
    let fx = step(
        &mut bot,
        Input::Notice(&Notice::Assigned(Box::new(view(3)))),
    );
    assert!(
        !fx.timers.iter().any(|(_, t)| matches!(
            t,
            Timer::FaultDrop(..) | Timer::FaultStall | Timer::FaultFlip
        )),
        "{:?}",
        fx.timers
    );
    assert_eq!(fx.fault, None);
}

/// R6: a personal transfer refused for the limit is kept and taken again once a
/// chat is freed; the agent is not stuck with it.
#[test]
fn transfer_refused_for_the_limit_is_retried_when_a_chat_ends() {
    let mut bot = holding_chat_1();
    let offer = Notice::TransferOffered {
        chat: ChatId(9),
        queue: "q".into(),
        from: "b-1".into(),
        notes: String::new(),
    };
    let fx = step(&mut bot, Input::Notice(&offer));
    assert!(sets(&fx, &Timer::TakeTransfer(ChatId(9))));
    let fx = step(&mut bot, Input::Timer(Timer::TakeTransfer(ChatId(9))));
    let (t, _) = fx.send[0].clone();
    let fx = step(&mut bot, Input::Error(t, "transfer_limit"));
    assert!(!sets(&fx, &Timer::TakeTransfer(ChatId(9))));
    let ended = Notice::ChatEnded {
        chat: ChatId(1),
        state: switchboard_server::domain::ChatState::Abandoned,
    };
    let fx = step(&mut bot, Input::Notice(&ended));
    assert!(sets(&fx, &Timer::TakeTransfer(ChatId(9))), "{fx:?}");
}

/// A refused answer is tried again: the user is not left waiting for ever.
#[test]
fn refused_reply_is_retried() {
    let mut bot = holding_chat_1();
    let msg = Notice::Message {
        chat: ChatId(1),
        entry: switchboard_server::domain::Entry {
            seq: 1,
            at: Time(0),
            from: switchboard_server::domain::Party::User,
            body: switchboard_server::domain::EntryBody::Text { text: "hi".into() },
        },
    };
    step(&mut bot, Input::Notice(&msg));
    let fx = step(&mut bot, Input::Timer(Timer::AgentReply(ChatId(1), 1)));
    let (t, _) = fx.send[0].clone();
    let fx = step(&mut bot, Input::Error(t, "rate_limited"));
    assert!(sets(&fx, &Timer::AgentReply(ChatId(1), 1)), "{fx:?}");
}

/// The timers set when agent `id` (following `plan`) takes chat `chat`.
fn timers_on_taking(plan: &Arc<AgentPlan>, id: &str, chat: u64) -> Vec<(Duration, Timer)> {
    let mut bot = AgentBot::new(id.into(), Arc::clone(plan), ChaCha8Rng::seed_from_u64(1));
    step(&mut bot, Input::Start);
    step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
    step(
        &mut bot,
        Input::Notice(&Notice::Assigned(Box::new(view(chat)))),
    )
    .timers
}

/// `drop_probability` is drawn per holding of a chat: its first holding draws the
/// same whichever agent takes it (common random numbers: a policy that gives the chat
/// to another agent does not change its fault), and a chat back in the queue after a
/// drop draws afresh for whoever takes it next, where every later agent drew the first
/// one's drop, at the same delay.
#[test]
fn each_holding_of_a_chat_draws_its_own_drop() {
    let faults = AgentFaults {
        drop_probability: 0.5,
        drop_after: DurationDist::parse("uniform(1s, 20s)").unwrap(),
        ..AgentFaults::none()
    };
    let p = plan(faults);
    let drop_of = |timers: Vec<(Duration, Timer)>| {
        timers
            .into_iter()
            .find(|(_, t)| matches!(t, Timer::FaultDrop(..)))
    };
    let first = |id: &str| -> Vec<Option<Duration>> {
        (1..=40)
            .map(|c| drop_of(timers_on_taking(&p, id, c)).map(|(d, _)| d))
            .collect()
    };
    assert_eq!(first("a-1"), first("a-2"));
    // a-1 takes each chat and its drop fires; a-2 takes the chat next.
    let mut dropper = AgentBot::new("a-1".into(), Arc::clone(&p), ChaCha8Rng::seed_from_u64(1));
    step(&mut dropper, Input::Start);
    step(&mut dropper, Input::Reply(SIGN_IN, &status(Vec::new())));
    let mut dropped = 0;
    let mut again = 0;
    for c in 41..=120 {
        let taken = step(
            &mut dropper,
            Input::Notice(&Notice::Assigned(Box::new(view(c)))),
        );
        let Some((d, t)) = drop_of(taken.timers) else {
            continue;
        };
        step(&mut dropper, Input::Timer(t));
        step(&mut dropper, Input::Disconnected);
        step(&mut dropper, Input::Start);
        step(&mut dropper, Input::Reply(SIGN_IN, &status(Vec::new())));
        dropped += 1;
        if drop_of(timers_on_taking(&p, "a-2", c)).is_some_and(|(d2, _)| d2 == d) {
            again += 1;
        }
    }
    assert!(dropped > 20, "{dropped}");
    assert!(
        again < 5,
        "{again} of {dropped} dropped again at the same delay"
    );
}

/// A conversation's timing does not depend on the plan's probabilities: variants of
/// a comparison that differ only in how often agents create tickets see the same
/// answers and handle times (common random numbers).
#[test]
fn a_chat_s_timing_does_not_depend_on_its_planned_work() {
    let with_tickets = |probability: f64| {
        let mut p = (*plan(AgentFaults::none())).clone();
        p.handle_time = Some(DurationDist::parse("exp(mean=3m)").unwrap());
        p.ticket_probability = probability;
        p.work_order_share = 0.5;
        p.share_probability = probability;
        p.pin_probability = 0.5;
        let p = Arc::new(p);
        (1..=30)
            .map(|c| {
                timers_on_taking(&p, "a-1", c)
                    .into_iter()
                    .filter(|(_, t)| matches!(t, Timer::AgentClose(..)))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(with_tickets(0.0), with_tickets(0.5));
}

/// An article is pinned on the chat's ticket: an agent plans a pin only for a chat
/// that has one, or will (R11).
#[test]
fn a_pin_is_planned_only_with_a_ticket() {
    let mut p = (*plan(AgentFaults::none())).clone();
    p.share_probability = 1.0;
    p.pin_probability = 1.0;
    let planned = |p: &AgentPlan, has_ticket: bool| {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        AgentBot::plan_steps(p, &mut rng, false, has_ticket)
    };
    assert_eq!(planned(&p, false), [Step::Share { pin: false }]);
    assert_eq!(planned(&p, true), [Step::Share { pin: true }]);
    p.ticket_probability = 1.0;
    assert!(matches!(
        planned(&p, false).as_slice(),
        [Step::Share { pin: true }, Step::Ticket { .. }]
    ));
}

/// A drop ends the agent's holding of every chat it holds, not only of the one whose
/// drop fired: the next holder of any of them draws afresh.
#[test]
fn a_drop_ends_the_holding_of_every_chat_the_agent_held() {
    let faults = || AgentFaults {
        drop_probability: 1.0,
        drop_after: DurationDist::parse("uniform(1s, 20s)").unwrap(),
        ..AgentFaults::none()
    };
    let p = plan(faults());
    let drop_of = |timers: Vec<(Duration, Timer)>| {
        timers
            .into_iter()
            .find(|(_, t)| matches!(t, Timer::FaultDrop(..)))
            .expect("a drop, at probability 1")
    };
    let mut bot = AgentBot::new("a-1".into(), Arc::clone(&p), ChaCha8Rng::seed_from_u64(1));
    step(&mut bot, Input::Start);
    step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
    let (_, first) = drop_of(
        step(
            &mut bot,
            Input::Notice(&Notice::Assigned(Box::new(view(201)))),
        )
        .timers,
    );
    let (held_too, _) = drop_of(
        step(
            &mut bot,
            Input::Notice(&Notice::Assigned(Box::new(view(202)))),
        )
        .timers,
    );
    step(&mut bot, Input::Timer(first));
    let (next, _) = drop_of(timers_on_taking(&p, "a-2", 202));
    assert_ne!(next, held_too);
    // A fresh run (no drop yet) draws the first holding's again.
    let (fresh, _) = drop_of(timers_on_taking(&plan(faults()), "a-2", 202));
    assert_eq!(fresh, held_too);
}

/// A chat whose history holds a shared article (its agent was lost and it came back
/// through the queue) is not given the same article again: the replayed plan drops
/// the share.
#[test]
fn an_article_shared_before_is_not_shared_again() {
    let mut p = (*plan(AgentFaults::none())).clone();
    p.share_probability = 1.0;
    let p = Arc::new(p);
    let planned = |history: Vec<switchboard_server::domain::Entry>| {
        let mut bot = AgentBot::new("a-2".into(), Arc::clone(&p), ChaCha8Rng::seed_from_u64(1));
        step(&mut bot, Input::Start);
        step(&mut bot, Input::Reply(SIGN_IN, &status(Vec::new())));
        let mut v = view(9);
        v.history = history;
        step(&mut bot, Input::Notice(&Notice::Assigned(Box::new(v))));
        bot.held[&ChatId(9)].steps.clone()
    };
    assert_eq!(planned(Vec::new()), [Step::Share { pin: false }]);
    let shared = switchboard_server::domain::Entry {
        seq: 2,
        at: Time(5),
        from: switchboard_server::domain::Party::Agent("a-1".into()),
        body: switchboard_server::domain::EntryBody::Article {
            article: ArticleId::from("KA-1"),
            title: "VPN".into(),
            link: "https://kb.example/KA-1".into(),
        },
    };
    assert_eq!(planned(vec![shared]), Vec::<Step>::new());
}
