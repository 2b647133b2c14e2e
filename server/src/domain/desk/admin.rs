//! Administration: the auto-accept settings and provisioning of queues and agents.

use super::Desk;
use crate::domain::agent::{Agent, AgentProfile};
use crate::domain::command::Command;
use crate::domain::error::DeskError;
use crate::domain::ids::QueueId;
use crate::domain::outcome::{Delivery, Notice, Recipient, Reply};

impl Desk {
    pub(super) fn admin_command(
        &mut self,
        cmd: Command,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, DeskError> {
        match cmd {
            Command::SetRouting { routing } => {
                routing.validate().map_err(DeskError::InvalidConfig)?;
                let flipped = routing.auto_accept != self.config.routing.auto_accept;
                // The pools start afresh only for another policy or a switch between
                // routing and not: a change of anything else keeps where each policy
                // stands (round-robin's place in its ring).
                let repool = routing.policy != self.config.routing.policy
                    || routing.routes_automatically() != self.config.routing.routes_automatically();
                self.config.routing = routing;
                if flipped {
                    self.carry_availability_over();
                    // What they declared is gone: each is told where they stand now (one
                    // in its grace period hears it in the status of its next sign-in).
                    let signed_in: Vec<_> = self
                        .agents
                        .values()
                        .filter(|a| a.online())
                        .map(|a| a.profile.id.clone())
                        .collect();
                    for a in signed_in {
                        out.push(Delivery {
                            notice: Notice::StatusChanged(Box::new(self.status(&a))),
                            to: Recipient::Agent(a),
                        });
                    }
                }
                self.rebuild_pools(repool);
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

    /// R2 after Agent Auto Accept was switched on or off: what agents declared was of
    /// the other kind ("Available" or "Available for N"). A signed-in agent who was
    /// not available stays so; one who was takes the new mode's sign-in default
    /// (available; "Available for" the default N, where 0 means not available) until
    /// they declare again.
    fn carry_availability_over(&mut self) {
        let routing = &self.config.routing;
        let (auto, default_n) = (routing.auto_accept, routing.default_available_for);
        for agent in self.agents.values_mut().filter(|a| a.signed_in) {
            agent.available_for = default_n;
            agent.available = agent.available && (!auto || default_n > 0);
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
