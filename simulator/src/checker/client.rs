//! Invariants over the client history (what every participant sent and received),
//! and its agreement with the server journal.
//!
//! - Message order (R10): each participant receives each chat's messages with strictly
//!   increasing transcript positions (no duplicate, no reordering); a user's view of
//!   their chat has no gap.
//! - Transfer notes (R8): an agent accepting a transferred chat got the notes.
//! - Agreement: per participant, the replies and notices it recorded are, in order, a
//!   subsequence of what the journal says the server sent it; anything the server sent
//!   and the participant never got must fall where its connection dropped or at the
//!   very end of its history.

use super::violation::{Invariant, Violation};
use crate::history::{Event, History, What};
use std::collections::{BTreeMap, BTreeSet};
use switchboard_server::domain::{Command, Notice, Principal, Recipient, Reply};
use switchboard_server::protocol::{JournalEntry, JournalResult};

fn cite(line: usize, e: &Event) -> String {
    let what = serde_json::to_string(&e.what).unwrap_or_default();
    format!("history:{} t={:.0} ms {}: {what}", line + 1, e.t_ms, e.who)
}

/// Checks that need only the history.
pub fn check_history(h: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    // (who, chat) → (last seq received, line)
    let mut last: BTreeMap<(String, u64), (u64, usize)> = BTreeMap::new();
    // user → chat → seqs known (own sends + received)
    let mut user_seqs: BTreeMap<String, BTreeMap<u64, BTreeSet<u64>>> = BTreeMap::new();
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    // Notes of transfers in flight, by (agent, request id) → (chat, notes); the `done`
    // with the same request id makes them the chat's latest (an error drops them).
    let mut pending_notes: BTreeMap<(String, Option<u64>), (u64, String)> = BTreeMap::new();
    let mut notes: BTreeMap<u64, String> = BTreeMap::new();
    for (i, e) in h.events.iter().enumerate() {
        match &e.what {
            What::Disconnected { .. } => {
                dropped.insert(e.who.clone());
            }
            What::Send {
                command: Command::Transfer { chat, notes: n, .. },
            } => {
                pending_notes.insert((e.who.clone(), e.req), (chat.0, n.clone()));
            }
            What::Reply { reply: Reply::Done } => {
                // A transfer's `done` makes its notes the chat's latest. Matched by
                // request id: a transfer refused (it raced a close or another
                // transfer) leaves the notes as they were.
                if let Some((chat, n)) = pending_notes.remove(&(e.who.clone(), e.req)) {
                    notes.insert(chat, n);
                }
            }
            What::Error { .. } => {
                pending_notes.remove(&(e.who.clone(), e.req));
            }
            What::Reply {
                reply: Reply::Sent { chat, seq },
            } if e.who.starts_with("user:") => {
                user_seqs
                    .entry(e.who.clone())
                    .or_default()
                    .entry(chat.0)
                    .or_default()
                    .insert(*seq);
            }
            What::Reply {
                reply: Reply::Accepted(v),
            } => {
                if let Some(n) = notes.get(&v.chat.0)
                    && v.origin == switchboard_server::domain::Origin::Transferred
                    && !v.notes.iter().any(|x| &x.notes == n)
                {
                    out.push(
                        Violation::new(
                            Invariant::TransferNotes,
                            format!("accepted a transferred chat without the notes {n:?}"),
                        )
                        .chat(v.chat.0)
                        .agent(e.who.trim_start_matches("agent:"))
                        .at(e.t_ms)
                        .proof(cite(i, e)),
                    );
                }
            }
            What::Notice {
                notice: Notice::Message { chat, entry },
            } => {
                let key = (e.who.clone(), chat.0);
                if let Some((prev, line)) = last.get(&key).copied()
                    && entry.seq <= prev
                {
                    let what = if entry.seq == prev {
                        "twice"
                    } else {
                        "out of order"
                    };
                    out.push(
                        Violation::new(
                            Invariant::MessageOrder,
                            format!(
                                "{} received message {} {what} (after message {prev})",
                                e.who, entry.seq
                            ),
                        )
                        .chat(chat.0)
                        .at(e.t_ms)
                        .proof(cite(line, &h.events[line]))
                        .proof(cite(i, e)),
                    );
                }
                let top = last.get(&key).map_or(0, |x| x.0).max(entry.seq);
                last.insert(key, (top, i));
                if e.who.starts_with("user:") {
                    user_seqs
                        .entry(e.who.clone())
                        .or_default()
                        .entry(chat.0)
                        .or_default()
                        .insert(entry.seq);
                }
            }
            _ => {}
        }
    }
    for (user, chats) in user_seqs {
        if dropped.contains(&user) {
            continue;
        }
        for (chat, seqs) in chats {
            let max = seqs.iter().max().copied().unwrap_or(0);
            let missing: Vec<u64> = (1..=max).filter(|s| !seqs.contains(s)).collect();
            if !missing.is_empty() {
                out.push(
                    Violation::new(
                        Invariant::MessageOrder,
                        format!("{user} never received message(s) {missing:?} of their chat (saw up to {max})"),
                    )
                    .chat(chat),
                );
            }
        }
    }
    out
}

/// A comparable key of a reply or notice.
///
/// Replies without an id of their own are keyed by their whole content: two `status`
/// replies of an agent differ in what they report. Keyed by kind alone, the reply to a
/// sign-in after a reconnect could pair with the reply lost in the drop (to a command
/// sent just before it), and the agreement walk would then put every later reply one
/// step early and report what the server sent during the outage as never received.
fn key_reply(r: &Reply) -> String {
    match r {
        Reply::Accepted(v) => format!("reply accepted {}", v.chat),
        Reply::Sent { chat, seq } => format!("reply sent {chat}/{seq}"),
        Reply::ChatStarted { chat, .. } => format!("reply chat_started {chat}"),
        Reply::Ticket(t) => format!("reply ticket {} {:?}", t.id, t.status),
        // Through `Value`, whose maps are sorted: the same reply gives the same key
        // whichever process (server or simulator) serialised it.
        other => {
            let v = serde_json::to_value(other).unwrap_or_default();
            format!(
                "reply {} {v}",
                v.get("reply").and_then(|k| k.as_str()).unwrap_or("")
            )
        }
    }
}

fn key_notice(n: &Notice) -> Option<String> {
    Some(match n {
        Notice::QueueChanged { .. } => return None,
        Notice::Assigned(v) => format!("notice assigned {}", v.chat),
        Notice::Resumed(v) => format!("notice resumed {}", v.chat),
        Notice::AgentJoined { chat, agent, .. } => format!("notice agent_joined {chat} {agent}"),
        Notice::AgentLeft { chat, agent, .. } => format!("notice agent_left {chat} {agent}"),
        Notice::Message { chat, entry } => format!("notice message {chat}/{}", entry.seq),
        Notice::TransferOffered { chat, .. } => format!("notice transfer_offered {chat}"),
        Notice::TransferWithdrawn { chat, .. } => format!("notice transfer_withdrawn {chat}"),
        Notice::StatusChanged(s) => format!("notice status_changed {}", s.agent),
        Notice::ChatEnded { chat, .. } => format!("notice chat_ended {chat}"),
        Notice::TicketCreated { chat, ticket } => {
            format!("notice ticket_created {chat} {}", ticket.id)
        }
    })
}

/// Per participant, what the journal says the server sent them, in Desk order.
fn journal_streams(journal: &[JournalEntry]) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut s: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for e in journal {
        let JournalResult::Ok { reply, deliveries } = &e.result else {
            continue;
        };
        let me = match &e.principal {
            Principal::Agent(a) => Some(format!("agent:{a}")),
            Principal::User(u) => Some(format!("user:{u}")),
            _ => None,
        };
        if let Some(me) = me
            && !matches!(e.command, Command::Disconnect | Command::Tick)
        {
            s.entry(me).or_default().push((key_reply(reply), e.seq));
        }
        for d in deliveries {
            let to = match &d.to {
                Recipient::Agent(a) => format!("agent:{a}"),
                Recipient::User(u) => format!("user:{u}"),
                Recipient::QueueMembers(_) => continue,
            };
            if let Some(k) = key_notice(&d.notice) {
                s.entry(to).or_default().push((k, e.seq));
            }
        }
    }
    s
}

/// Everyone the journal shows taking part: acting, or being told something
/// (`agent:<id>`, `user:<id>`, as the history names them).
pub fn participants(journal: &[JournalEntry]) -> Vec<String> {
    journal_streams(journal).into_keys().collect()
}

/// History and journal agree, participant by participant.
pub fn check_agreement(h: &History, journal: &[JournalEntry]) -> Vec<Violation> {
    let mut out = Vec::new();
    let streams = journal_streams(journal);
    // Per participant: (key, line) of what they recorded, and where they dropped.
    let mut seen: BTreeMap<&str, Vec<(String, usize)>> = BTreeMap::new();
    let mut drops: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in h.events.iter().enumerate() {
        let k = match &e.what {
            What::Reply { reply } => Some(key_reply(reply)),
            What::Notice { notice } => key_notice(notice),
            What::Disconnected { .. } => {
                drops.entry(&e.who).or_default().push(i);
                None
            }
            _ => None,
        };
        if let Some(k) = k {
            seen.entry(&e.who).or_default().push((k, i));
        }
    }
    let started_h: BTreeSet<u64> = h
        .events
        .iter()
        .filter_map(|e| match &e.what {
            What::Reply {
                reply: Reply::ChatStarted { chat, .. },
            } => Some(chat.0),
            _ => None,
        })
        .collect();
    let started_j: BTreeSet<u64> = journal
        .iter()
        .filter_map(|e| match &e.result {
            JournalResult::Ok {
                reply: Reply::ChatStarted { chat, .. },
                ..
            } => Some(chat.0),
            _ => None,
        })
        .collect();
    for c in started_h.difference(&started_j) {
        out.push(
            Violation::new(
                Invariant::Agreement,
                format!("a user was told chat {c} started but the journal never started it"),
            )
            .chat(*c),
        );
    }
    let empty = Vec::new();
    for (who, items) in &seen {
        let stream = streams.get(*who).unwrap_or(&empty);
        let my_drops = drops.get(who).map_or(&[][..], Vec::as_slice);
        agree(who, items, stream, my_drops, h, &mut out);
    }
    out
}

/// One participant's recorded items (key, history line) against what the journal says
/// was sent to them (key, seq), given the history lines where their connection dropped.
///
/// What one connection received (the items between two drops) must be a contiguous run
/// of what was sent (but for the replies a replaced connection kept, see [`fit`]);
/// across a drop anything may be missing. Each connection's run is placed at the
/// earliest point of the stream where it fits whole, so that an item received after a
/// reconnect is not paired with an equal one lost in the drop. Only a run that fits
/// nowhere is walked item by item, to say what is wrong with it.
fn agree(
    who: &str,
    items: &[(String, usize)],
    stream: &[(String, u64)],
    drops: &[usize],
    h: &History,
    out: &mut Vec<Violation>,
) {
    let mut j = 0;
    let mut rest = items;
    let mut prev_line: Option<usize> = None;
    while let Some((_, first)) = rest.first() {
        let after_drop = drops
            .iter()
            .any(|d| prev_line.is_none_or(|p| *d > p) && d < first);
        let next_drop = drops.iter().copied().filter(|d| d > first).min();
        let n = rest
            .iter()
            .take_while(|(_, line)| next_drop.is_none_or(|d| *line < d))
            .count();
        let (run, later) = rest.split_at(n);
        let end = if after_drop {
            (j..=stream.len()).find_map(|p| fit(run, stream, p, true))
        } else {
            fit(run, stream, j, false)
        };
        j = match end {
            Some(end) => end,
            None => walk(who, run, stream, j, after_drop, h, out),
        };
        prev_line = run.last().map(|(_, line)| *line);
        rest = later;
    }
}

/// Where `run` ends if it fits the stream from position `p`: item for item, except
/// that a run after a reconnect may skip the stream's replies that come before its own
/// first reply. Those answered the replaced connection: when a newer connection of an
/// agent replaces one the server has not yet seen close, it is handed the older one's
/// unsent notices, not its replies.
fn fit(
    run: &[(String, usize)],
    stream: &[(String, u64)],
    p: usize,
    reconnected: bool,
) -> Option<usize> {
    let is_reply = |k: &str| k.starts_with("reply ");
    let mut q = p;
    let mut replied = false;
    for (k, _) in run {
        loop {
            let (x, _) = stream.get(q)?;
            q += 1;
            if x == k {
                break;
            }
            if !(reconnected && !replied && is_reply(x)) {
                return None;
            }
        }
        replied |= is_reply(k);
    }
    Some(q)
}

/// Walks one connection's run item by item from stream position `j`, reporting what
/// was received out of place and what was sent but skipped (excused before the first
/// item found when the run follows a drop). Returns where the stream continues.
fn walk(
    who: &str,
    run: &[(String, usize)],
    stream: &[(String, u64)],
    mut j: usize,
    mut after_drop: bool,
    h: &History,
    out: &mut Vec<Violation>,
) -> usize {
    let invariant = |key: &str| {
        if key.starts_with("notice message") {
            Invariant::MessageOrder
        } else {
            Invariant::Agreement
        }
    };
    // The line of the last item recorded in its place: what was missed between it and
    // the next one was due in between.
    let mut previous: Option<usize> = None;
    for (k, line) in run {
        let e = &h.events[*line];
        let Some(off) = stream[j..].iter().position(|(x, _)| x == k) else {
            out.push(
                Violation::new(
                    invariant(k),
                    format!("{who} recorded `{k}` which the journal does not show being sent to them at that point (duplicate, reordered or invented)"),
                )
                .at(e.t_ms)
                .proof(cite(*line, e)),
            );
            continue;
        };
        // Everything skipped was sent and never received: due after the item recorded
        // before it (dated by that one, the earliest it could have come) and before this
        // one.
        if !after_drop {
            for (missed, seq) in &stream[j..j + off] {
                let due = if previous.is_some() {
                    "between the two records below"
                } else {
                    "before the record below"
                };
                let mut v = Violation::new(
                    invariant(missed),
                    format!(
                        "the server sent `{missed}` to {who}, who never received it (it was due {due})"
                    ),
                )
                .proof(format!("journal#{seq}"));
                match previous {
                    Some(p) => {
                        let before = &h.events[p];
                        v = v
                            .at(before.t_ms)
                            .proof(format!("after {}", cite(p, before)));
                    }
                    None => v = v.at(e.t_ms),
                }
                out.push(v.proof(format!("before {}", cite(*line, e))));
            }
        }
        after_drop = false;
        previous = Some(*line);
        j += off + 1;
    }
    j
}

#[cfg(test)]
mod tests {
    //! One agent, `a1`, and one user whose chat 1 it holds: journals written entry by
    //! entry (Desk order), histories event by event.
    use super::*;
    use serde_json::{Value, json};

    fn status(available_for: u32, my_chats: &[u64]) -> Value {
        json!({"reply": "status", "agent": "a1", "name": "a1", "queues": ["q"],
               "availability": {"available_for": available_for}, "auto_accept": true,
               "my_chats": my_chats, "queue_count": 0, "transferred_count": 0})
    }

    fn sent(seq: u64) -> Value {
        json!({"reply": "sent", "chat": 1, "seq": seq})
    }

    fn message(seq: u64) -> Value {
        json!({"notice": "message", "chat": 1,
               "entry": {"seq": seq, "at": seq, "from": "user", "kind": "text", "text": "hi"}})
    }

    fn entry(
        seq: u64,
        principal: Value,
        command: Value,
        reply: Value,
        deliveries: Value,
    ) -> JournalEntry {
        serde_json::from_value(json!({"seq": seq, "at_ms": seq, "wall_ms": seq,
            "principal": principal, "command": command,
            "ok": {"reply": reply, "deliveries": deliveries}}))
        .expect("a journal entry")
    }

    /// Journal entries in order, numbered from 1.
    struct Journal(Vec<JournalEntry>);

    impl Journal {
        fn agent(mut self, command: Value, reply: Value) -> Self {
            let seq = self.0.len() as u64 + 1;
            self.0.push(entry(
                seq,
                json!({"agent": "a1"}),
                command,
                reply,
                json!([]),
            ));
            self
        }

        fn sign_in(self, reply: Value) -> Self {
            self.agent(json!({"type": "sign_in"}), reply)
        }

        fn set(self, n: u32, reply: Value) -> Self {
            let command = json!({"type": "set_availability", "availability": {"available_for": n}});
            self.agent(command, reply)
        }

        fn disconnect(self) -> Self {
            self.agent(json!({"type": "disconnect"}), json!({"reply": "done"}))
        }

        fn agent_sends(self, chat_seq: u64) -> Self {
            self.agent(
                json!({"type": "send", "chat": 1, "text": "ok"}),
                sent(chat_seq),
            )
        }

        /// The user sends message `chat_seq`; it is delivered to the agent.
        fn user_sends(mut self, chat_seq: u64) -> Self {
            let seq = self.0.len() as u64 + 1;
            let to_agent = json!([{"to": {"agent": "a1"}, "notice": message(chat_seq)}]);
            let command = json!({"type": "send", "chat": 1, "text": "hi"});
            self.0.push(entry(
                seq,
                json!({"user": 1}),
                command,
                sent(chat_seq),
                to_agent,
            ));
            self
        }
    }

    fn reply(v: Value) -> What {
        What::reply(&serde_json::from_value::<Reply>(v).expect("a reply"))
    }

    fn notice(v: Value) -> What {
        What::notice(&serde_json::from_value(v).expect("a notice"))
    }

    fn dropped() -> What {
        What::Disconnected {
            reason: "dropped".into(),
        }
    }

    /// The agent's history: its events one millisecond apart.
    fn history(events: Vec<What>) -> History {
        let mut h = History::new(true);
        for (i, what) in events.into_iter().enumerate() {
            h.push(i as f64, None, "agent:a1", None, what);
        }
        h
    }

    fn never_received(found: &[Violation], what: &str) -> bool {
        found
            .iter()
            .any(|v| v.message.contains(what) && v.message.contains("never received"))
    }

    /// An agent's availability change is answered, the connection drops before the
    /// answer arrives, a user's message comes during the outage, and after the
    /// reconnect the sign-in and two more availability changes are answered (all with
    /// `status` replies). Keyed by kind alone, the sign-in's reply paired with the lost
    /// one and the message and a later reply were reported as never received.
    #[test]
    fn a_reply_lost_in_a_drop_does_not_shift_the_later_ones() {
        let journal = Journal(Vec::new())
            .sign_in(status(2, &[1]))
            .set(1, status(1, &[1]))
            .disconnect()
            .user_sends(7)
            .sign_in(status(0, &[]))
            .set(2, status(2, &[]))
            .set(2, status(2, &[11]))
            .0;
        let mut h = history(vec![
            reply(status(2, &[1])),
            dropped(),
            reply(status(0, &[])),
            reply(status(2, &[])),
            reply(status(2, &[11])),
        ]);
        assert_eq!(check_agreement(&h, &journal), Vec::new());

        // Losing a reply without a drop is still found: between the reply recorded
        // before it (history line 3, at 2 ms) and the one after it (line 4).
        h.events.remove(3);
        let found = check_agreement(&h, &journal);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(never_received(&found, "reply status"), "{found:?}");
        assert_eq!(found[0].at_ms, Some(2.0), "{found:?}");
        let evidence = &found[0].evidence;
        assert!(
            evidence[1].starts_with("after history:3 t=2 ms")
                && evidence[2].starts_with("before history:4 t=4 ms"),
            "{evidence:?}"
        );
    }

    /// The reply lost in the drop and the sign-in's after the reconnect are equal (an
    /// agent with no chats made itself unavailable, then signed in again): what the new
    /// connection received is placed where it fits whole, after the outage.
    #[test]
    fn a_connection_s_replies_are_placed_where_they_fit_whole() {
        let journal = Journal(Vec::new())
            .sign_in(status(2, &[]))
            .set(0, status(0, &[]))
            .disconnect()
            .user_sends(1)
            .sign_in(status(0, &[]))
            .set(2, status(2, &[]))
            .0;
        let mut h = history(vec![
            reply(status(2, &[])),
            dropped(),
            reply(status(0, &[])),
            reply(status(2, &[])),
        ]);
        assert_eq!(check_agreement(&h, &journal), Vec::new());

        // Without the drop, the same history is wrong: the second reply never came.
        h.events.remove(1);
        let found = check_agreement(&h, &journal);
        assert!(never_received(&found, "reply status"), "{found:?}");
    }

    /// A newer connection replaced the old one before the server saw it close: it was
    /// handed the old one's unsent notices (not its replies) ahead of its own sign-in
    /// reply. The reply left behind is not reported; one missing after the new
    /// connection's first reply is.
    #[test]
    fn a_replaced_connection_s_replies_may_be_missing_before_the_new_sign_in() {
        let journal = Journal(Vec::new())
            .sign_in(status(2, &[1]))
            .user_sends(1)
            .agent_sends(2)
            .user_sends(3)
            .sign_in(status(2, &[1]))
            .agent_sends(4)
            .user_sends(5)
            .0;
        let mut h = history(vec![
            reply(status(2, &[1])),
            dropped(),
            notice(message(1)),
            notice(message(3)),
            reply(status(2, &[1])),
            reply(sent(4)),
            notice(message(5)),
        ]);
        assert_eq!(check_agreement(&h, &journal), Vec::new());

        // The new connection's own reply missing is still found.
        h.events.remove(5);
        let found = check_agreement(&h, &journal);
        assert!(never_received(&found, "`reply sent 1/4`"), "{found:?}");
    }
}
