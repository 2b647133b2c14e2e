//! Administration: the auto-accept settings and provisioning of queues and agents.

use super::Desk;
use crate::domain::agent::{Agent, AgentProfile};
use crate::domain::command::Command;
use crate::domain::error::DeskError;
use crate::domain::ids::QueueId;
use crate::domain::outcome::{Delivery, Reply};

impl Desk {
    pub(super) fn admin_command(
        &mut self,
        cmd: Command,
        _out: &mut [Delivery],
    ) -> Result<Reply, DeskError> {
        match cmd {
            Command::SetRouting { routing } => {
                routing.validate().map_err(DeskError::InvalidConfig)?;
                self.config.routing = routing;
                self.rebuild_pools();
                self.to_route.extend(self.queues.keys().cloned());
                Ok(Reply::Routing(self.config.routing.clone()))
            }
            Command::AddQueue { queue } => {
                self.add_queue(queue)?;
                Ok(Reply::Done)
            }
            Command::AddAgent { agent } => {
                self.add_agent(agent)?;
                Ok(Reply::Done)
            }
            other => Err(DeskError::WrongRole {
                role: "the admin",
                command: other.name(),
            }),
        }
    }

    pub(super) fn add_queue(&mut self, q: QueueId) -> Result<(), DeskError> {
        if q.as_str().trim().is_empty() {
            return Err(DeskError::Empty("queue name"));
        }
        if self.queues.contains_key(&q) {
            return Err(DeskError::AlreadyExists(q.to_string()));
        }
        let state = self.new_queue_state();
        self.queues.insert(q, state);
        Ok(())
    }

    pub(super) fn add_agent(&mut self, mut profile: AgentProfile) -> Result<(), DeskError> {
        // A queue named twice would list its chats twice.
        let mut seen = std::collections::BTreeSet::new();
        profile.queues.retain(|q| seen.insert(q.clone()));
        if profile.id.as_str().trim().is_empty() {
            return Err(DeskError::Empty("agent id"));
        }
        if self.agents.contains_key(&profile.id) {
            return Err(DeskError::AlreadyExists(profile.id.to_string()));
        }
        if let Some(q) = profile
            .queues
            .iter()
            .find(|q| !self.queues.contains_key(*q))
        {
            return Err(DeskError::UnknownQueue(q.clone()));
        }
        for q in &profile.queues {
            if let Some(qs) = self.queues.get_mut(q) {
                qs.members.insert(profile.id.clone());
            }
        }
        self.agents.insert(profile.id.clone(), Agent::new(profile));
        Ok(())
    }
}
