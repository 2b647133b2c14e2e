//! `random`: uniformly at random among the eligible agents, from the Desk's seeded
//! generator (the same seed and commands give the same choices).

use super::{Load, Policy};
use crate::domain::ids::AgentId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Agents in a vector with an index for `O(1)` removal (swap-remove).
#[derive(Default)]
pub(super) struct RandomPool {
    agents: Vec<AgentId>,
    index: HashMap<AgentId, usize>,
}

impl Policy for RandomPool {
    fn upsert(&mut self, load: &Load) {
        if !self.index.contains_key(&load.agent) {
            self.index.insert(load.agent.clone(), self.agents.len());
            self.agents.push(load.agent.clone());
        }
    }

    fn remove(&mut self, agent: &AgentId) {
        if let Some(i) = self.index.remove(agent) {
            self.agents.swap_remove(i);
            if let Some(moved) = self.agents.get(i) {
                self.index.insert(moved.clone(), i);
            }
        }
    }

    fn pick(&mut self, exclude: Option<&AgentId>, rng: &mut ChaCha8Rng) -> Option<AgentId> {
        let skip = exclude.and_then(|a| self.index.get(a).copied());
        let choices = self.agents.len() - usize::from(skip.is_some());
        if choices == 0 {
            return None;
        }
        let mut i = rng.random_range(0..choices);
        if skip.is_some_and(|s| i >= s) {
            i += 1;
        }
        self.agents.get(i).cloned()
    }

    fn len(&self) -> usize {
        self.agents.len()
    }

    fn contains(&self, agent: &AgentId) -> bool {
        self.index.contains_key(agent)
    }
}
