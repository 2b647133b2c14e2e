//! `round-robin`: agents in sign-in order, each decision continuing after the agent
//! picked last in this queue and wrapping around.

use super::{Load, Policy};
use crate::domain::ids::AgentId;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeSet, HashMap};

#[derive(Default)]
pub(super) struct RoundRobin {
    seqs: HashMap<AgentId, u64>,
    ring: BTreeSet<(u64, AgentId)>,
    last: Option<u64>,
}

impl Policy for RoundRobin {
    fn upsert(&mut self, load: &Load) {
        self.remove(&load.agent);
        self.seqs.insert(load.agent.clone(), load.sign_in_seq);
        self.ring.insert((load.sign_in_seq, load.agent.clone()));
    }

    fn remove(&mut self, agent: &AgentId) {
        if let Some(seq) = self.seqs.remove(agent) {
            self.ring.remove(&(seq, agent.clone()));
        }
    }

    fn pick(&mut self, exclude: Option<&AgentId>, _rng: &mut ChaCha8Rng) -> Option<AgentId> {
        let after = self.last.map_or(0, |s| s.saturating_add(1));
        let probe = (after, AgentId::from(""));
        let (seq, agent) = self
            .ring
            .range(probe.clone()..)
            .chain(self.ring.range(..probe))
            .find(|(_, a)| Some(a) != exclude)?
            .clone();
        self.last = Some(seq);
        Some(agent)
    }

    fn len(&self) -> usize {
        self.seqs.len()
    }

    fn contains(&self, agent: &AgentId) -> bool {
        self.seqs.contains_key(agent)
    }
}
