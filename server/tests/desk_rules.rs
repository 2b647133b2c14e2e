//! The Desk's rules, one section per rule of DESIGN.md (R1–R15), plus the documented
//! assumptions for disconnects and queue transfers.

mod common;

use common::*;
use switchboard_server::domain::*;

// ---------------------------------------------------------------- R1

/// R1: an agent without ESChat_Agent is refused on every agent command.
#[test]
fn r1_agent_without_permission_is_refused() {
    let mut d = desk(manual());
    assert_eq!(
        err(&mut d, &agent("dave"), Command::SignIn, 0),
        "permission_denied"
    );
    assert_eq!(
        err(&mut d, &agent("dave"), Command::ListQueue, 0),
        "permission_denied"
    );
    let c = start(&mut d, 1, HW, 0);
    assert_eq!(
        err(&mut d, &agent("dave"), Command::Accept { chat: c }, 0),
        "permission_denied"
    );
    let e = d.handle(&agent("dave"), Command::SignIn, t(0)).unwrap_err();
    assert!(e.to_string().contains("ESChat_Agent"), "{e}");
}

/// R1: unknown agents and wrong roles get clear errors.
#[test]
fn r1_roles_are_checked() {
    let mut d = desk(manual());
    assert_eq!(
        err(&mut d, &agent("nobody"), Command::SignIn, 0),
        "unknown_agent"
    );
    assert_eq!(err(&mut d, &user(1), Command::ListQueue, 0), "wrong_role");
    assert_eq!(
        err(
            &mut d,
            &user(1),
            Command::SetRouting { routing: manual() },
            0
        ),
        "wrong_role"
    );
    sign_in(&mut d, "alice");
    let cmd = Command::StartChat {
        queue: HW.into(),
        subject: "x".into(),
        source: ChatSource::SelfService,
        customer: None,
    };
    assert_eq!(err(&mut d, &agent("alice"), cmd, 0), "wrong_role");
    assert_eq!(
        err(&mut d, &Principal::Admin, Command::ListQueue, 0),
        "wrong_role"
    );
    assert_eq!(
        err(&mut d, &agent("bob"), Command::ListQueue, 0),
        "not_signed_in"
    );
    // Time passes only by the system's (or the admin's) hand.
    assert_eq!(err(&mut d, &agent("alice"), Command::Tick, 0), "wrong_role");
    assert_eq!(err(&mut d, &user(1), Command::Tick, 0), "wrong_role");
    ok(&mut d, &Principal::System, Command::Tick, 0);
}

// ---------------------------------------------------------------- R2

/// R2: agents are available by default on sign-in; they can switch it off and on.
#[test]
fn r2_available_by_default_and_toggled() {
    let mut d = desk(manual());
    let s = sign_in(&mut d, "alice");
    assert_eq!(s.availability, Availability::Available);
    let o = ok(
        &mut d,
        &agent("alice"),
        Command::SetAvailability {
            availability: Availability::Unavailable,
        },
        1,
    );
    assert!(matches!(o.reply, Reply::Status(s) if s.availability == Availability::Unavailable));
    // Under auto-accept off, "Available for N" is not what the agent sees.
    let cmd = Command::SetAvailability {
        availability: Availability::AvailableFor(2),
    };
    assert_eq!(err(&mut d, &agent("alice"), cmd, 2), "invalid_availability");
}

/// R2: under auto-accept agents declare Available for N, 0..=4; 0 is not available.
#[test]
fn r2_available_for_n_under_auto_accept() {
    let mut d = desk(auto(PolicyKind::LeastActive));
    sign_in(&mut d, "alice");
    for n in 0..=4u8 {
        let o = ok(
            &mut d,
            &agent("alice"),
            Command::SetAvailability {
                availability: Availability::AvailableFor(n),
            },
            1,
        );
        assert!(
            matches!(o.reply, Reply::Status(s) if s.availability == Availability::AvailableFor(n))
        );
        assert_eq!(d.stats().free_slots, usize::from(n), "free slots gauge");
    }
    let five = Command::SetAvailability {
        availability: Availability::AvailableFor(5),
    };
    assert_eq!(
        err(&mut d, &agent("alice"), five, 2),
        "invalid_availability"
    );
    let plain = Command::SetAvailability {
        availability: Availability::Available,
    };
    assert_eq!(
        err(&mut d, &agent("alice"), plain, 2),
        "invalid_availability"
    );
    // Available for 0 means nothing is routed to her.
    ok(
        &mut d,
        &agent("alice"),
        Command::SetAvailability {
            availability: Availability::AvailableFor(0),
        },
        3,
    );
    let c = start(&mut d, 1, HW, 4);
    assert!(matches!(d.chat(c).unwrap().state, ChatState::Queued));
    // Available for 3 takes the waiting chat: 2 slots left.
    ok(
        &mut d,
        &agent("alice"),
        Command::SetAvailability {
            availability: Availability::AvailableFor(3),
        },
        5,
    );
    assert!(matches!(d.chat(c).unwrap().state, ChatState::Active { .. }));
    assert_eq!(d.stats().free_slots, 2);
}

/// R2/R7: with auto-accept off agents pull chats themselves, so the free-slots gauge
/// (free auto-accept slots) is 0 however many agents are signed in.
#[test]
fn r7_no_free_auto_accept_slots_without_auto_accept() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    assert_eq!(d.stats().free_slots, 0);
}

// ---------------------------------------------------------------- R3

/// R3: Queue shows the count and chats of the agent's own queues only, oldest first.
#[test]
fn r3_queue_shows_own_queues_oldest_first() {
    let mut d = desk(manual());
    let s = sign_in(&mut d, "alice");
    assert_eq!(s.queue_count, 0);
    let c1 = start(&mut d, 1, HW, 10);
    let _other = start(&mut d, 2, SW, 11);
    let c3 = start(&mut d, 3, HW, 12);
    let Reply::Chats { chats } = ok(&mut d, &agent("alice"), Command::ListQueue, 13).reply else {
        panic!()
    };
    let ids: Vec<ChatId> = chats.iter().map(|c| c.chat).collect();
    assert_eq!(ids, vec![c1, c3]);
    assert_eq!(sign_in(&mut d, "alice").queue_count, 2);
    // And she cannot accept the software chat.
    assert_eq!(
        err(
            &mut d,
            &agent("alice"),
            Command::Accept { chat: _other },
            14
        ),
        "not_visible"
    );
}

/// R3, R5: an agent learns nothing about a chat outside their queues that they never
/// held — not who took it, not that it ended — whatever its state and whatever they
/// try (taking it, or the commands on an owned chat and its ticket); a member of its
/// queue gets the precise answer.
#[test]
fn r3_r5_other_queues_chats_are_not_visible_in_any_state() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    sign_in(&mut d, "carol");
    let draft = create_ticket(
        &mut d,
        "alice",
        c,
        TicketKind::WorkOrder,
        Some("T-LAPTOP"),
        2,
    );
    let commands = || {
        [
            Command::Accept { chat: c },
            Command::AcceptTransfer { chat: c },
            Command::Send {
                chat: c,
                text: "hi".into(),
            },
            Command::Close { chat: c },
            Command::Transfer {
                chat: c,
                to: TransferTarget::Queue(SW.into()),
                notes: String::new(),
            },
            Command::ShareArticle {
                chat: c,
                article: "KA-1".into(),
            },
            Command::CreateTicket {
                chat: c,
                kind: TicketKind::Incident,
                template: None,
            },
            Command::ConfirmTicket { ticket: draft.id },
        ]
    };
    let outsider_learns_nothing = |d: &mut Desk, now| {
        for cmd in commands() {
            assert_eq!(err(d, &agent("carol"), cmd, now), "not_visible");
        }
    };
    outsider_learns_nothing(&mut d, 3);
    // A member of its queue: not signed in yet, then the precise answers.
    let close = || Command::Close { chat: c };
    assert_eq!(err(&mut d, &agent("bob"), close(), 3), "not_signed_in");
    sign_in(&mut d, "bob");
    assert_eq!(err(&mut d, &agent("bob"), close(), 3), "not_owner");
    let confirm = Command::ConfirmTicket { ticket: draft.id };
    assert_eq!(err(&mut d, &agent("bob"), confirm, 3), "not_owner");
    ok(&mut d, &agent("alice"), close(), 4);
    outsider_learns_nothing(&mut d, 5);
    assert_eq!(err(&mut d, &agent("bob"), close(), 5), "chat_ended");
    assert_eq!(
        err(&mut d, &agent("bob"), Command::Accept { chat: c }, 5),
        "chat_ended"
    );
}

/// R3: queue members are told when the count changes.
#[test]
fn r3_queue_count_pushed_to_members() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let o = ok(
        &mut d,
        &user(1),
        Command::StartChat {
            queue: HW.into(),
            subject: "help".into(),
            source: ChatSource::SelfService,
            customer: None,
        },
        0,
    );
    let n = notices_for(&o, &Recipient::QueueMembers(HW.into()));
    assert!(
        matches!(
            n[..],
            [Notice::QueueChanged {
                queued: 1,
                transferred: 0,
                ..
            }]
        ),
        "{n:?}"
    );
}

// ---------------------------------------------------------------- R4

/// R4: My Chats holds accepted chats until they are closed.
#[test]
fn r4_my_chats_until_closed() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    let Reply::Chats { chats } = ok(&mut d, &agent("alice"), Command::ListMyChats, 2).reply else {
        panic!()
    };
    assert_eq!(chats.len(), 1);
    ok(&mut d, &agent("alice"), Command::Close { chat: c }, 3);
    let Reply::Chats { chats } = ok(&mut d, &agent("alice"), Command::ListMyChats, 4).reply else {
        panic!()
    };
    assert!(chats.is_empty());
}

// ---------------------------------------------------------------- R5

/// R5: transfers are visible to the addressed agent and to members of the addressed
/// queue, never to anyone else.
#[test]
fn r5_transfers_visible_only_to_their_addressees() {
    let mut d = desk(manual());
    for a in ["alice", "bob", "carol"] {
        sign_in(&mut d, a);
    }
    let c1 = start(&mut d, 1, HW, 0);
    let c2 = start(&mut d, 2, HW, 1);
    ok(&mut d, &agent("alice"), Command::Accept { chat: c1 }, 2);
    ok(&mut d, &agent("alice"), Command::Accept { chat: c2 }, 2);
    // c1 to bob personally, c2 to the software queue.
    let o = transfer(
        &mut d,
        "alice",
        c1,
        TransferTarget::Agent("bob".into()),
        "printer, not laptop",
        3,
    );
    assert!(matches!(
        notices_for(&o, &Recipient::Agent("bob".into()))[..],
        [Notice::TransferOffered { .. }]
    ));
    transfer(
        &mut d,
        "alice",
        c2,
        TransferTarget::Queue(SW.into()),
        "software issue",
        4,
    );
    let list = |d: &mut Desk, a: &str| -> Vec<ChatId> {
        match ok(d, &agent(a), Command::ListTransferred, 5).reply {
            Reply::Chats { chats } => chats.iter().map(|c| c.chat).collect(),
            _ => panic!(),
        }
    };
    assert_eq!(list(&mut d, "bob"), vec![c1]);
    assert_eq!(list(&mut d, "carol"), vec![c2]);
    assert!(list(&mut d, "alice").is_empty());
    assert_eq!(
        err(
            &mut d,
            &agent("carol"),
            Command::AcceptTransfer { chat: c1 },
            6
        ),
        "not_visible"
    );
    assert_eq!(
        err(
            &mut d,
            &agent("bob"),
            Command::AcceptTransfer { chat: c2 },
            6
        ),
        "not_visible"
    );
    ok(
        &mut d,
        &agent("carol"),
        Command::AcceptTransfer { chat: c2 },
        7,
    );
}

// ---------------------------------------------------------------- R6

/// Longest-idle counts idle time from the later of the last assignment and the last
/// sign-in: an agent back from a break is not the "longest idle".
#[test]
fn longest_idle_does_not_count_time_signed_out() {
    let mut d = desk(auto(PolicyKind::LongestIdle));
    sign_in(&mut d, "alice");
    let c = start(&mut d, 1, HW, 1_000);
    ok(&mut d, &agent("alice"), Command::Close { chat: c }, 2_000);
    ok(&mut d, &agent("alice"), Command::SignOut, 3_000);
    ok(&mut d, &agent("bob"), Command::SignIn, 10_000);
    ok(&mut d, &agent("alice"), Command::SignIn, 20_000);
    let o = ok(
        &mut d,
        &user(2),
        Command::StartChat {
            queue: HW.into(),
            subject: "laptop".into(),
            source: ChatSource::SelfService,
            customer: None,
        },
        30_000,
    );
    assert_eq!(assigned(&o).first().map(|(a, _)| a.as_str()), Some("bob"));
}

/// R6: under auto-accept, queued chats are routed to agents with a free slot and no
/// agent gets more than N.
#[test]
fn r6_auto_accept_respects_available_for_n() {
    let mut d = desk(auto(PolicyKind::LeastActive));
    sign_in(&mut d, "alice");
    ok(
        &mut d,
        &agent("alice"),
        Command::SetAvailability {
            availability: Availability::AvailableFor(2),
        },
        0,
    );
    let mut routed = Vec::new();
    for u in 1..=3 {
        let o = ok(
            &mut d,
            &user(u),
            Command::StartChat {
                queue: HW.into(),
                subject: "laptop".into(),
                source: ChatSource::SelfService,
                customer: None,
            },
            u,
        );
        routed.extend(assigned(&o));
    }
    assert_eq!(routed.len(), 2, "alice is available for 2: {routed:?}");
    let o = ok(
        &mut d,
        &user(9),
        Command::StartChat {
            queue: HW.into(),
            subject: "laptop".into(),
            source: ChatSource::SelfService,
            customer: None,
        },
        5,
    );
    assert!(matches!(
        o.reply,
        Reply::ChatStarted {
            assigned: false,
            position: 1,
            ..
        }
    ));
    assert_eq!(d.agent(&"alice".into()).unwrap().chats.len(), 2);
    // Closing one frees a slot: the waiting chat is routed at once.
    let first = routed[0].1;
    let o = ok(&mut d, &agent("alice"), Command::Close { chat: first }, 10);
    assert_eq!(assigned(&o).len(), 1);
    // A chat that arrives while a slot is free is assigned in the same step (bob
    // takes the one still waiting when he signs in, then has room for one more).
    sign_in(&mut d, "bob");
    ok(
        &mut d,
        &agent("bob"),
        Command::SetAvailability {
            availability: Availability::AvailableFor(2),
        },
        10,
    );
    let o = ok(
        &mut d,
        &user(10),
        Command::StartChat {
            queue: HW.into(),
            subject: "laptop".into(),
            source: ChatSource::SelfService,
            customer: None,
        },
        11,
    );
    assert!(matches!(o.reply, Reply::ChatStarted { assigned: true, .. }));
}

/// R6: each policy chooses, through the Desk, by the loads the Desk keeps for its
/// agents. Alice (Available for 4) is given one chat while bob is signed out or not
/// available; then bob is available for 4 and a second chat arrives. The order of the
/// sign-ins and of the first chat is set so that each policy's figure, not its
/// tie-break, decides: alice holds 1 chat and has 3 slots free, bob holds none and has 4.
#[test]
fn r6_policies_choose_by_the_loads_the_desk_keeps() {
    /// When bob signs in: first, between alice and the first chat, or after that chat.
    #[derive(Clone, Copy, Debug)]
    enum Bob {
        First,
        BeforeTheChat,
        AfterTheChat,
    }
    for (policy, bob, expected) in [
        // Alice has been idle longest and signed in first: only the loads favour bob.
        (PolicyKind::LeastActive, Bob::AfterTheChat, "bob"),
        (PolicyKind::MostAvailable, Bob::AfterTheChat, "bob"),
        (PolicyKind::RoundRobin, Bob::AfterTheChat, "bob"),
        // Bob signed in first: only alice's open chat favours her.
        (PolicyKind::FillFirst, Bob::First, "alice"),
        // Alice signed in first, but was given a chat after bob signed in.
        (PolicyKind::LongestIdle, Bob::BeforeTheChat, "bob"),
    ] {
        let mut d = desk(auto(policy));
        let mut now = 0;
        let mut tick = || {
            now += 1;
            now
        };
        let bob_in = |d: &mut Desk, now: u64| {
            ok(d, &agent("bob"), Command::SignIn, now);
            available_for(d, "bob", 0, now);
        };
        if let Bob::First = bob {
            bob_in(&mut d, tick());
        }
        let at = tick();
        ok(&mut d, &agent("alice"), Command::SignIn, at);
        available_for(&mut d, "alice", 4, at);
        if let Bob::BeforeTheChat = bob {
            bob_in(&mut d, tick());
        }
        let first = start(&mut d, 1, HW, tick());
        assert!(
            d.chat(first).unwrap().owned_by(&"alice".into()),
            "{policy:?}"
        );
        if let Bob::AfterTheChat = bob {
            bob_in(&mut d, tick());
        }
        available_for(&mut d, "bob", 4, tick());
        let second = start(&mut d, 2, HW, tick());
        let state = &d.chat(second).unwrap().state;
        assert!(
            d.chat(second).unwrap().owned_by(&expected.into()),
            "{policy:?} ({bob:?}) gave it away as {state:?}"
        );
    }
}

/// R6: under auto-accept an agent may still accept any number from Queue by hand, but
/// at most four from Transferred.
#[test]
fn r6_manual_accepts_under_auto_accept() {
    let mut d = desk(auto(PolicyKind::LeastActive));
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    for a in ["alice", "bob"] {
        ok(
            &mut d,
            &agent(a),
            Command::SetAvailability {
                availability: Availability::AvailableFor(0),
            },
            0,
        );
    }
    // Six queued chats; bob takes all six by hand (any number from Queue).
    let chats: Vec<ChatId> = (1..=6).map(|u| start(&mut d, u, HW, u)).collect();
    for c in &chats {
        ok(&mut d, &agent("bob"), Command::Accept { chat: *c }, 10);
    }
    // He transfers four to alice: she may accept four from Transferred. A fifth is
    // refused: she could not take it and nobody else may, so it would wait unseen.
    // Bob keeps it.
    let to_alice = |c: ChatId| Command::Transfer {
        chat: c,
        to: TransferTarget::Agent("alice".into()),
        notes: String::new(),
    };
    for c in &chats[..4] {
        ok(&mut d, &agent("bob"), to_alice(*c), 11);
    }
    assert_eq!(
        err(&mut d, &agent("bob"), to_alice(chats[4]), 11),
        "transfer_limit"
    );
    ok(
        &mut d,
        &agent("bob"),
        Command::Send {
            chat: chats[4],
            text: "still here".into(),
        },
        11,
    );
    for c in &chats[..4] {
        ok(
            &mut d,
            &agent("alice"),
            Command::AcceptTransfer { chat: *c },
            12,
        );
    }
    // Accepted, they count as the waiting ones did.
    assert_eq!(
        err(&mut d, &agent("bob"), to_alice(chats[4]), 13),
        "transfer_limit"
    );
    // Closing one of them makes room again.
    ok(
        &mut d,
        &agent("alice"),
        Command::Close { chat: chats[0] },
        14,
    );
    ok(&mut d, &agent("bob"), to_alice(chats[4]), 15);
    ok(
        &mut d,
        &agent("alice"),
        Command::AcceptTransfer { chat: chats[4] },
        16,
    );
    // The limit is also checked at the accept: chats accepted by hand before
    // auto-accept, or transfers addressed before the limit was lowered, can exceed it.
    ok(
        &mut d,
        &agent("alice"),
        Command::Close { chat: chats[1] },
        18,
    );
    ok(&mut d, &agent("bob"), to_alice(chats[5]), 19);
    ok(
        &mut d,
        &Principal::Admin,
        Command::SetRouting {
            routing: RoutingConfig {
                max_transfer_accepts: 3,
                ..auto(PolicyKind::LeastActive)
            },
        },
        20,
    );
    assert_eq!(
        err(
            &mut d,
            &agent("alice"),
            Command::AcceptTransfer { chat: chats[5] },
            21
        ),
        "transfer_limit"
    );
}

/// R6 (assumption): a transfer to a support queue is routed automatically under
/// auto-accept, never back to the agent who transferred it.
#[test]
fn r6_queue_transfer_is_auto_routed_elsewhere() {
    let mut d = desk(auto(PolicyKind::LeastActive));
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    ok(
        &mut d,
        &agent("bob"),
        Command::SetAvailability {
            availability: Availability::AvailableFor(0),
        },
        0,
    );
    let c = start(&mut d, 1, HW, 1);
    assert_eq!(d.chat(c).unwrap().state.owner().unwrap().as_str(), "alice");
    // Only alice is available; her transfer to her own queue waits for someone else.
    let o = transfer(
        &mut d,
        "alice",
        c,
        TransferTarget::Queue(HW.into()),
        "second opinion",
        2,
    );
    assert!(assigned(&o).is_empty());
    let o = ok(
        &mut d,
        &agent("bob"),
        Command::SetAvailability {
            availability: Availability::AvailableFor(1),
        },
        3,
    );
    assert_eq!(assigned(&o), vec![("bob".to_string(), c)]);
    let Notice::Assigned(view) = &o
        .deliveries
        .iter()
        .find(|d| d.to == Recipient::Agent("bob".into()))
        .unwrap()
        .notice
    else {
        panic!()
    };
    assert_eq!(view.notes[0].notes, "second opinion");
}

/// R6: a new chat waiting behind a transfer that only its transferrer could take still
/// goes to that agent.
#[test]
fn r6_blocked_transfer_does_not_block_the_queue() {
    let mut d = desk(auto(PolicyKind::LeastActive));
    sign_in(&mut d, "alice");
    ok(
        &mut d,
        &agent("alice"),
        Command::SetAvailability {
            availability: Availability::AvailableFor(1),
        },
        0,
    );
    let c = start(&mut d, 1, HW, 1);
    transfer(&mut d, "alice", c, TransferTarget::Queue(HW.into()), "", 2);
    let c2 = start(&mut d, 2, HW, 3);
    assert!(d.chat(c2).unwrap().owned_by(&"alice".into()));
}

// ---------------------------------------------------------------- R7

/// R7: with auto-accept off nothing is routed; agents accept any number from Queue and
/// Transferred.
#[test]
fn r7_manual_mode_has_no_limits() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    let chats: Vec<ChatId> = (1..=7).map(|u| start(&mut d, u, HW, u)).collect();
    assert!(
        chats
            .iter()
            .all(|c| d.chat(*c).unwrap().state == ChatState::Queued)
    );
    for c in &chats {
        ok(&mut d, &agent("bob"), Command::Accept { chat: *c }, 10);
        transfer(
            &mut d,
            "bob",
            *c,
            TransferTarget::Agent("alice".into()),
            "",
            11,
        );
    }
    for c in &chats[..6] {
        ok(
            &mut d,
            &agent("alice"),
            Command::AcceptTransfer { chat: *c },
            12,
        );
    }
    assert_eq!(d.agent(&"alice".into()).unwrap().chats.len(), 6);

    // R6 from then on: switching auto-accept on takes nothing away from her, but the
    // limit holds for what she accepts next: nothing from Transferred until fewer than
    // `max_transfer_accepts` (4) of those she holds remain.
    ok(
        &mut d,
        &Principal::Admin,
        Command::SetRouting {
            routing: auto(PolicyKind::LeastActive),
        },
        13,
    );
    let alice = d.agent(&"alice".into()).unwrap();
    assert_eq!((alice.chats.len(), alice.transfer_accepts), (6, 6));
    let seventh = Command::AcceptTransfer { chat: chats[6] };
    for (i, c) in chats[..3].iter().enumerate() {
        assert_eq!(
            err(&mut d, &agent("alice"), seventh.clone(), 14),
            "transfer_limit"
        );
        ok(
            &mut d,
            &agent("alice"),
            Command::Close { chat: *c },
            15 + i as u64,
        );
    }
    ok(&mut d, &agent("alice"), seventh, 20);
    assert_eq!(d.agent(&"alice".into()).unwrap().transfer_accepts, 4);
}

// ---------------------------------------------------------------- R8

/// R8: exactly one agent wins a chat; the others get already_accepted.
#[test]
fn r8_exactly_one_accept_wins() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    let c = start(&mut d, 1, HW, 0);
    ok(&mut d, &agent("bob"), Command::Accept { chat: c }, 1);
    let e = d
        .handle(&agent("alice"), Command::Accept { chat: c }, t(1))
        .unwrap_err();
    assert_eq!(e.code(), "already_accepted");
    assert!(e.to_string().contains("bob"));
    assert_eq!(
        err(
            &mut d,
            &agent("alice"),
            Command::AcceptTransfer { chat: c },
            1
        ),
        "already_accepted"
    );
}

/// R8: the winner gets the history; the user is told the agent is online.
#[test]
fn r8_winner_gets_history_and_user_is_told() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let c = start(&mut d, 7, HW, 0);
    ok(
        &mut d,
        &user(7),
        Command::Send {
            chat: c,
            text: "hello?".into(),
        },
        1,
    );
    let o = ok(&mut d, &agent("alice"), Command::Accept { chat: c }, 2);
    let view = accepted(&o);
    assert_eq!(view.history.len(), 1);
    assert!(matches!(&view.history[0].body, EntryBody::Text { text } if text == "hello?"));
    assert!(matches!(
        notices_for(&o, &Recipient::User(UserId(7)))[..],
        [Notice::AgentJoined { .. }]
    ));
}

/// R8: accepting a transferred chat shows the history plus the previous agent's notes.
#[test]
fn r8_transferred_chat_carries_notes() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    let c = start(&mut d, 1, HW, 0);
    ok(&mut d, &agent("alice"), Command::Accept { chat: c }, 1);
    ok(
        &mut d,
        &agent("alice"),
        Command::Send {
            chat: c,
            text: "let me check".into(),
        },
        2,
    );
    let o = transfer(
        &mut d,
        "alice",
        c,
        TransferTarget::Agent("bob".into()),
        "needs a new battery",
        3,
    );
    assert!(matches!(
        notices_for(&o, &Recipient::User(UserId(1)))[..],
        [Notice::AgentLeft {
            reason: LeftReason::Transferred,
            ..
        }]
    ));
    let o = ok(
        &mut d,
        &agent("bob"),
        Command::AcceptTransfer { chat: c },
        4,
    );
    let view = accepted(&o);
    assert_eq!(view.history.len(), 1);
    assert_eq!(view.notes.len(), 1);
    assert_eq!(view.notes[0].notes, "needs a new battery");
    assert_eq!(view.notes[0].from.as_str(), "alice");
    assert_eq!(view.origin, Origin::Transferred);
}

/// R8: closed and unknown chats cannot be accepted.
#[test]
fn r8_closed_or_unknown_chats_cannot_be_accepted() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let c = start(&mut d, 1, HW, 0);
    ok(&mut d, &user(1), Command::Close { chat: c }, 1);
    assert_eq!(
        err(&mut d, &agent("alice"), Command::Accept { chat: c }, 2),
        "chat_ended"
    );
    assert_eq!(
        err(
            &mut d,
            &agent("alice"),
            Command::Accept { chat: ChatId(99) },
            2
        ),
        "unknown_chat"
    );
}

// ---------------------------------------------------------------- R9

/// R9: an accepted chat shows customer information and resources.
#[test]
fn r9_customer_information_and_resources() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let c = start_as(
        &mut d,
        1,
        HW,
        "printer jams on laptop",
        ChatSource::SelfService,
        0,
    );
    let o = ok(&mut d, &agent("alice"), Command::Accept { chat: c }, 1);
    let view = accepted(&o);
    let customer = view.customer.as_ref().expect("customer record");
    assert_eq!(customer.company, "Calbro");
    assert_eq!(customer.site, "Austin");
    assert_eq!(customer.contact, "jane@example.com");
    assert_eq!(customer.tickets, vec!["INC000042".to_string()]);
    assert_eq!(customer.assets, vec!["LAPTOP-7".to_string()]);
    assert_eq!(view.resources.outages.len(), 1);
    assert!(
        view.resources
            .articles
            .iter()
            .any(|a| a.id.as_str() == "KA-2")
    );
    assert!(
        view.resources
            .templates
            .iter()
            .any(|t| t.id.as_str() == "T-LAPTOP")
    );
}

// ---------------------------------------------------------------- R10

/// R10: messages reach the other side in order and are kept in the transcript.
#[test]
fn r10_messages_in_order_both_ways() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    let mut to_agent = Vec::new();
    let mut to_user = Vec::new();
    for i in 0..5u64 {
        let o = ok(
            &mut d,
            &user(1),
            Command::Send {
                chat: c,
                text: format!("u{i}"),
            },
            10 + i,
        );
        to_agent.extend(
            notices_for(&o, &Recipient::Agent("alice".into()))
                .into_iter()
                .cloned(),
        );
        let o = ok(
            &mut d,
            &agent("alice"),
            Command::Send {
                chat: c,
                text: format!("a{i}"),
            },
            10 + i,
        );
        to_user.extend(
            notices_for(&o, &Recipient::User(UserId(1)))
                .into_iter()
                .cloned(),
        );
    }
    let texts = |ns: &[Notice]| -> Vec<String> {
        ns.iter()
            .map(|n| match n {
                Notice::Message {
                    entry:
                        Entry {
                            body: EntryBody::Text { text },
                            ..
                        },
                    ..
                } => text.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(texts(&to_agent), ["u0", "u1", "u2", "u3", "u4"]);
    assert_eq!(texts(&to_user), ["a0", "a1", "a2", "a3", "a4"]);
    let seqs: Vec<u64> = d
        .chat(c)
        .unwrap()
        .transcript
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
}

/// R10: only the owner and the chat's user may write; users see only their own chat.
#[test]
fn r10_only_participants_write() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    let c = start(&mut d, 1, HW, 0);
    ok(&mut d, &agent("alice"), Command::Accept { chat: c }, 1);
    let send = |text: &str| Command::Send {
        chat: c,
        text: text.into(),
    };
    assert_eq!(err(&mut d, &agent("bob"), send("hi"), 2), "not_owner");
    assert_eq!(err(&mut d, &user(2), send("hi"), 2), "unknown_chat");
    assert_eq!(err(&mut d, &user(1), send("  "), 2), "empty");
}

// ---------------------------------------------------------------- R11

/// R11: search articles, share one (shown in the conversation and in the ticket's
/// activity log), pin one (flagged on the ticket).
#[test]
fn r11_share_and_pin_articles() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    let Reply::Articles { articles } = ok(
        &mut d,
        &agent("alice"),
        Command::SearchArticles { term: "VPN".into() },
        2,
    )
    .reply
    else {
        panic!()
    };
    assert_eq!(articles.len(), 1);
    assert_eq!(articles[0].id.as_str(), "KA-1");
    // Shared before the ticket exists…
    let o = ok(
        &mut d,
        &agent("alice"),
        Command::ShareArticle {
            chat: c,
            article: "KA-1".into(),
        },
        3,
    );
    assert!(matches!(
        notices_for(&o, &Recipient::User(UserId(1)))[..],
        [Notice::Message {
            entry: Entry {
                body: EntryBody::Article { .. },
                ..
            },
            ..
        }]
    ));
    ok(
        &mut d,
        &agent("alice"),
        Command::PinArticle {
            chat: c,
            article: "KA-1".into(),
        },
        4,
    );
    let ticket = create_ticket(&mut d, "alice", c, TicketKind::Incident, None, 5);
    // Logged at the time it was shared (3), not when the ticket came to be (5).
    assert!(
        ticket
            .activity
            .iter()
            .any(|a| a.text.contains("https://kb.example/KA-1") && a.at == t(3)),
        "{:?}",
        ticket.activity
    );
    assert_eq!(ticket.pinned, vec![ArticleId::from("KA-1")]);
    // …and after.
    ok(
        &mut d,
        &agent("alice"),
        Command::ShareArticle {
            chat: c,
            article: "KA-2".into(),
        },
        6,
    );
    ok(
        &mut d,
        &agent("alice"),
        Command::PinArticle {
            chat: c,
            article: "KA-2".into(),
        },
        7,
    );
    let ticket = d.ticket(ticket.id).unwrap();
    assert!(
        ticket
            .activity
            .iter()
            .any(|a| a.text.contains("https://kb.example/KA-2"))
    );
    assert_eq!(ticket.pinned.len(), 2);
    assert!(d.chat(c).unwrap().transcript.iter().any(
        |e| matches!(&e.body, EntryBody::Article { article, .. } if article.as_str() == "KA-2")
    ));
    assert_eq!(
        err(
            &mut d,
            &agent("alice"),
            Command::ShareArticle {
                chat: c,
                article: "KA-404".into()
            },
            8
        ),
        "unknown_article"
    );
}

// ---------------------------------------------------------------- R12

/// R12: incidents and work orders are numbered each in their own sequence, as the
/// ticketing system numbers them: INC000001, WO000001, INC000002.
#[test]
fn r12_each_kind_of_ticket_has_its_own_numbers() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let mut numbers = Vec::new();
    for (u, kind) in [
        (1, TicketKind::Incident),
        (2, TicketKind::WorkOrder),
        (3, TicketKind::Incident),
    ] {
        let c = start(&mut d, u, HW, u);
        ok(&mut d, &agent("alice"), Command::Accept { chat: c }, u);
        numbers.push(create_ticket(&mut d, "alice", c, kind, None, u).number);
        ok(&mut d, &agent("alice"), Command::Close { chat: c }, u);
    }
    assert_eq!(numbers, ["INC000001", "WO000001", "INC000002"]);
}

/// R12: Create Incident / Create Work Order without a template: created at once with
/// the transcript in the description, visible from Resources.
#[test]
fn r12_ticket_without_template() {
    for kind in [TicketKind::Incident, TicketKind::WorkOrder] {
        let mut d = desk(manual());
        sign_in(&mut d, "alice");
        sign_in(&mut d, "bob");
        let c = start(&mut d, 1, HW, 0);
        ok(&mut d, &agent("alice"), Command::Accept { chat: c }, 1);
        ok(
            &mut d,
            &user(1),
            Command::Send {
                chat: c,
                text: "screen is black".into(),
            },
            2,
        );
        let o = ok(
            &mut d,
            &agent("alice"),
            Command::CreateTicket {
                chat: c,
                kind,
                template: None,
            },
            3,
        );
        let Reply::Ticket(ticket) = &o.reply else {
            panic!()
        };
        assert_eq!(ticket.status, TicketStatus::Created);
        assert_eq!(ticket.kind, kind);
        assert!(ticket.number.starts_with(kind.prefix()));
        assert!(ticket.description.contains("[user] screen is black"));
        assert!(
            ticket
                .description
                .contains(&render_transcript(&d.chat(c).unwrap().transcript))
        );
        assert!(matches!(
            notices_for(&o, &Recipient::User(UserId(1)))[..],
            [Notice::TicketCreated { .. }]
        ));
        // Visible from Resources to whoever takes the chat next.
        transfer(
            &mut d,
            "alice",
            c,
            TransferTarget::Agent("bob".into()),
            "",
            4,
        );
        let o = ok(
            &mut d,
            &agent("bob"),
            Command::AcceptTransfer { chat: c },
            5,
        );
        assert_eq!(
            accepted(&o).resources.ticket.as_ref().unwrap().id,
            ticket.id
        );
    }
}

// ---------------------------------------------------------------- R13

/// R13: search templates; with required fields blank the ticket opens as a draft until
/// they are filled and confirmed; then it holds the transcript.
#[test]
fn r13_template_draft_then_confirm() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    let Reply::Templates { templates } = ok(
        &mut d,
        &agent("alice"),
        Command::SearchTemplates {
            term: "laptop".into(),
        },
        2,
    )
    .reply
    else {
        panic!()
    };
    assert_eq!(templates[0].id.as_str(), "T-LAPTOP");
    let draft = create_ticket(
        &mut d,
        "alice",
        c,
        TicketKind::WorkOrder,
        Some("T-LAPTOP"),
        3,
    );
    assert_eq!(draft.status, TicketStatus::Draft);
    assert_eq!(draft.blank_required(), vec!["asset".to_string()]);
    let e = d
        .handle(
            &agent("alice"),
            Command::ConfirmTicket { ticket: draft.id },
            t(4),
        )
        .unwrap_err();
    assert_eq!(e.code(), "required_fields_blank");
    assert!(e.to_string().contains("asset"));
    assert_eq!(
        err(
            &mut d,
            &agent("alice"),
            Command::FillTicket {
                ticket: draft.id,
                fields: fields(&[("colour", "red")])
            },
            5
        ),
        "unknown_field"
    );
    ok(
        &mut d,
        &agent("alice"),
        Command::Send {
            chat: c,
            text: "asset tag LAPTOP-7".into(),
        },
        6,
    );
    ok(
        &mut d,
        &agent("alice"),
        Command::FillTicket {
            ticket: draft.id,
            fields: fields(&[("asset", "LAPTOP-7")]),
        },
        7,
    );
    let Reply::Ticket(ticket) = ok(
        &mut d,
        &agent("alice"),
        Command::ConfirmTicket { ticket: draft.id },
        8,
    )
    .reply
    else {
        panic!()
    };
    assert_eq!(ticket.status, TicketStatus::Created);
    assert!(ticket.description.contains("asset tag LAPTOP-7"));
    assert_eq!(ticket.fields["urgency"], "medium");
    assert_eq!(
        err(
            &mut d,
            &agent("alice"),
            Command::ConfirmTicket { ticket: draft.id },
            9
        ),
        "not_draft"
    );
}

/// R13 with ended chats forgotten (large virtual runs): a draft whose chat has gone
/// cannot be filled or confirmed — `chat_ended`, not a panic.
#[test]
fn r13_draft_of_a_forgotten_chat_is_chat_ended() {
    let mut d = desk(manual());
    d.forget_ended_chats(true);
    let c = alice_in_a_chat(&mut d);
    let draft = create_ticket(
        &mut d,
        "alice",
        c,
        TicketKind::WorkOrder,
        Some("T-LAPTOP"),
        2,
    );
    assert_eq!(draft.status, TicketStatus::Draft);
    ok(&mut d, &agent("alice"), Command::Close { chat: c }, 3);
    let fill = Command::FillTicket {
        ticket: draft.id,
        fields: fields(&[("asset", "LAPTOP-7")]),
    };
    assert_eq!(err(&mut d, &agent("alice"), fill, 4), "chat_ended");
    let confirm = Command::ConfirmTicket { ticket: draft.id };
    assert_eq!(err(&mut d, &agent("alice"), confirm, 5), "chat_ended");
}

/// R13: a template whose required fields are all filled creates the ticket at once.
#[test]
fn r13_complete_template_creates_at_once() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    let ticket = create_ticket(
        &mut d,
        "alice",
        c,
        TicketKind::Incident,
        Some("T-PRINTER"),
        2,
    );
    assert_eq!(ticket.status, TicketStatus::Created);
    assert_eq!(
        err(
            &mut d,
            &agent("alice"),
            Command::CreateTicket {
                chat: c,
                kind: TicketKind::Incident,
                template: Some("T-NONE".into())
            },
            3
        ),
        "ticket_exists"
    );
}

// ---------------------------------------------------------------- R14

/// R14: a chat gets at most one ticket (a draft counts).
#[test]
fn r14_one_ticket_per_chat() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    ok(
        &mut d,
        &agent("alice"),
        Command::CreateTicket {
            chat: c,
            kind: TicketKind::WorkOrder,
            template: Some("T-LAPTOP".into()),
        },
        2,
    );
    for kind in [TicketKind::Incident, TicketKind::WorkOrder] {
        assert_eq!(
            err(
                &mut d,
                &agent("alice"),
                Command::CreateTicket {
                    chat: c,
                    kind,
                    template: None
                },
                3
            ),
            "ticket_exists"
        );
    }
    assert_eq!(d.tickets().count(), 1);
}

// ---------------------------------------------------------------- R15

/// R15: chats come from self-service or chatbot users; the source is kept and shown.
#[test]
fn r15_self_service_and_chatbot_sources() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let a = start_as(&mut d, 1, HW, "vpn", ChatSource::SelfService, 0);
    let b = start_as(&mut d, 2, HW, "vpn", ChatSource::Chatbot, 1);
    let Reply::Chats { chats } = ok(&mut d, &agent("alice"), Command::ListQueue, 2).reply else {
        panic!()
    };
    assert_eq!(chats[0].source, ChatSource::SelfService);
    assert_eq!(chats[1].source, ChatSource::Chatbot);
    let o = ok(&mut d, &agent("alice"), Command::Accept { chat: b }, 3);
    assert_eq!(accepted(&o).source, ChatSource::Chatbot);
    assert_eq!(d.chat(a).unwrap().source, ChatSource::SelfService);
    let e = err(
        &mut d,
        &user(3),
        Command::StartChat {
            queue: "nope".into(),
            subject: "x".into(),
            source: ChatSource::Chatbot,
            customer: None,
        },
        4,
    );
    assert_eq!(e, "unknown_queue");
}

// ------------------------------------------------- disconnect assumptions

/// An agent who drops keeps their chats for the grace period and resumes them on
/// signing in again in time.
#[test]
fn agent_reconnect_within_grace_resumes() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let c = start(&mut d, 1, HW, 0);
    ok(&mut d, &agent("alice"), Command::Accept { chat: c }, 1_000);
    ok(&mut d, &agent("alice"), Command::Disconnect, 2_000);
    assert_eq!(d.next_deadline(), Some(Time(32_000)));
    let o = ok(&mut d, &agent("alice"), Command::SignIn, 31_999);
    assert!(matches!(o.reply, Reply::Status(s) if s.my_chats == vec![c]));
    assert_eq!(d.next_deadline(), None);
    assert!(d.chat(c).unwrap().owned_by(&"alice".into()));
}

/// A desk where alice accepted two chats (users 1 and 2) and then lost her connection
/// (at 2 s): the desk and the two chats.
fn alice_dropped_holding_two() -> (Desk, ChatId, ChatId) {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let first = start(&mut d, 1, HW, 0);
    let second = start(&mut d, 2, HW, 0);
    for c in [first, second] {
        ok(&mut d, &agent("alice"), Command::Accept { chat: c }, 1_000);
    }
    ok(&mut d, &agent("alice"), Command::Disconnect, 2_000);
    (d, first, second)
}

/// A chat whose user leaves while its agent's connection is down: the `chat_ended` to
/// the agent went to the dropped connection, so the agent hears it again at its next
/// sign-in (the `status` no longer lists the chat, and nothing is resumed of it).
#[test]
fn an_agent_back_from_a_drop_hears_of_the_chats_that_ended_meanwhile() {
    let (mut d, c, kept) = alice_dropped_holding_two();
    ok(&mut d, &user(1), Command::Close { chat: c }, 3_000);
    let o = ok(&mut d, &agent("alice"), Command::SignIn, 4_000);
    assert!(matches!(&o.reply, Reply::Status(s) if s.my_chats == vec![kept]));
    let to_alice = notices_for(&o, &Recipient::Agent("alice".into()));
    assert!(
        to_alice.iter().any(|n| matches!(n, Notice::ChatEnded { chat, state: ChatState::Closed { by: Party::User } } if *chat == c)),
        "{to_alice:?}"
    );
    assert!(
        to_alice
            .iter()
            .any(|n| matches!(n, Notice::Resumed(v) if v.chat == kept)),
        "{to_alice:?}"
    );
    // Told once: a later sign-in while connected says nothing of it.
    let o = ok(&mut d, &agent("alice"), Command::SignIn, 5_000);
    assert!(notices_for(&o, &Recipient::Agent("alice".into())).is_empty());
    // Nor is an agent told again of a chat whose end reached it.
    ok(&mut d, &user(2), Command::Close { chat: kept }, 6_000);
    ok(&mut d, &agent("alice"), Command::Disconnect, 7_000);
    let o = ok(&mut d, &agent("alice"), Command::SignIn, 8_000);
    assert!(notices_for(&o, &Recipient::Agent("alice".into())).is_empty());
}

/// A chat cannot be transferred to an agent whose connection dropped: it would wait
/// for someone who may not come back. Once back, the agent takes transfers again.
#[test]
fn no_transfer_to_an_agent_in_its_grace_period() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    let mine = start(&mut d, 1, HW, 0);
    let bobs = start(&mut d, 2, HW, 0);
    ok(
        &mut d,
        &agent("alice"),
        Command::Accept { chat: mine },
        1_000,
    );
    ok(&mut d, &agent("bob"), Command::Accept { chat: bobs }, 1_000);
    ok(&mut d, &agent("bob"), Command::Disconnect, 2_000);
    let to_bob = || Command::Transfer {
        chat: mine,
        to: TransferTarget::Agent("bob".into()),
        notes: String::new(),
    };
    let refused = d.handle(&agent("alice"), to_bob(), t(3_000));
    assert!(
        matches!(&refused, Err(e) if e.code() == "invalid_transfer"
            && e.to_string().contains("lost its connection")),
        "{refused:?}"
    );
    ok(&mut d, &agent("bob"), Command::SignIn, 4_000);
    ok(&mut d, &agent("alice"), to_bob(), 5_000);
}

/// R10: what the user wrote while the agent was away reaches the agent when it
/// resumes: each held chat comes back whole (`resumed`), history included.
#[test]
fn r10_resumed_agent_gets_what_was_said_while_away() {
    let (mut d, c, _) = alice_dropped_holding_two();
    let send = |text: &str| Command::Send {
        chat: c,
        text: text.into(),
    };
    ok(&mut d, &user(1), send("hello?"), 3_000);
    ok(&mut d, &user(1), send("anyone?"), 4_000);

    let o = ok(&mut d, &agent("alice"), Command::SignIn, 5_000);
    let resumed: Vec<_> = notices_for(&o, &Recipient::Agent("alice".into()))
        .into_iter()
        .filter_map(|n| match n {
            Notice::Resumed(view) => Some(view),
            _ => None,
        })
        .collect();
    assert_eq!(resumed.len(), 2, "one per held chat");
    let view = resumed.iter().find(|v| v.chat == c).expect("chat resumed");
    assert_eq!(view.origin, Origin::Queue);
    assert_eq!(view.history, d.chat(c).unwrap().transcript.to_vec());
    let texts: Vec<_> = view
        .history
        .iter()
        .filter_map(|e| match &e.body {
            EntryBody::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["hello?", "anyone?"]);

    let resumes = |o: &Outcome| {
        o.deliveries
            .iter()
            .any(|x| matches!(x.notice, Notice::Resumed(_)))
    };
    // A sign-in while connected resumes nothing.
    let again = ok(&mut d, &agent("alice"), Command::SignIn, 6_000);
    assert!(!resumes(&again));
    // Nor does one after the grace period ran out: the chats went back to the queue
    // and their users were told.
    ok(&mut d, &agent("alice"), Command::Disconnect, 7_000);
    let late = ok(&mut d, &agent("alice"), Command::SignIn, 40_000);
    assert!(!resumes(&late));
    assert!(matches!(&late.reply, Reply::Status(s) if s.my_chats.is_empty()));
    let left = notices_for(&late, &Recipient::User(UserId(1)));
    assert!(
        matches!(
            left.as_slice(),
            [Notice::AgentLeft {
                reason: LeftReason::AgentGone,
                ..
            }]
        ),
        "{left:?}"
    );
}

/// After the grace period the chats go back to the front of the queue, keeping their
/// age, and the user is told.
#[test]
fn agent_gone_after_grace_requeues_at_front() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    let old = start(&mut d, 1, HW, 0);
    ok(
        &mut d,
        &agent("alice"),
        Command::Accept { chat: old },
        1_000,
    );
    let newer = start(&mut d, 2, HW, 5_000);
    ok(&mut d, &agent("alice"), Command::Disconnect, 6_000);
    let o = ok(&mut d, &Principal::System, Command::Tick, 36_000);
    assert!(matches!(
        notices_for(&o, &Recipient::User(UserId(1)))[..],
        [Notice::AgentLeft {
            reason: LeftReason::AgentGone,
            ..
        }]
    ));
    let Reply::Chats { chats } = ok(&mut d, &agent("bob"), Command::ListQueue, 36_001).reply else {
        panic!()
    };
    assert_eq!(
        chats.iter().map(|c| c.chat).collect::<Vec<_>>(),
        vec![old, newer]
    );
    assert_eq!(chats[0].waiting_since, Time(0));
    assert!(!d.agent(&"alice".into()).unwrap().signed_in);
}

/// Under auto-accept an agent in its grace period takes no new chats, and the chats it
/// held when the grace ran out go back to the front of the queue and to the next agent
/// with a free slot, before chats that came later.
#[test]
fn agent_gone_under_auto_accept_hands_its_chats_on_first() {
    let mut d = desk(auto(PolicyKind::LeastActive));
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    available_for(&mut d, "alice", 1, 0);
    available_for(&mut d, "bob", 0, 0);
    let held = start(&mut d, 1, HW, 1_000);
    assert!(d.chat(held).unwrap().owned_by(&"alice".into()));
    available_for(&mut d, "bob", 1, 1_500);
    ok(&mut d, &agent("alice"), Command::Disconnect, 2_000);
    // Alice is away: the next chat goes to bob, the one after waits.
    let second = start(&mut d, 2, HW, 3_000);
    assert!(d.chat(second).unwrap().owned_by(&"bob".into()));
    let third = start(&mut d, 3, HW, 4_000);
    assert_eq!(d.chat(third).unwrap().state, ChatState::Queued);
    // Her grace runs out: her chat waits again, ahead of the third, with its age.
    ok(&mut d, &Principal::System, Command::Tick, 32_000);
    assert_eq!(d.chat(held).unwrap().state, ChatState::Queued);
    assert_eq!(d.chat(held).unwrap().waiting_since, Time(1_000));
    // Bob's slot frees: he is given alice's chat first.
    let o = ok(
        &mut d,
        &agent("bob"),
        Command::Close { chat: second },
        33_000,
    );
    assert_eq!(assigned(&o), vec![("bob".to_string(), held)]);
    assert_eq!(d.chat(third).unwrap().state, ChatState::Queued);
}

/// Signing in after the grace ran out (before any tick) also releases the chats.
#[test]
fn agent_sign_in_after_grace_starts_fresh() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let c = start(&mut d, 1, HW, 0);
    ok(&mut d, &agent("alice"), Command::Accept { chat: c }, 0);
    ok(&mut d, &agent("alice"), Command::Disconnect, 0);
    let o = ok(&mut d, &agent("alice"), Command::SignIn, 30_000);
    assert!(matches!(&o.reply, Reply::Status(s) if s.my_chats.is_empty()));
    assert_eq!(d.chat(c).unwrap().state, ChatState::Queued);
}

/// Alice and Bob signed in (manual mode); Alice took chat `c` and transferred it to
/// Bob at t = 1 ms, who has not taken it yet.
fn transfer_pending_for_bob() -> (Desk, ChatId) {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    let c = start(&mut d, 1, HW, 0);
    ok(&mut d, &agent("alice"), Command::Accept { chat: c }, 0);
    transfer(
        &mut d,
        "alice",
        c,
        TransferTarget::Agent("bob".into()),
        "",
        1,
    );
    (d, c)
}

/// Personal transfers to an agent who is gone go to the chat's queue.
#[test]
fn transfers_to_a_gone_agent_go_to_the_queue() {
    let (mut d, c) = transfer_pending_for_bob();
    ok(&mut d, &agent("bob"), Command::Disconnect, 2);
    let o = ok(&mut d, &Principal::System, Command::Tick, 40_000);
    assert!(notices_for(&o, &Recipient::Agent("bob".into())).is_empty());
    assert!(matches!(
        &d.chat(c).unwrap().state,
        ChatState::Transferred { to: TransferTarget::Queue(q), .. } if q.as_str() == HW
    ));
    // Bob, away when it happened, is told at his next sign-in, once.
    let o = ok(&mut d, &agent("bob"), Command::SignIn, 50_000);
    let told = notices_for(&o, &Recipient::Agent("bob".into()));
    assert!(
        matches!(
            told[..],
            [Notice::TransferWithdrawn { chat, to: TransferTarget::Queue(q) }] if *chat == c && q.as_str() == HW
        ),
        "{told:?}"
    );
    ok(
        &mut d,
        &agent("alice"),
        Command::AcceptTransfer { chat: c },
        50_001,
    );
    ok(&mut d, &agent("bob"), Command::SignOut, 50_001);
    let o = ok(&mut d, &agent("bob"), Command::SignIn, 50_002);
    assert!(notices_for(&o, &Recipient::Agent("bob".into())).is_empty());
}

/// A transfer to bob, withdrawn to the queue while he was away past his grace period,
/// then taken from there by alice: bob has not signed in again yet.
fn withdrawn_while_away_then_taken_by_alice() -> (Desk, ChatId) {
    let (mut d, c) = transfer_pending_for_bob();
    ok(&mut d, &agent("bob"), Command::Disconnect, 2);
    ok(&mut d, &Principal::System, Command::Tick, 40_000);
    ok(
        &mut d,
        &agent("alice"),
        Command::AcceptTransfer { chat: c },
        40_001,
    );
    (d, c)
}

/// A transfer withdrawn while its target was away, and taken by someone else before
/// they sign in again, is no news to them then.
#[test]
fn a_withdrawn_transfer_taken_meanwhile_is_not_announced() {
    let (mut d, _) = withdrawn_while_away_then_taken_by_alice();
    let o = ok(&mut d, &agent("bob"), Command::SignIn, 50_000);
    assert!(notices_for(&o, &Recipient::Agent("bob".into())).is_empty());
}

/// R5: nor one taken and transferred on to someone else: where it waits now is none
/// of the withdrawn addressee's business.
#[test]
fn a_withdrawn_transfer_sent_on_meanwhile_is_not_announced() {
    let (mut d, c) = withdrawn_while_away_then_taken_by_alice();
    sign_in(&mut d, "carol");
    transfer(
        &mut d,
        "alice",
        c,
        TransferTarget::Agent("carol".into()),
        "",
        40_002,
    );
    let o = ok(&mut d, &agent("bob"), Command::SignIn, 50_000);
    assert!(
        notices_for(&o, &Recipient::Agent("bob".into())).is_empty(),
        "{o:?}"
    );
}

/// An agent whose connection drops while holding nothing has nothing to keep: they are
/// signed out at once, and their next sign-in is a fresh one (the sign-in default N,
/// not the N they had declared), as desk.md says.
#[test]
fn an_idle_agent_s_dropped_connection_signs_them_out() {
    let mut d = desk(auto(PolicyKind::LeastActive));
    sign_in(&mut d, "alice");
    available_for(&mut d, "alice", 4, 1);
    ok(&mut d, &agent("alice"), Command::Disconnect, 2);
    assert!(!d.agent(&"alice".into()).unwrap().signed_in);
    let status = sign_in(&mut d, "alice");
    assert_eq!(status.availability, Availability::AvailableFor(1));
}

/// R5: a chat transferred to one agent is visible to that agent (and to those who held
/// it), whichever queue it is in; `accept` tells them to use `accept_transfer`, and
/// tells the other members of the chat's queue nothing.
#[test]
fn r5_accept_on_a_personal_transfer_tells_only_those_who_may_see_it() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    sign_in(&mut d, "bob");
    sign_in(&mut d, "carol");
    transfer(
        &mut d,
        "alice",
        c,
        TransferTarget::Agent("carol".into()),
        "",
        2,
    );
    let accept = || Command::Accept { chat: c };
    assert_eq!(err(&mut d, &agent("carol"), accept(), 3), "not_queued");
    assert_eq!(err(&mut d, &agent("alice"), accept(), 3), "not_queued");
    assert_eq!(err(&mut d, &agent("bob"), accept(), 3), "not_visible");
    assert_eq!(
        err(
            &mut d,
            &agent("bob"),
            Command::AcceptTransfer { chat: c },
            3
        ),
        "not_visible"
    );
    ok(
        &mut d,
        &agent("carol"),
        Command::AcceptTransfer { chat: c },
        4,
    );
}

/// R2: switching Agent Auto Accept on or off carries availability over: an available
/// agent takes the new mode's sign-in default (here "Available for 0": not
/// available), an unavailable one stays so.
#[test]
fn r2_switching_auto_accept_applies_the_new_default_to_available_agents() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    ok(
        &mut d,
        &agent("bob"),
        Command::SetAvailability {
            availability: Availability::Unavailable,
        },
        1,
    );
    let set = |d: &mut Desk, default_available_for: u8, now: u64| {
        let routing = RoutingConfig {
            default_available_for,
            ..auto(PolicyKind::LeastActive)
        };
        ok(d, &Principal::Admin, Command::SetRouting { routing }, now);
    };
    // Default 0: nobody is given the chat until they declare N.
    set(&mut d, 0, 2);
    let c = start(&mut d, 1, HW, 3);
    assert!(matches!(d.chat(c).unwrap().state, ChatState::Queued));
    // Back to manual, then on with default 2: alice (available) gets chats, bob not.
    ok(
        &mut d,
        &Principal::Admin,
        Command::SetRouting { routing: manual() },
        4,
    );
    let status = |d: &mut Desk, who: &str| match ok(d, &agent(who), Command::SignIn, 5).reply {
        Reply::Status(s) => s.availability,
        other => panic!("{other:?}"),
    };
    assert_eq!(status(&mut d, "alice"), Availability::Unavailable);
    ok(
        &mut d,
        &agent("alice"),
        Command::SetAvailability {
            availability: Availability::Available,
        },
        6,
    );
    set(&mut d, 2, 7);
    assert_eq!(status(&mut d, "alice"), Availability::AvailableFor(2));
    assert_eq!(status(&mut d, "bob"), Availability::AvailableFor(0));
    assert!(
        matches!(&d.chat(c).unwrap().state, ChatState::Active { agent, .. } if agent.as_str() == "alice"),
        "{:?}",
        d.chat(c).unwrap().state
    );
}

/// R2/R7: an admin switching Agent Auto Accept resets what every signed-in agent had
/// declared; each is told where they stand now (`status_changed`), as no command of
/// theirs brought a status. A change that keeps the mode tells nobody.
#[test]
fn switching_auto_accept_tells_each_signed_in_agent_its_new_status() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    sign_in(&mut d, "bob");
    let routing = RoutingConfig {
        default_available_for: 2,
        ..auto(PolicyKind::LeastActive)
    };
    let o = ok(
        &mut d,
        &Principal::Admin,
        Command::SetRouting { routing },
        1,
    );
    for who in ["alice", "bob"] {
        let told = notices_for(&o, &Recipient::Agent(who.into()));
        assert!(
            matches!(told.as_slice(), [Notice::StatusChanged(s)]
                if s.auto_accept && s.availability == Availability::AvailableFor(2)),
            "{who}: {told:?}"
        );
    }
    // Another policy, auto-accept still on: nothing was reset.
    let o = ok(
        &mut d,
        &Principal::Admin,
        Command::SetRouting {
            routing: RoutingConfig {
                default_available_for: 2,
                ..auto(PolicyKind::RoundRobin)
            },
        },
        2,
    );
    assert!(
        o.deliveries
            .iter()
            .all(|dl| !matches!(dl.notice, Notice::StatusChanged(_))),
        "{o:?}"
    );
}

/// R13: a draft confirmed by its creator after the chat was transferred away is
/// created, and the chat's owner is told as well as the user (it is in their
/// Resources now).
#[test]
fn r13_a_draft_confirmed_after_a_transfer_is_announced_to_the_owner_too() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    sign_in(&mut d, "bob");
    let draft = create_ticket(
        &mut d,
        "alice",
        c,
        TicketKind::WorkOrder,
        Some("T-LAPTOP"),
        2,
    );
    assert_eq!(draft.status, TicketStatus::Draft);
    transfer(
        &mut d,
        "alice",
        c,
        TransferTarget::Agent("bob".into()),
        "",
        3,
    );
    ok(
        &mut d,
        &agent("bob"),
        Command::AcceptTransfer { chat: c },
        4,
    );
    ok(
        &mut d,
        &agent("alice"),
        Command::FillTicket {
            ticket: draft.id,
            fields: fields(&[("asset", "LAPTOP-7")]),
        },
        5,
    );
    let o = ok(
        &mut d,
        &agent("alice"),
        Command::ConfirmTicket { ticket: draft.id },
        6,
    );
    for to in [Recipient::Agent("bob".into()), Recipient::User(UserId(1))] {
        let told = notices_for(&o, &to);
        assert!(
            matches!(told[..], [Notice::TicketCreated { chat, ticket }] if *chat == c && ticket.id == draft.id),
            "{to:?}: {told:?}"
        );
    }
    assert!(notices_for(&o, &Recipient::Agent("alice".into())).is_empty());
}

/// Signing in after the grace ran out (before any tick), with a personal transfer
/// pending: it goes to the chat's queue, and the agent, online again, is told.
#[test]
fn a_late_sign_in_tells_the_agent_of_withdrawn_transfers() {
    let (mut d, c) = transfer_pending_for_bob();
    ok(&mut d, &agent("bob"), Command::Disconnect, 2);
    let o = ok(&mut d, &agent("bob"), Command::SignIn, 40_000);
    assert!(matches!(
        &d.chat(c).unwrap().state,
        ChatState::Transferred { to: TransferTarget::Queue(q), .. } if q.as_str() == HW
    ));
    let told = notices_for(&o, &Recipient::Agent("bob".into()));
    assert!(
        matches!(
            told[..],
            [Notice::TransferWithdrawn { chat, to: TransferTarget::Queue(q) }] if *chat == c && q.as_str() == HW
        ),
        "{told:?}"
    );
}

/// A user who drops abandons their chat (default) and the agent is told; the agent's
/// slot is free again.
#[test]
fn user_disconnect_abandons_and_tells_the_agent() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let waiting = start(&mut d, 1, HW, 0);
    let talking = start(&mut d, 2, HW, 0);
    ok(
        &mut d,
        &agent("alice"),
        Command::Accept { chat: talking },
        1,
    );
    ok(&mut d, &user(1), Command::Disconnect, 2);
    assert_eq!(d.chat(waiting).unwrap().state, ChatState::Abandoned);
    let o = ok(&mut d, &user(2), Command::Disconnect, 3);
    assert_eq!(d.chat(talking).unwrap().state, ChatState::Abandoned);
    assert!(matches!(
        notices_for(&o, &Recipient::Agent("alice".into()))[..],
        [Notice::ChatEnded { .. }]
    ));
    assert!(d.agent(&"alice".into()).unwrap().chats.is_empty());
}

/// With `user = "close"`, an accepted chat ends as closed by the user.
#[test]
fn user_disconnect_close_rule() {
    let mut d = Desk::new(
        DeskConfig {
            disconnect: DisconnectRules {
                user: UserDisconnect::Close,
                ..DisconnectRules::default()
            },
            ..DeskConfig::default()
        },
        [QueueId::from(HW)],
        [AgentProfile::chat_agent("alice", &[HW])],
        ReferenceData::default(),
    )
    .unwrap();
    let c = alice_in_a_chat(&mut d);
    ok(&mut d, &user(1), Command::Disconnect, 2);
    assert_eq!(
        d.chat(c).unwrap().state,
        ChatState::Closed { by: Party::User }
    );
}

/// Sign-out is refused while chats are open.
#[test]
fn sign_out_needs_no_open_chats() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    assert_eq!(
        err(&mut d, &agent("alice"), Command::SignOut, 2),
        "chats_open"
    );
    ok(&mut d, &agent("alice"), Command::Close { chat: c }, 3);
    ok(&mut d, &agent("alice"), Command::SignOut, 4);
}

/// An agent who signs out with a personal transfer pending (no open chat, so sign-out
/// is allowed) is told it went to the chat's queue instead (R5), where others can take
/// it.
#[test]
fn sign_out_withdraws_pending_transfers_to_the_queue() {
    let (mut d, c) = transfer_pending_for_bob();
    let o = ok(&mut d, &agent("bob"), Command::SignOut, 2);
    let withdrawn: Vec<_> = o
        .deliveries
        .iter()
        .filter(|x| matches!(x.notice, Notice::TransferWithdrawn { .. }))
        .collect();
    assert_eq!(withdrawn.len(), 1, "{:?}", o.deliveries);
    assert_eq!(withdrawn[0].to, Recipient::Agent("bob".into()));
    assert!(matches!(
        &withdrawn[0].notice,
        Notice::TransferWithdrawn { chat, to: TransferTarget::Queue(q) } if *chat == c && q.as_str() == HW
    ));
    ok(
        &mut d,
        &agent("alice"),
        Command::AcceptTransfer { chat: c },
        3,
    );
}

// ------------------------------------------------------------ administration

/// Turning auto-accept on routes what is waiting; bad settings are refused.
#[test]
fn admin_switches_auto_accept_on() {
    let mut d = desk(manual());
    sign_in(&mut d, "alice");
    let c = start(&mut d, 1, HW, 0);
    assert_eq!(
        err(
            &mut d,
            &Principal::Admin,
            Command::SetRouting {
                routing: RoutingConfig {
                    auto_accept: true,
                    policy: PolicyKind::Manual,
                    ..RoutingConfig::default()
                }
            },
            1
        ),
        "invalid_config"
    );
    let o = ok(
        &mut d,
        &Principal::Admin,
        Command::SetRouting {
            routing: auto(PolicyKind::RoundRobin),
        },
        2,
    );
    assert_eq!(assigned(&o), vec![("alice".to_string(), c)]);
}

/// Queues and agents can be provisioned at run time; duplicates are refused.
#[test]
fn admin_provisions_queues_and_agents() {
    let mut d = desk(manual());
    ok(
        &mut d,
        &Principal::Admin,
        Command::AddQueue {
            queue: "network".into(),
        },
        0,
    );
    assert_eq!(
        err(
            &mut d,
            &Principal::Admin,
            Command::AddQueue {
                queue: "network".into()
            },
            0
        ),
        "already_exists"
    );
    ok(
        &mut d,
        &Principal::Admin,
        Command::AddAgent {
            agent: AgentProfile::chat_agent("erin", &["network"]),
        },
        0,
    );
    assert_eq!(
        err(
            &mut d,
            &Principal::Admin,
            Command::AddAgent {
                agent: AgentProfile::chat_agent("frank", &["nowhere"])
            },
            0
        ),
        "unknown_queue"
    );
    sign_in(&mut d, "erin");
    let c = start(&mut d, 1, "network", 1);
    ok(&mut d, &agent("erin"), Command::Accept { chat: c }, 2);
}

/// An agent whose connection dropped must sign in again (resuming) before acting.
#[test]
fn agent_in_grace_must_sign_in_again_before_acting() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    ok(&mut d, &agent("alice"), Command::Disconnect, 2);
    let send = Command::Send {
        chat: c,
        text: "still there?".into(),
    };
    assert_eq!(
        err(&mut d, &agent("alice"), send.clone(), 3),
        "not_signed_in"
    );
    ok(&mut d, &agent("alice"), Command::SignIn, 4);
    ok(&mut d, &agent("alice"), send, 5);
}

/// Routing order (R6): the oldest chat an agent can take goes first, across queues,
/// even behind a transfer nobody may auto-route.
#[test]
fn oldest_routable_chat_first_across_queues() {
    let mut d = desk(RoutingConfig {
        route_queue_transfers: false,
        ..auto(PolicyKind::LeastActive)
    });
    ok(
        &mut d,
        &Principal::Admin,
        Command::AddAgent {
            agent: AgentProfile::chat_agent("xavier", &[HW, SW]),
        },
        0,
    );
    let avail = |n| Command::SetAvailability {
        availability: Availability::AvailableFor(n),
    };
    sign_in(&mut d, "bob");
    ok(&mut d, &agent("bob"), avail(1), 0);
    sign_in(&mut d, "xavier");
    ok(&mut d, &agent("xavier"), avail(0), 0);
    // Bob gets a hardware chat and hands it back to the queue: it waits, unroutable.
    let first = start(&mut d, 1, HW, 0);
    transfer(
        &mut d,
        "bob",
        first,
        TransferTarget::Queue(HW.into()),
        "",
        1,
    );
    ok(&mut d, &agent("bob"), avail(0), 2);
    let software = start(&mut d, 2, SW, 10);
    let _hardware = start(&mut d, 3, HW, 50);
    let o = ok(&mut d, &agent("xavier"), avail(1), 60);
    assert_eq!(assigned(&o), vec![("xavier".to_string(), software)]);
}

/// A queue named twice in a profile counts once.
#[test]
fn duplicate_queue_memberships_count_once() {
    let mut d = desk(manual());
    ok(
        &mut d,
        &Principal::Admin,
        Command::AddAgent {
            agent: AgentProfile::chat_agent("twice", &[HW, HW]),
        },
        0,
    );
    start(&mut d, 1, HW, 0);
    assert_eq!(sign_in(&mut d, "twice").queue_count, 1);
}

/// Round-robin continues after the agent it picked last when an admin changes a
/// routing setting that is not the policy (here the Transferred limit): the change
/// does not send it back to the first agent signed in, which would tilt the work
/// towards the earliest agents at every configuration change.
#[test]
fn round_robin_keeps_its_place_across_other_routing_changes() {
    let mut d = desk(auto(PolicyKind::RoundRobin));
    ok(
        &mut d,
        &Principal::Admin,
        Command::AddAgent {
            agent: AgentProfile::chat_agent("erin", &[HW]),
        },
        0,
    );
    for a in ["alice", "bob", "erin"] {
        sign_in(&mut d, a);
        available_for(&mut d, a, 2, 0);
    }
    let taker = |d: &mut Desk, u: u64, now: u64| {
        let o = ok(
            d,
            &user(u),
            Command::StartChat {
                queue: HW.into(),
                subject: "help".into(),
                source: ChatSource::SelfService,
                customer: None,
            },
            now,
        );
        assigned(&o).first().expect("assigned at once").0.clone()
    };
    assert_eq!(taker(&mut d, 1, 1), "alice");
    assert_eq!(taker(&mut d, 2, 2), "bob");
    let o = ok(
        &mut d,
        &Principal::Admin,
        Command::SetRouting {
            routing: RoutingConfig {
                max_transfer_accepts: 3,
                ..auto(PolicyKind::RoundRobin)
            },
        },
        3,
    );
    assert!(assigned(&o).is_empty());
    assert_eq!(taker(&mut d, 3, 4), "erin");
    assert_eq!(taker(&mut d, 4, 5), "alice");
    // A change of policy starts the new one afresh.
    ok(
        &mut d,
        &Principal::Admin,
        Command::SetRouting {
            routing: auto(PolicyKind::LeastActive),
        },
        6,
    );
    assert_eq!(taker(&mut d, 5, 7), "bob");
}
