//! That routing keeps moving: no chat waits while an online agent has a free slot
//! (work conservation), and what the journal leaves open when it ends.

use super::model::St;
use super::{Replay, Starving, cite, target};
use crate::checker::violation::{Invariant, Violation};
use std::collections::BTreeMap;
use switchboard_server::domain::{AgentId, ChatId, QueueId};
use switchboard_server::protocol::JournalEntry;

impl Replay<'_> {
    /// Under auto-accept: a chat waiting in a queue while an online member has a free
    /// slot, for longer than the bound. Each chat's wait is timed on its own, from when
    /// a member that may take it had a free slot: one chat taken and the next one
    /// waiting in its place are two waits, not one, and a chat kept waiting behind
    /// others is timed all along, not only once it heads its line.
    pub(super) fn work_conserving(&mut self, e: &JournalEntry) {
        // Every chat waiting in a line an online member with a free slot could take
        // from, with the first such member (on a correct Desk there is none: routing
        // leaves no chat waiting beside a free slot).
        let mut found: BTreeMap<ChatId, AgentId> = BTreeMap::new();
        if !self.queued.is_empty() {
            let mut free: BTreeMap<&QueueId, Vec<&AgentId>> = BTreeMap::new();
            for (a, m) in &self.agents {
                if m.free_slot() {
                    for q in &m.queues {
                        free.entry(q).or_default().push(a);
                    }
                }
            }
            for (q, members) in free {
                for c in self.queued.all(q) {
                    // Never a chat the member transferred itself: routing does not
                    // give it back to them.
                    let by = self.chats.get(&c).and_then(|ch| ch.transferred_by.as_ref());
                    if let Some(a) = members.iter().find(|a| by != Some(**a)) {
                        found.entry(c).or_insert_with(|| (*a).clone());
                    }
                }
            }
        }
        self.starving.retain(|c, _| found.contains_key(c));
        for (c, a) in found {
            let s = self.starving.entry(c).or_insert(Starving {
                since: e.at_ms,
                seq: e.seq,
                agent: a,
                reported: false,
            });
            if !s.reported && e.at_ms.saturating_sub(s.since) > self.opts.work_bound_ms {
                s.reported = true;
                self.out.push(
                    Violation::new(
                        Invariant::WorkConserving,
                        format!(
                            "chat {c} waited in its queue from {} ms to at least {} ms while {} had a free slot",
                            s.since, e.at_ms, s.agent
                        ),
                    )
                    .chat(c.0)
                    .agent(s.agent.as_str())
                    .at(s.since as f64)
                    .proof(format!("journal#{} (start of the wait)", s.seq))
                    .proof(cite(e)),
                );
            }
        }
    }

    /// Messages in a transcript that never went to the other side.
    pub(super) fn undelivered_at_end(&mut self) {
        for ((c, seq), (to, at)) in std::mem::take(&mut self.undelivered) {
            self.out.push(
                Violation::new(
                    Invariant::Transcript,
                    format!(
                        "message {seq} of chat {c} is in the transcript but was never sent to {to}"
                    ),
                )
                .chat(c.0)
                .proof(format!("journal#{at} (the message entered the transcript)")),
            );
        }
    }

    /// The chats open when the run ended at `end_ms`, and those of them lost: still
    /// owned by an agent gone for longer than the grace period.
    pub(super) fn open_chats_at_end(&mut self, end_ms: u64) {
        for (id, c) in &self.chats {
            let state = match &c.st {
                St::Ended(_) => continue,
                St::Queued => "queued".to_string(),
                St::Transferred(to) => format!("transferred to {}", target(to)),
                St::Active => match &c.owner {
                    Some((a, _, _)) => format!("active with {a}"),
                    None => "active".into(),
                },
            };
            if let (St::Active, Some((a, _, _))) = (&c.st, &c.owner)
                && let Some(m) = self.agents.get(a)
            {
                let gone = match m.offline_since {
                    Some(t) => {
                        end_ms.saturating_sub(t)
                            > self.opts.agent_grace_ms + self.opts.work_bound_ms
                    }
                    None => !m.signed_in,
                };
                if gone {
                    self.out.push(
                        Violation::new(
                            Invariant::ChatEnd,
                            format!("chat {id} is lost: still owned by {a}, whose connection dropped and did not come back within the grace period"),
                        )
                        .chat(id.0)
                        .agent(a.as_str())
                        .at(m.offline_since.unwrap_or(end_ms) as f64),
                    );
                }
            }
            self.facts.open_at_end.insert(*id, state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Replay;
    use super::super::model::AgentM;
    use crate::checker::Options;
    use switchboard_server::domain::{
        AgentId, Availability, ChatId, Command, Principal, QueueId, Reply,
    };
    use switchboard_server::protocol::{JournalEntry, JournalResult};

    /// A journal entry that does nothing, at `at_ms`.
    fn tick(seq: u64, at_ms: u64) -> JournalEntry {
        JournalEntry {
            seq,
            at_ms,
            wall_ms: at_ms,
            principal: Principal::System,
            command: Command::Tick,
            result: JournalResult::Ok {
                reply: Reply::Done,
                deliveries: Vec::new(),
            },
        }
    }

    /// A replay with alice signed in to queue `q`, auto-accept, available for `slots`.
    fn with_alice(opts: &Options, slots: u8) -> (Replay<'_>, QueueId) {
        let mut r = Replay::new(opts);
        let q = QueueId::from("q");
        r.agents.insert(
            AgentId::from("alice"),
            AgentM {
                queues: vec![q.clone()],
                signed_in: true,
                auto_accept: true,
                availability: Some(Availability::AvailableFor(slots)),
                ..AgentM::default()
            },
        );
        (r, q)
    }

    /// Each chat's wait is its own: one chat waiting 600 ms, taken, and the next
    /// waiting 600 ms in its place, beside a free slot all along, is not a wait of
    /// 1,200 ms over the 1,000 ms bound; the second one waiting on past it is.
    #[test]
    fn each_chat_s_wait_is_timed_on_its_own() {
        let opts = Options::default();
        let (mut r, q) = with_alice(&opts, 1);
        r.queued.join(&q, ChatId(1));
        r.work_conserving(&tick(1, 0));
        r.queued.leave(&q, ChatId(1));
        r.queued.join(&q, ChatId(2));
        r.work_conserving(&tick(2, 600));
        r.work_conserving(&tick(3, 1200));
        assert!(r.out.is_empty(), "{:?}", r.out);
        r.work_conserving(&tick(4, 1700));
        assert_eq!(r.out.len(), 1, "{:?}", r.out);
        assert!(
            r.out[0]
                .message
                .starts_with("chat 2 waited in its queue from 600 ms to at least 1700 ms"),
            "{:?}",
            r.out
        );
    }

    /// A chat kept waiting behind others beside a free slot is timed from when the slot
    /// was there, not from when it came to head its line: three chats back in the
    /// queue at 0, a Desk that routes one per step at 600 and 1200 ms, and the third
    /// waited 1,200 ms.
    #[test]
    fn a_chat_waiting_behind_others_is_timed_all_along() {
        let opts = Options::default();
        let (mut r, q) = with_alice(&opts, 4);
        for c in 2..=4 {
            r.queued.join(&q, ChatId(c));
        }
        r.work_conserving(&tick(1, 0));
        r.queued.leave(&q, ChatId(2));
        r.work_conserving(&tick(2, 600));
        r.queued.leave(&q, ChatId(3));
        r.work_conserving(&tick(3, 1200));
        assert!(
            r.out.iter().any(|v| v
                .message
                .starts_with("chat 4 waited in its queue from 0 ms")),
            "{:?}",
            r.out
        );
    }
}
