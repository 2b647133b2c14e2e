//! Cross-field rules that serde cannot check: declared queues, capacity 1..=4,
//! probabilities, unique names, a consistent routing configuration. Each problem is
//! reported with the path of the field at fault. Also what is valid but likely not
//! meant ([`advisories`]).

use super::location::FieldPath;
use super::model::{AgentGroup, Scenario};
use std::collections::{HashMap, HashSet};
use switchboard_server::domain::PolicyKind;
use switchboard_server::domain::config::MAX_AVAILABLE_FOR;

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// The field at fault.
    pub path: FieldPath,
    /// What is wrong, and what would be right.
    pub message: String,
}

struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn fail(&mut self, path: FieldPath, message: impl Into<String>) {
        self.issues.push(Issue {
            path,
            message: message.into(),
        });
    }

    fn probability(&mut self, path: FieldPath, p: f64) {
        if !(0.0..=1.0).contains(&p) {
            self.fail(
                path,
                format!("a probability must be between 0 and 1, got {p}"),
            );
        }
    }
}

/// Longest `duration` or `drain`: a year (a longer span is a typo, not a plan).
const MAX_SPAN: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);
/// The most users a scenario's arrivals may add up to (in expectation): a hundred
/// times the million-chat day, already hours of virtual time.
const MAX_EXPECTED_USERS: f64 = 100_000_000.0;
/// Slowest and fastest `time_scale`.
const MIN_TIME_SCALE: f64 = 0.001;
const MAX_TIME_SCALE: f64 = 1_000_000.0;
/// Most agents in one group, and in all groups together (each is a participant with
/// its own state, and a live run's connection).
pub(super) const MAX_GROUP: u32 = 1_000_000;
const MAX_AGENTS: u64 = MAX_GROUP as u64;

/// A large count as people read it: whole below a billion, in scientific notation
/// above (`2.400e14`).
fn about(n: f64) -> String {
    if n < 1e9 {
        format!("{n:.0}")
    } else {
        format!("{n:.3e}")
    }
}

/// The longest scenario name: it names the default report folder
/// (`reports/<name>/…`), and file systems allow 255 bytes per name.
const MAX_NAME_BYTES: usize = 200;

/// Whether `name` can be picked out by a `--set agents.<name>.…` or
/// `users.<name>.…` key: not empty, no `.`, `*` or `=`, not a plain number (an index).
fn selectable(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        Err("it must not be empty".into())
    } else if name.contains(['.', '*', '=']) {
        Err(format!(
            "`{name}` holds `.`, `*` or `=`, which `--set` keys and values use"
        ))
    } else if name.bytes().all(|b| b.is_ascii_digit()) {
        Err(format!(
            "`{name}` is a number, which `--set` keys read as an index"
        ))
    } else {
        Ok(())
    }
}

/// Checks every rule; an empty list means the scenario is valid.
pub fn validate(s: &Scenario) -> Vec<Issue> {
    let root = FieldPath::root();
    let mut c = Checker { issues: Vec::new() };

    if s.name.trim().is_empty() {
        c.fail(
            root.key("name"),
            "missing or empty: name the scenario (name = \"help-desk\")",
        );
    } else if s.name.contains(['/', '\\'])
        || s.name.starts_with('.')
        || s.name.chars().any(char::is_control)
    {
        c.fail(
            root.key("name"),
            "the name is used as a folder name: no `/`, `\\`, control characters or leading `.`",
        );
    } else if s.name.len() > MAX_NAME_BYTES {
        c.fail(
            root.key("name"),
            format!(
                "the name is used as a folder name: at most {MAX_NAME_BYTES} bytes, got {}",
                s.name.len()
            ),
        );
    }
    // As `--seed` and `--set seed=` take it, and as a resolved scenario writes it.
    if i64::try_from(s.seed).is_err() {
        c.fail(
            root.key("seed"),
            format!(
                "a seed is a whole number from 0 to {}, got {}",
                i64::MAX,
                s.seed
            ),
        );
    }
    if s.duration.is_zero() {
        c.fail(
            root.key("duration"),
            "missing or zero: how long users arrive (duration = \"10m\")",
        );
    }
    for (key, d) in [
        ("duration", s.duration),
        ("drain", s.drain),
        ("service_level_target", s.service_level_target),
    ] {
        if d > MAX_SPAN {
            // A number too large to hold was read as the largest there is.
            let got = match d.as_secs() {
                u64::MAX => "more than a duration can hold".to_string(),
                secs => format!("{secs} s"),
            };
            c.fail(
                root.key(key),
                format!("{key} must be at most 366 days, got {got}"),
            );
        }
    }
    if !(s.time_scale.is_finite() && (MIN_TIME_SCALE..=MAX_TIME_SCALE).contains(&s.time_scale)) {
        c.fail(
            root.key("time_scale"),
            format!(
                "time_scale must be a number from {MIN_TIME_SCALE} to {MAX_TIME_SCALE} (scenario seconds per real second), got {}",
                s.time_scale
            ),
        );
    }
    if s.service_level_target.is_zero() {
        c.fail(
            root.key("service_level_target"),
            "the service-level target must be positive",
        );
    }

    let routing = root.key("routing");
    if s.routing.auto_accept == Some(true) && s.routing.policy == PolicyKind::Manual {
        c.fail(
            routing.key("policy"),
            "policy `manual` means auto-accept off; set auto_accept = false (or leave it out: \
             `--set routing.auto_accept=none`) or pick another policy",
        );
    }
    if let Some(n) = s.routing.max_transfer_accepts
        && !(1..=MAX_AVAILABLE_FOR).contains(&n)
    {
        c.fail(
            routing.key("max_transfer_accepts"),
            format!("max_transfer_accepts must be 1..={MAX_AVAILABLE_FOR} (R6), got {n}"),
        );
    }

    let queues: HashSet<&str> = s.queues.iter().map(|q| q.name.as_str()).collect();
    if s.queues.is_empty() {
        c.fail(
            root.key("queues"),
            "declare at least one support queue with [[queues]] name = \"…\"",
        );
    }
    let mut seen = HashMap::new();
    for (i, q) in s.queues.iter().enumerate() {
        let p = root.key("queues").index(i).key("name");
        if q.name.trim().is_empty() {
            c.fail(p, "a queue name must not be empty");
        } else if let Some(first) = seen.insert(q.name.as_str(), i) {
            c.fail(
                p,
                format!(
                    "queue `{}` is declared twice (first as queues[{first}])",
                    q.name
                ),
            );
        }
    }
    let declared = |name: &str| -> Result<(), String> {
        if queues.contains(name) {
            Ok(())
        } else {
            let mut names: Vec<&str> = queues.iter().copied().collect();
            names.sort_unstable();
            Err(if names.is_empty() {
                format!(
                    "queue `{name}` is not declared, and no queue is: add [[queues]] name = \"{name}\""
                )
            } else {
                format!(
                    "queue `{name}` is not declared; declared queues: {}",
                    names.join(", ")
                )
            })
        }
    };

    if s.agents.is_empty() {
        c.fail(
            root.key("agents"),
            "declare at least one agent group with [[agents]]",
        );
    }
    let groups: HashSet<&str> = s.agents.iter().map(|g| g.group.as_str()).collect();
    let served = |q: &str| s.agents.iter().any(|g| g.queues.iter().any(|m| m == q));
    let mut seen = HashMap::new();
    let mut agents = 0u64;
    for (i, g) in s.agents.iter().enumerate() {
        let p = root.key("agents").index(i);
        check_group(&mut c, &p, g, &declared, &served, &groups);
        // Named at the group that takes the total over (a group over the cap on its
        // own is reported as such).
        let before = agents;
        if g.count <= MAX_GROUP {
            agents += u64::from(g.count);
        }
        if agents > MAX_AGENTS && before <= MAX_AGENTS {
            c.fail(
                p.key("count"),
                format!(
                    "the agent groups add up to more than {MAX_AGENTS} agents from this one on; \
                     a run holds at most {MAX_AGENTS}"
                ),
            );
        }
        if !g.group.trim().is_empty()
            && let Some(first) = seen.insert(g.group.as_str(), i)
        {
            c.fail(
                p.key("group"),
                format!(
                    "agent group `{}` is declared twice (first as agents[{first}])",
                    g.group
                ),
            );
        }
    }

    if s.users.is_empty() {
        c.fail(
            root.key("users"),
            "declare at least one user stream with [[users]]",
        );
    }
    let expected = s.expected_users();
    // (A duration past the span is reported on its own.) Named at the stream that
    // brings the most users, the one to lower first.
    if expected > MAX_EXPECTED_USERS && s.duration <= MAX_SPAN {
        let (i, most) = s
            .users
            .iter()
            .map(|u| u.arrival.expected_count(s.duration))
            .enumerate()
            .fold(
                (0, f64::MIN),
                |best, (i, n)| if n > best.1 { (i, n) } else { best },
            );
        c.fail(
            root.key("users").index(i).key("arrival"),
            format!(
                "the arrivals add up to about {} users ({} of them from this stream), more \
                 than a run can hold ({MAX_EXPECTED_USERS:.0}); lower the rates or the \
                 duration",
                about(expected),
                about(most)
            ),
        );
    }
    let mut seen = HashMap::new();
    for (i, u) in s.users.iter().enumerate() {
        let p = root.key("users").index(i);
        if !s.duration.is_zero() && u.arrival.expected_count(s.duration) <= 0.0 {
            c.fail(
                p.key("arrival"),
                format!(
                    "no user would arrive within the duration ({}): the rate is 0 until \
                     then, or too low for a first arrival",
                    crate::dist::format_duration(s.duration)
                ),
            );
        }
        match u.name.as_deref() {
            Some(name) => {
                if let Err(e) = selectable(name) {
                    c.fail(p.key("name"), format!("stream name: {e}"));
                }
            }
            // An unnamed stream is named after its queue, and `--set users.NAME.…`
            // (and `compare`, which pins the name) must be able to select it.
            None => {
                if declared(&u.queue).is_ok()
                    && let Err(e) = selectable(&u.queue)
                {
                    c.fail(
                        p.key("queue"),
                        format!("an unnamed stream is named after its queue: {e}; give the stream a `name`"),
                    );
                }
            }
        }
        if let Err(e) = declared(&u.queue) {
            c.fail(p.key("queue"), e);
        } else if !s.agents.iter().any(|g| g.queues.contains(&u.queue)) {
            c.fail(
                p.key("queue"),
                format!(
                    "no agent group belongs to queue `{}`: its chats could never be answered",
                    u.queue
                ),
            );
        }
        if let Some(first) = seen.insert(u.name(), i) {
            let field = if u.name.is_some() { "name" } else { "queue" };
            c.fail(
                p.key(field),
                format!(
                    "user stream `{}` is named twice (first as users[{first}]); give each \
                     stream its own `name`",
                    u.name()
                ),
            );
        }
    }
    for t in &s.thresholds.0 {
        if let crate::threshold::Subject::Queue(queue, _) = &t.subject
            && let Err(e) = declared(queue)
        {
            c.fail(root.key("thresholds").key(&t.key), e);
        }
    }
    check_faults(&mut c, s);
    c.issues
}

/// The chance, from which a thin Poisson stream's run bringing nobody is worth a word.
const NOBODY_WORTH_SAYING: f64 = 0.05;

/// What a valid scenario probably does not mean: a Poisson stream so thin that a run
/// of it often brings nobody (a rate written per hour for per minute, a duration
/// scaled down too far), or agents' planned work that can never start.
pub fn advisories(s: &Scenario) -> Vec<String> {
    let mut out = thin_streams(s);
    out.extend(idle_work(s));
    out.extend(unasked_queue_thresholds(s));
    out.extend(unrouted_queue_transfers(s));
    out
}

/// Under auto-accept with `route_queue_transfers = false`, a chat transferred to a
/// queue waits in Transferred for an agent to take it by hand; the simulator's agents
/// who auto-accept never look there, only those with `manual_accept` do.
fn unrouted_queue_transfers(s: &Scenario) -> Vec<String> {
    let routing = s.routing_config();
    if !routing.auto_accept || routing.route_queue_transfers {
        return Vec::new();
    }
    let mut queues: Vec<&str> = s
        .agents
        .iter()
        .filter_map(|g| g.transfer.as_ref())
        .filter(|t| t.probability > 0.0)
        .filter_map(|t| t.to_queue.as_deref())
        .filter(|q| {
            !s.agents
                .iter()
                .any(|g| g.manual_accept && g.queues.iter().any(|x| x == q))
        })
        .collect();
    queues.sort_unstable();
    queues.dedup();
    queues
        .into_iter()
        .map(|q| {
            format!(
                "chats transferred to queue `{q}` are not routed (routing.route_queue_transfers \
                 = false) and no agent serving it pulls by hand (manual_accept): they wait \
                 until the run ends"
            )
        })
        .collect()
}

/// A threshold on a queue no user stream asks fails for want of data, whatever happens:
/// a queue's figures count the users who asked it (transfers bring none).
fn unasked_queue_thresholds(s: &Scenario) -> Vec<String> {
    s.thresholds
        .0
        .iter()
        .filter_map(|t| match &t.subject {
            crate::threshold::Subject::Queue(queue, _)
                if !s.users.iter().any(|u| &u.queue == queue) =>
            {
                Some(format!(
                    "threshold `{}` will fail for want of data: no user stream asks queue \
                     `{queue}`, and a queue's figures count the users who asked it",
                    t.key
                ))
            }
            _ => None,
        })
        .collect()
}

/// Settings of a scenario that a virtual run ignores: virtual time has no transport,
/// so no outbound queue to overflow and no socket to stop reading.
pub fn unmodelled_in_virtual_time(s: &Scenario) -> Vec<String> {
    let f = &s.faults;
    let mut keys = Vec::new();
    if f.outbound_queue.is_some() {
        keys.push("faults.outbound_queue");
    }
    if f.slow_consumer_probability > 0.0 {
        keys.push("faults.slow_consumer_probability");
    }
    if keys.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "virtual time does not model the transport: {} change{} nothing in a virtual \
         run (a live run shows their effect)",
        keys.join(" and "),
        if keys.len() == 1 { "s" } else { "" }
    )]
}

/// Agents without a `handle_time` start a chat's planned work once they have answered
/// the user: when no user who can reach them writes, that work never happens. A
/// writing user reaches the groups serving their queue and, through those groups'
/// transfers, the groups those lead to.
fn idle_work(s: &Scenario) -> Vec<String> {
    if s.users.is_empty() {
        return Vec::new();
    }
    let mut reached = vec![false; s.agents.len()];
    for u in s.users.iter().filter(|u| u.messages.mean() > 0.0) {
        for i in s.groups_reached_from(&u.queue) {
            reached[i] = true;
        }
    }
    s.agents
        .iter()
        .zip(reached)
        .filter(|&(_, reached)| !reached)
        .map(|(g, _)| g)
        .filter(|g| g.handle_time.is_none())
        .filter(|g| {
            g.share_article_probability > 0.0
                || g.ticket.as_ref().is_some_and(|t| t.probability > 0.0)
                || g.transfer.as_ref().is_some_and(|t| t.probability > 0.0)
        })
        .map(|g| {
            format!(
                "agents `{}` start a chat's work (articles, tickets, transfers) after \
                 answering the user, and no user who reaches them sends a message \
                 (`messages` is 0 for the users of their queues and of the transfers that \
                 lead to them): that work never happens (give those users messages, or \
                 the group a handle_time)",
                g.group
            )
        })
        .collect()
}

fn thin_streams(s: &Scenario) -> Vec<String> {
    s.users
        .iter()
        .filter(|u| !matches!(u.arrival, crate::dist::Arrival::Constant(_)))
        .filter_map(|u| {
            let expected = u.arrival.expected_count(s.duration);
            let nobody = (-expected).exp();
            (expected > 0.0 && nobody >= NOBODY_WORTH_SAYING).then(|| {
                format!(
                    "users `{}`: about {expected:.2} arrivals expected in {}; a run brings \
                     nobody {:.0}% of the time (raise the rate or the duration)",
                    u.name(),
                    crate::dist::format_duration(s.duration),
                    nobody * 100.0
                )
            })
        })
        .collect()
}

fn check_faults(c: &mut Checker, s: &Scenario) {
    let f = &s.faults;
    let p = FieldPath::root().key("faults");
    for (key, v) in [
        ("drop_probability", f.drop_probability),
        ("reconnect_within_grace", f.reconnect_within_grace),
        ("abandon_on_join", f.abandon_on_join),
        ("transfer_close_race", f.transfer_close_race),
        ("slow_consumer_probability", f.slow_consumer_probability),
    ] {
        c.probability(p.key(key), v);
    }
    if f.agent_grace.is_some_and(|g| g.is_zero()) {
        c.fail(
            p.key("agent_grace"),
            "the grace period must be positive (the server needs a moment to notice a reconnect)",
        );
    } else if f
        .agent_grace
        .is_some_and(|g| g < std::time::Duration::from_millis(1))
    {
        // The Desk counts whole milliseconds (a live run's scaled grace is checked
        // when it starts: see `live::run`).
        c.fail(
            p.key("agent_grace"),
            "the grace period must be at least 1 ms: the server counts whole milliseconds",
        );
    }
    if f.drop_probability > 0.0 && f.agent_grace.is_none() {
        c.fail(
            p.key("agent_grace"),
            "dropping agents needs the grace period in scenario time: set faults.agent_grace (e.g. \"30s\")",
        );
    }
    if f.availability_flip_every
        .as_ref()
        .is_some_and(|d| d.mean() < std::time::Duration::from_millis(1))
    {
        c.fail(
            p.key("availability_flip_every"),
            "the mean interval between availability flips must be at least 1ms: shorter ones fire again at the same instant of the server's millisecond clock, forever",
        );
    }
    if f.outbound_queue == Some(0) {
        c.fail(
            p.key("outbound_queue"),
            "the outbound queue needs room for at least one frame",
        );
    }
    if let Some(n) = f
        .outbound_queue
        .filter(|&n| n > switchboard_server::config::MAX_OUTBOUND_QUEUE)
    {
        c.fail(
            p.key("outbound_queue"),
            format!(
                "{n} frames is more than the server allows ({})",
                switchboard_server::config::MAX_OUTBOUND_QUEUE
            ),
        );
    }
    if f.accept_burst && !s.agents.iter().any(|g| g.manual_accept) && s.routing.auto_accept() {
        c.fail(
            p.key("accept_burst"),
            "accept bursts need agents who pull by hand: auto-accept off, or a group with manual_accept = true",
        );
    }
}

fn check_group(
    c: &mut Checker,
    p: &FieldPath,
    g: &AgentGroup,
    declared: &dyn Fn(&str) -> Result<(), String>,
    served: &dyn Fn(&str) -> bool,
    groups: &HashSet<&str>,
) {
    if let Err(e) = selectable(&g.group) {
        c.fail(p.key("group"), format!("group name: {e}"));
    }
    if g.count == 0 {
        c.fail(
            p.key("count"),
            "an agent group needs at least one agent (count >= 1)",
        );
    } else if g.count > MAX_GROUP {
        c.fail(
            p.key("count"),
            format!("at most {MAX_GROUP} agents per group, got {}", g.count),
        );
    }
    if g.queues.is_empty() {
        c.fail(
            p.key("queues"),
            "an agent group must belong to at least one queue",
        );
    }
    for (j, q) in g.queues.iter().enumerate() {
        if let Err(e) = declared(q) {
            c.fail(p.key("queues").index(j), e);
        } else if g.queues[..j].contains(q) {
            c.fail(
                p.key("queues").index(j),
                format!("queue `{q}` is listed twice in the group"),
            );
        }
    }
    if !(1..=MAX_AVAILABLE_FOR).contains(&g.available_for) {
        c.fail(
            p.key("available_for"),
            format!(
                "available_for must be 1..={MAX_AVAILABLE_FOR} (R2: Available for N), got {}",
                g.available_for
            ),
        );
    }
    if g.handle_time
        .as_ref()
        .is_some_and(|d| d.mean() < std::time::Duration::from_millis(1))
    {
        c.fail(
            p.key("handle_time"),
            "handle_time's mean must be at least 1ms: a conversation closed as it is accepted measures nothing",
        );
    }
    c.probability(
        p.key("share_article_probability"),
        g.share_article_probability,
    );
    c.probability(p.key("pin_article_probability"), g.pin_article_probability);
    if let Some(t) = &g.transfer {
        let tp = p.key("transfer");
        c.probability(tp.key("probability"), t.probability);
        match (&t.to_queue, &t.to_agent_group) {
            (Some(q), None) => {
                if let Err(e) = declared(q) {
                    c.fail(tp.key("to_queue"), e);
                } else if !served(q) {
                    c.fail(
                        tp.key("to_queue"),
                        format!(
                            "no agent group belongs to queue `{q}`: chats transferred there could never be answered"
                        ),
                    );
                }
            }
            (None, Some(to)) => {
                if *to == g.group && g.count == 1 {
                    c.fail(
                        tp.key("to_agent_group"),
                        format!(
                            "`{to}` has one agent, who cannot transfer to themselves: no transfer would ever happen"
                        ),
                    );
                } else if !groups.contains(to.as_str()) {
                    let mut names: Vec<&str> = groups.iter().copied().collect();
                    names.sort_unstable();
                    c.fail(
                        tp.key("to_agent_group"),
                        format!(
                            "agent group `{to}` is not declared; groups: {}",
                            names.join(", ")
                        ),
                    );
                }
            }
            (Some(_), Some(_)) => {
                c.fail(tp, "give either `to_queue` or `to_agent_group`, not both")
            }
            (None, None) => c.fail(
                tp,
                "a transfer needs a target: `to_queue` or `to_agent_group`",
            ),
        }
    }
    if let Some(t) = &g.ticket {
        let tp = p.key("ticket");
        c.probability(tp.key("probability"), t.probability);
        c.probability(tp.key("work_order_share"), t.work_order_share);
        c.probability(tp.key("template_probability"), t.template_probability);
    }
}
