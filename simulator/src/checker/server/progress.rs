//! That routing keeps moving: no chat waits while an online agent has a free slot
//! (work conservation), and what the journal leaves open when it ends.

use super::model::St;
use super::{Replay, cite, target};
use crate::checker::violation::{Invariant, Violation};
use switchboard_server::domain::{AgentId, ChatId};
use switchboard_server::protocol::JournalEntry;

impl Replay<'_> {
    /// Under auto-accept: a chat waiting in a queue while an online member has a free
    /// slot, for longer than the bound.
    pub(super) fn work_conserving(&mut self, e: &JournalEntry) {
        // The oldest queued chat an online member with a free slot could take, and the
        // first such member.
        let mut found: Option<(ChatId, AgentId)> = None;
        if !self.queued.is_empty() {
            for (a, m) in &self.agents {
                if !m.free_slot() {
                    continue;
                }
                for q in &m.queues {
                    // The first chat of the line this agent may take: never one it
                    // transferred itself.
                    let mine = |c: &&ChatId| {
                        self.chats
                            .get(c)
                            .is_none_or(|ch| ch.transferred_by.as_ref() != Some(a))
                    };
                    if let Some(c) = self.queued.first(q, mine)
                        && found.as_ref().is_none_or(|(best, _)| c < *best)
                    {
                        found = Some((c, a.clone()));
                    }
                }
            }
        }
        match (found, &self.starved_since) {
            (None, _) => {
                self.starved_since = None;
                self.starved_reported = false;
            }
            (Some((c, a)), None) => self.starved_since = Some((e.at_ms, e.seq, c, a)),
            (Some(_), Some((since, seq, c, a))) => {
                if !self.starved_reported
                    && e.at_ms.saturating_sub(*since) > self.opts.work_bound_ms
                {
                    self.starved_reported = true;
                    self.out.push(
                        Violation::new(
                            Invariant::WorkConserving,
                            format!(
                                "chat {c} waited in its queue from {since} ms to at least {} ms while {a} had a free slot",
                                e.at_ms
                            ),
                        )
                        .chat(c.0)
                        .agent(a.as_str())
                        .at(*since as f64)
                        .proof(format!("journal#{seq} (start of the wait)"))
                        .proof(cite(e)),
                    );
                }
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
