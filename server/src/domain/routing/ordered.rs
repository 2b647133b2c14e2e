//! A pool kept sorted by a policy's key: the first agent in key order is picked.

use super::{Load, Policy};
use crate::domain::ids::AgentId;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeSet, HashMap};

/// Agents ordered by `key(load)`, ties broken by the agent id.
pub struct OrderedPool<K: Ord + Clone + Send> {
    key: fn(&Load) -> K,
    keys: HashMap<AgentId, K>,
    order: BTreeSet<(K, AgentId)>,
}

impl<K: Ord + Clone + Send> OrderedPool<K> {
    /// An empty pool ordered by `key`.
    pub fn new(key: fn(&Load) -> K) -> Self {
        OrderedPool {
            key,
            keys: HashMap::new(),
            order: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Clone + Send> Policy for OrderedPool<K> {
    fn upsert(&mut self, load: &Load) {
        self.remove(&load.agent);
        let k = (self.key)(load);
        self.keys.insert(load.agent.clone(), k.clone());
        self.order.insert((k, load.agent.clone()));
    }

    fn remove(&mut self, agent: &AgentId) {
        if let Some(k) = self.keys.remove(agent) {
            self.order.remove(&(k, agent.clone()));
        }
    }

    fn pick(&mut self, exclude: Option<&AgentId>, _rng: &mut ChaCha8Rng) -> Option<AgentId> {
        self.order
            .iter()
            .map(|(_, a)| a)
            .find(|a| Some(*a) != exclude)
            .cloned()
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn contains(&self, agent: &AgentId) -> bool {
        self.keys.contains_key(agent)
    }
}
