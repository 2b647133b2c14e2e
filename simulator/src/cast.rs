//! The cast of a run: turns a scenario into the Desk's set-up (queues, agent profiles,
//! routing, reference data) and the plans its virtual users and agents follow. Both
//! runtimes start from here, so live and virtual runs of a scenario are the same run.

use crate::behaviour::agent::{DroppedChats, TransferTo};
use crate::behaviour::{AgentFaults, AgentPlan, UserPlan};
use crate::scenario::Scenario;
use std::sync::Arc;
use switchboard_server::domain::{
    AgentId, AgentProfile, Customer, DeskConfig, DisconnectRules, KnowledgeArticle, Outage,
    QueueId, ReferenceData, RoutingConfig, Template, TemplateField,
};

/// One virtual agent to run.
#[derive(Clone, Debug)]
pub struct AgentRole {
    /// Its login name (`<group>-<n>`).
    pub id: AgentId,
    /// What it does.
    pub plan: Arc<AgentPlan>,
    /// Index of its group in the scenario.
    pub group: usize,
    /// Its number in the group, from 0.
    pub index: u32,
}

/// Everything a runtime needs to start a scenario.
#[derive(Clone, Debug)]
pub struct Cast {
    /// Support queues.
    pub queues: Vec<QueueId>,
    /// Agent profiles to provision.
    pub profiles: Vec<AgentProfile>,
    /// Virtual agents, in group order.
    pub agents: Vec<AgentRole>,
    /// One plan per user stream, in scenario order.
    pub user_plans: Vec<Arc<UserPlan>>,
    /// The Desk's configuration.
    pub desk: DeskConfig,
    /// Reference data for the embedded server.
    pub reference: ReferenceData,
}

/// What users type as their issue; each matches some article and template below, so
/// agents see suggestions on the Resources tab.
pub const SUBJECTS: [&str; 6] = [
    "my laptop will not boot",
    "vpn token expired",
    "printer jams on every page",
    "email is very slow today",
    "password reset needed",
    "request a new monitor",
];

impl Cast {
    /// The cast of `scenario`.
    pub fn of(scenario: &Scenario) -> Cast {
        let routing = scenario.routing_config();
        let auto = routing.auto_accept;
        let queues: Vec<QueueId> = scenario
            .queues
            .iter()
            .map(|q| q.name.as_str().into())
            .collect();
        let names = |g: usize| -> Vec<AgentId> {
            let group = &scenario.agents[g];
            (0..group.count)
                .map(|i| Scenario::agent_name(group, i).into())
                .collect()
        };
        let mut profiles = Vec::new();
        let mut agents = Vec::new();
        let f = &scenario.faults;
        let dropped = Arc::new(DroppedChats::default());
        let grace = f
            .agent_grace
            .unwrap_or(DisconnectRules::default().agent_grace);
        for (g, group) in scenario.agents.iter().enumerate() {
            let transfer = group.transfer.as_ref().map(|t| {
                let to = match (&t.to_queue, &t.to_agent_group) {
                    (Some(q), _) => TransferTo::Queue(q.as_str().into()),
                    (None, Some(target)) => {
                        let tg = scenario.agents.iter().position(|x| &x.group == target);
                        TransferTo::Agents(tg.map(names).unwrap_or_default())
                    }
                    (None, None) => TransferTo::Queue(group.queues[0].as_str().into()),
                };
                (t.probability, to, t.notes.clone())
            });
            let ticket = group.ticket.as_ref();
            let plan = Arc::new(AgentPlan {
                auto_accept: auto,
                pulls: !auto || group.manual_accept,
                available_for: group.available_for,
                accept_delay: group.accept_delay,
                reply_delay: group.reply_delay,
                handle_time: group.handle_time,
                transfer,
                ticket_probability: ticket.map_or(0.0, |t| t.probability),
                work_order_share: ticket.map_or(0.0, |t| t.work_order_share),
                template_probability: ticket.map_or(0.0, |t| t.template_probability),
                share_probability: group.share_article_probability,
                pin_probability: group.pin_article_probability,
                faults: AgentFaults {
                    drop_probability: f.drop_probability,
                    drop_after: f.drop_after,
                    reconnect_within_grace: f.reconnect_within_grace,
                    reconnect_delay: f.reconnect_delay,
                    grace,
                    accept_burst: f.accept_burst,
                    transfer_close_race: f.transfer_close_race,
                    race_queue: group.queues.first().map(|q| q.as_str().into()),
                    flip_every: f.availability_flip_every,
                    stall_probability: f.slow_consumer_probability,
                    stall_at: f.slow_consumer_at,
                    stall_for: f.slow_consumer_stall,
                    dropped: Arc::clone(&dropped),
                },
                seed: scenario.seed,
            });
            for (i, id) in names(g).into_iter().enumerate() {
                profiles.push(AgentProfile {
                    id: id.clone(),
                    name: id.to_string(),
                    permissions: [switchboard_server::domain::CHAT_PERMISSION.to_string()].into(),
                    queues: group.queues.iter().map(|q| q.as_str().into()).collect(),
                });
                agents.push(AgentRole {
                    id,
                    plan: plan.clone(),
                    group: g,
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                });
            }
        }
        let user_plans = scenario
            .users
            .iter()
            .map(|u| {
                // The user ends the chat unless every group the chat can reach (serving
                // its queue, or where their transfers lead) decides its length itself:
                // a chat transferred to a group that leaves it to the user would
                // otherwise never end.
                let reached = scenario.groups_reached_from(&u.queue);
                let agents_decide = !reached.is_empty()
                    && reached
                        .iter()
                        .all(|&i| scenario.agents[i].handle_time.is_some());
                Arc::new(UserPlan {
                    queue: u.queue.as_str().into(),
                    subjects: SUBJECTS.iter().map(|s| s.to_string()).collect(),
                    source: u.source,
                    customer: Some("jdoe".into()),
                    patience: u.patience,
                    messages: u.messages,
                    think_time: u.think_time,
                    closes: !agents_decide,
                    abandon_on_join: f.abandon_on_join,
                    close_on_reply: f.transfer_close_race,
                })
            })
            .collect();
        Cast {
            queues,
            profiles,
            agents,
            user_plans,
            desk: DeskConfig {
                // Every virtual agent declares its own "Available for N" right after
                // signing in; until then nothing may be routed to it (an agent that
                // pulls by hand would otherwise be handed chats as it signs in).
                routing: RoutingConfig {
                    default_available_for: 0,
                    ..routing
                },
                disconnect: match f.agent_grace {
                    Some(agent_grace) => DisconnectRules {
                        agent_grace,
                        ..DisconnectRules::default()
                    },
                    None => DisconnectRules::default(),
                },
                seed: crate::seed::derive_seed(scenario.seed, "desk", 0),
            },
            reference: reference_data(),
        }
    }
}

/// The built-in reference data: a small knowledge base, templates (one with a blank
/// required field, so tickets from it go through the draft → confirm path), outages and
/// a customer record.
pub fn reference_data() -> ReferenceData {
    let article = |id: &str, title: &str, keywords: &[&str]| KnowledgeArticle {
        id: id.into(),
        title: title.into(),
        body: format!("How to fix: {title}."),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        link: format!("https://kb.example.com/{id}"),
    };
    let field = |name: &str, required: bool, value: &str| TemplateField {
        name: name.into(),
        required,
        value: value.into(),
    };
    ReferenceData {
        articles: vec![
            article("KA-0001", "Laptop does not boot", &["laptop", "boot"]),
            article("KA-0002", "Renew an expired VPN token", &["vpn", "token"]),
            article("KA-0003", "Printer paper jams", &["printer", "jams"]),
            article("KA-0004", "Slow email in Outlook", &["email", "slow"]),
            article("KA-0005", "Reset your password", &["password", "reset"]),
            article("KA-0006", "Order a monitor", &["monitor", "request"]),
        ],
        templates: vec![
            Template {
                id: "TPL-LAPTOP".into(),
                name: "Laptop repair".into(),
                keywords: vec!["laptop".into(), "boot".into()],
                fields: vec![
                    field("asset_tag", true, ""),
                    field("urgency", true, "medium"),
                ],
            },
            Template {
                id: "TPL-ACCESS".into(),
                name: "Access and password".into(),
                keywords: vec!["password".into(), "vpn".into(), "token".into()],
                fields: vec![field("urgency", true, "high")],
            },
            Template {
                id: "TPL-HARDWARE".into(),
                name: "Hardware request".into(),
                keywords: vec!["monitor".into(), "printer".into(), "request".into()],
                fields: vec![
                    field("cost_center", true, ""),
                    field("urgency", false, "low"),
                ],
            },
            Template {
                id: "TPL-EMAIL".into(),
                name: "Email problem".into(),
                keywords: vec!["email".into(), "slow".into()],
                fields: vec![field("urgency", true, "medium")],
            },
        ],
        outages: vec![Outage {
            id: "OUT-0001".into(),
            title: "Email delivery delayed".into(),
            service: "email".into(),
        }],
        customers: vec![Customer {
            id: "jdoe".into(),
            name: "Jane Doe".into(),
            contact: "jane.doe@example.com".into(),
            site: "Austin".into(),
            company: "Calbro Services".into(),
            tickets: vec!["INC000000042".into()],
            assets: vec!["LAPTOP-0007".into()],
        }],
    }
}
