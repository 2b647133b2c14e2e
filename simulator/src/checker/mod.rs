//! The routing checker: reads what every participant saw (`history.jsonl`) and what
//! the server did (`journal.jsonl`) and verifies the routing invariants, Jepsen-style.
//!
//! - [`violation`]: the invariants and how a violation is reported.
//! - [`server`]: invariants over the journal (a replay of the Desk's decisions).
//! - [`client`]: invariants over the history, and history–journal agreement.
//!
//! `switchboard check RUN_DIR` runs it on a run folder; every run runs it at the end
//! ([`check_run`]) and records `invariants` in the summary. `docs/checker.md` lists
//! every invariant, what it reads and how to read a violation.

pub mod client;
pub mod server;
pub mod violation;

pub use violation::{Invariant, Violation};

use crate::history::{HISTORY_FILE, History};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use switchboard_server::protocol::JournalEntry;

/// The journal's file name in a run folder.
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// The checker's full report in a run folder.
pub const REPORT_FILE: &str = "invariants.json";

/// Knobs the invariants need from the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// The server's agent grace period (server milliseconds).
    pub agent_grace_ms: u64,
    /// How long a chat may wait while an eligible agent has a free slot (server ms).
    pub work_bound_ms: u64,
    /// Most chats accepted from Transferred under auto-accept (R6).
    pub max_transfer_accepts: u8,
    /// Under auto-accept, chats transferred to a queue are routed as queued ones are
    /// (`routing.route_queue_transfers`).
    #[serde(default = "routes_queue_transfers")]
    pub route_queue_transfers: bool,
    /// The run always writes a journal (a virtual run): its folder without one is
    /// incomplete.
    #[serde(default)]
    pub journal_expected: bool,
}

impl Default for Options {
    fn default() -> Self {
        // The server's own defaults, which a scenario that sets nothing gets.
        let routing = switchboard_server::domain::RoutingConfig::default();
        let grace = switchboard_server::domain::DisconnectRules::default().agent_grace;
        Options {
            agent_grace_ms: u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
            work_bound_ms: 1_000,
            max_transfer_accepts: routing.max_transfer_accepts,
            route_queue_transfers: routing.route_queue_transfers,
            journal_expected: false,
        }
    }
}

fn routes_queue_transfers() -> bool {
    true
}

/// Why a run folder could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A file could not be read or parsed.
    #[error("{0}")]
    Read(String),
    /// There is no such folder.
    #[error("{0}: no such report folder")]
    NoFolder(PathBuf),
    /// The run folder has no history.
    #[error(
        "{0}: no {HISTORY_FILE}: not a run's report folder, or a virtual run expecting more \
         than {large} users (those keep no history)",
        large = crate::virtual_time::LARGE_RUN_USERS
    )]
    NoHistory(PathBuf),
}

/// What the checker found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Invariants checked (names).
    pub checked: Vec<String>,
    /// Invariants that could not be checked and why.
    pub skipped: BTreeMap<String, String>,
    /// Every violation, in the order found.
    pub violations: Vec<Violation>,
    /// Chats started (journal, else history).
    pub chats_started: usize,
    /// Chats still queued, active or transferred when the run stopped (not violations).
    pub open_at_end: BTreeMap<u64, String>,
    /// History events and journal entries read.
    pub events: usize,
    /// Journal entries read.
    pub journal_entries: usize,
}

impl CheckReport {
    /// Whether no invariant was violated.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// Violations per invariant.
    pub fn by_invariant(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for v in &self.violations {
            *m.entry(v.invariant.name().to_string()).or_insert(0) += 1;
        }
        m
    }

    /// Whether some violation is of `inv`.
    pub fn has(&self, inv: Invariant) -> bool {
        self.violations.iter().any(|v| v.invariant == inv)
    }

    /// The summary's `invariants` field.
    pub fn summary(&self) -> Invariants {
        Invariants {
            checked: self.checked.clone(),
            skipped: self.skipped.clone(),
            violations: self.violations.len(),
            by_invariant: self.by_invariant(),
            open_at_end: self.open_at_end.len(),
            first: self
                .violations
                .iter()
                .take(10)
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// A console rendering: verdict, then each violation.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if self.ok() {
            s.push_str(&format!(
                "invariants: OK — {} checked over {} chats ({} history events, {} journal entries); {} open at the end\n",
                self.checked.len(),
                self.chats_started,
                self.events,
                self.journal_entries,
                self.open_at_end.len()
            ));
        } else {
            s.push_str(&format!(
                "invariants: {} VIOLATION(S) {:?}\n",
                self.violations.len(),
                self.by_invariant()
            ));
            for v in self.violations.iter().take(50) {
                s.push_str(&format!("  {v}\n"));
            }
            if self.violations.len() > 50 {
                s.push_str(&format!(
                    "  … {} more in {REPORT_FILE}\n",
                    self.violations.len() - 50
                ));
            }
        }
        for (k, why) in &self.skipped {
            s.push_str(&format!("  skipped {k}: {why}\n"));
        }
        s
    }
}

/// The `invariants` field of `summary.json`: the hook reports show at the top.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Invariants {
    /// Names of the invariants checked.
    pub checked: Vec<String>,
    /// Invariants that could not be checked, and why (a run against an external
    /// server has no journal).
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
    /// How many violations (0: routing was correct).
    pub violations: usize,
    /// Violations per invariant.
    #[serde(default)]
    pub by_invariant: BTreeMap<String, usize>,
    /// Chats still open when the run stopped (reported, not a violation).
    #[serde(default)]
    pub open_at_end: usize,
    /// The first violations, one line each (details in `invariants.json`).
    #[serde(default)]
    pub first: Vec<String>,
}

impl Invariants {
    /// The verdict in one line: how many invariants were checked, with what result,
    /// and what could not be checked.
    pub fn line(&self) -> String {
        let verdict = if self.violations == 0 {
            "OK".to_string()
        } else {
            let each: Vec<String> = self
                .by_invariant
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            format!("{} VIOLATION(S) ({})", self.violations, each.join(", "))
        };
        let mut line = format!(
            "routing invariants: {verdict}, {} of {} checked",
            self.checked.len(),
            self.checked.len() + self.skipped.len()
        );
        let mut reasons: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (k, why) in &self.skipped {
            reasons.entry(why).or_default().push(k);
        }
        for (why, names) in reasons {
            line.push_str(&format!("; skipped {}: {why}", names.join(", ")));
        }
        line
    }
}

/// Why an invariant that reads the server's journal was skipped.
pub const JOURNAL_NEEDED: &str = "needs the server journal (against a separate server: its \
     `--journal`, copied into the run's folder as journal.jsonl, see docs/checker.md)";

/// The start of the warning a run gets when its records cannot be read.
pub const UNREADABLE_WARNING: &str = "routing checker could not read the run's records, so nothing was verified and the run \
     does not pass";

/// What the end-of-run check came to.
#[derive(Debug)]
pub enum RunCheck {
    /// The checker ran.
    Checked(CheckReport),
    /// The run kept no history (a large virtual run): nothing to check.
    NoHistory,
    /// The run's records could not be read.
    Failed(CheckError),
}

/// The journal entry at which a live run ended: the first of the `disconnect`s that
/// the simulator's closing of connections at the end caused (participants whose history
/// ends with [`What::RunEnd`](crate::history::What::RunEnd), each one's last journal
/// entry being its disconnect). `None` when the journal holds no such entry (a virtual
/// run, or a journal copied before the run ended).
fn run_end(history: &History, journal: &[JournalEntry]) -> Option<u64> {
    use switchboard_server::domain::{Command, Principal};
    let cut: std::collections::BTreeSet<&str> = history
        .events
        .iter()
        .filter(|e| matches!(e.what, crate::history::What::RunEnd))
        .map(|e| e.who.as_str())
        .collect();
    if cut.is_empty() {
        return None;
    }
    // Each participant's last entry, and whether it is its disconnect.
    let mut last: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    for e in journal {
        let who = match &e.principal {
            Principal::Agent(a) => format!("agent:{a}"),
            Principal::User(u) => format!("user:{u}"),
            Principal::Admin | Principal::System => continue,
        };
        last.insert(who, (e.seq, matches!(e.command, Command::Disconnect)));
    }
    cut.iter()
        .filter_map(|who| last.get(*who))
        .filter(|(_, disconnect)| *disconnect)
        .map(|(seq, _)| *seq)
        .min()
}

/// Checks a history and, when there is one, the server journal.
pub fn check(history: &History, journal: Option<&[JournalEntry]>, opts: &Options) -> CheckReport {
    let mut r = CheckReport {
        events: history.events.len(),
        ..CheckReport::default()
    };
    r.violations.extend(client::check_history(history));
    for inv in [Invariant::MessageOrder, Invariant::TransferNotes] {
        r.checked.push(inv.name().into());
    }
    match journal {
        Some(j) => {
            r.journal_entries = j.len();
            let (v, facts) = server::check(j, opts, run_end(history, j));
            r.violations.extend(v);
            r.violations.extend(client::check_agreement(history, j));
            r.chats_started = facts.started.len();
            r.open_at_end = facts
                .open_at_end
                .into_iter()
                .map(|(c, s)| (c.0, s))
                .collect();
            r.checked = Invariant::ALL
                .iter()
                .map(|i| i.name().to_string())
                .collect();
        }
        None => {
            r.chats_started = history
                .events
                .iter()
                .filter(|e| {
                    matches!(
                        &e.what,
                        crate::history::What::Reply {
                            reply: switchboard_server::domain::Reply::ChatStarted { .. }
                        }
                    )
                })
                .count();
            for inv in Invariant::ALL {
                if !r.checked.iter().any(|c| c == inv.name()) {
                    r.skipped.insert(inv.name().into(), JOURNAL_NEEDED.into());
                }
            }
        }
    }
    r
}

/// Reads a `journal.jsonl`, naming the line of anything it cannot read. A journal
/// numbers its entries from 1 without gaps, in Desk time that never goes back: a line
/// missing, repeated or moved is refused here, rather than replayed into violations
/// the server never committed.
pub fn read_journal(path: &Path) -> Result<Vec<JournalEntry>, CheckError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CheckError::Read(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line =
            line.map_err(|e| CheckError::Read(format!("{}:{}: {e}", path.display(), i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |what: String| CheckError::Read(format!("{}:{}: {what}", path.display(), i + 1));
        let entry: JournalEntry = serde_json::from_str(&line).map_err(|e| at(e.to_string()))?;
        let next = out.len() as u64 + 1;
        if entry.seq != next {
            return Err(at(format!(
                "entry seq {} where {next} was next: the journal has lines missing, repeated \
                 or out of order",
                entry.seq
            )));
        }
        if let Some(prev) = out.last().map(|p: &JournalEntry| p.at_ms)
            && entry.at_ms < prev
        {
            return Err(at(format!(
                "Desk time goes back from {prev} ms to {} ms: the journal's lines are out of order",
                entry.at_ms
            )));
        }
        out.push(entry);
    }
    Ok(out)
}

/// Writes a journal in the server's format, one JSON line per entry (a virtual run's
/// Desk journal: the same file the server writes).
pub fn write_journal(path: &Path, journal: &[JournalEntry]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for e in journal {
        serde_json::to_writer(&mut w, e)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// The `summary.json` of the run in `dir`, if it reads.
fn summary_of(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The options of the run in `dir`, from its `summary.json` (defaults otherwise).
pub fn options_of(dir: &Path) -> Options {
    let mut o = Options::default();
    let Some(v) = summary_of(dir) else {
        return o;
    };
    o.journal_expected = v["mode"].as_str() == Some("virtual");
    let sc = &v["resolved_scenario"];
    if let Some(n) = sc["routing"]["max_transfer_accepts"].as_u64() {
        o.max_transfer_accepts = u8::try_from(n).unwrap_or(4);
    }
    if let Some(b) = sc["routing"]["route_queue_transfers"].as_bool() {
        o.route_queue_transfers = b;
    }
    if let Some(g) = sc["faults"]["agent_grace"].as_str()
        && let Ok(d) = crate::dist::parse_duration(g)
    {
        // Scenario time; a live server runs on real time.
        let live = v["mode"].as_str() == Some("live");
        let scale = sc["time_scale"].as_f64().filter(|t| live && *t > 0.0);
        o.agent_grace_ms = grace_ms(d, scale);
    }
    o
}

/// The grace period the Desk applied, in its milliseconds, for one of `scenario` time:
/// in virtual time that duration itself, in a live run at `live_time_scale` the real
/// duration the embedded server was given ([`crate::live::server_grace`]); either cut
/// to the millisecond as the Desk's clock cuts it. (Worked out in floating point
/// instead, a grace of 2.01 s came to 2,009 ms against the Desk's 2,010, and a chat held
/// through that last millisecond was reported lost.)
fn grace_ms(scenario: std::time::Duration, live_time_scale: Option<f64>) -> u64 {
    let server = match live_time_scale {
        Some(time_scale) => crate::live::server_grace(scenario, time_scale),
        None => scenario,
    };
    u64::try_from(server.as_millis()).unwrap_or(u64::MAX)
}

/// Checks the run folder `dir` and writes `invariants.json` there.
pub fn check_dir(dir: &Path, opts: &Options) -> Result<CheckReport, CheckError> {
    if !dir.is_dir() {
        return Err(CheckError::NoFolder(dir.to_path_buf()));
    }
    let hp = dir.join(HISTORY_FILE);
    let checked = if hp.exists() {
        check_records(dir, &hp, opts)
    } else {
        Err(CheckError::NoHistory(dir.to_path_buf()))
    };
    if checked.is_err() {
        // An earlier verdict must not outlive records that no longer check.
        let _ = std::fs::remove_file(dir.join(REPORT_FILE));
    }
    checked
}

/// Whoever the journal shows taking part (acting, or being told something) recorded
/// at least its own commands: a participant missing from the history means the
/// history is incomplete (cut short, or another run's), and the run cannot be checked.
/// The other way round, whoever the history shows answered was served by the Desk: a
/// participant with a reply the journal has nothing of means the journal is (empty,
/// cut short, or another run's).
fn complete(history: &History, journal: &[JournalEntry], hp: &Path) -> Result<(), CheckError> {
    let present: std::collections::BTreeSet<&str> =
        history.events.iter().map(|e| e.who.as_str()).collect();
    let in_journal = client::participants(journal);
    let missing: Vec<&String> = in_journal
        .iter()
        .filter(|who| !present.contains(who.as_str()))
        .collect();
    if let [first, ..] = missing.as_slice() {
        return Err(CheckError::Read(format!(
            "{}: incomplete: the journal shows {} participant(s) it has nothing of ({first}, …): \
             a journal that holds other runs too (a server's journal over several runs), or a \
             history cut short",
            hp.display(),
            missing.len()
        )));
    }
    let in_journal: std::collections::BTreeSet<&str> =
        in_journal.iter().map(String::as_str).collect();
    let answered: std::collections::BTreeSet<&str> = history
        .events
        .iter()
        .filter(|e| matches!(e.what, crate::history::What::Reply { .. }))
        .map(|e| e.who.as_str())
        .filter(|who| !in_journal.contains(who))
        .collect();
    match answered.iter().next() {
        None => Ok(()),
        Some(first) => Err(CheckError::Read(format!(
            "{}: incomplete: the history shows {} participant(s) answered by the server that \
             it has nothing of ({first}, …): empty, cut short, or another run's",
            hp.with_file_name(JOURNAL_FILE).display(),
            answered.len()
        ))),
    }
}

/// [`check_dir`] once the folder and its history are known to exist.
fn check_records(dir: &Path, hp: &Path, opts: &Options) -> Result<CheckReport, CheckError> {
    let history = History::read(hp).map_err(CheckError::Read)?;
    let jp = dir.join(JOURNAL_FILE);
    let journal = if jp.exists() {
        Some(read_journal(&jp)?)
    } else if opts.journal_expected {
        return Err(CheckError::Read(format!(
            "{}: missing, though a virtual run always writes its Desk's journal",
            jp.display()
        )));
    } else {
        None
    };
    if let Some(j) = &journal {
        // Every scenario has agents, who sign in as a run starts.
        if j.is_empty() && opts.journal_expected {
            return Err(CheckError::Read(format!(
                "{}: empty, though a virtual run's agents sign in as it starts",
                jp.display()
            )));
        }
        complete(&history, j, hp)?;
    }
    let report = check(&history, journal.as_deref(), opts);
    let out = dir.join(REPORT_FILE);
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    std::fs::write(&out, text).map_err(|e| CheckError::Read(format!("{}: {e}", out.display())))?;
    Ok(report)
}

impl Options {
    /// The options for a run of `scenario` (the Desk's defaults where it says nothing).
    pub fn for_scenario(scenario: &crate::scenario::Scenario) -> Options {
        Self::for_run(scenario, false)
    }

    /// [`Options::for_scenario`] for a run in live mode (`live`: the Desk runs on real
    /// time, so a grace period from `[faults]` is divided by `time_scale`) or virtual.
    pub fn for_run(scenario: &crate::scenario::Scenario, live: bool) -> Options {
        let defaults = switchboard_server::domain::RoutingConfig::default();
        let agent_grace_ms = match scenario.faults.agent_grace {
            Some(g) => grace_ms(g, live.then_some(scenario.time_scale)),
            None => Options::default().agent_grace_ms,
        };
        Options {
            agent_grace_ms,
            max_transfer_accepts: scenario
                .routing
                .max_transfer_accepts
                .unwrap_or(defaults.max_transfer_accepts),
            route_queue_transfers: scenario
                .routing
                .route_queue_transfers
                .unwrap_or(defaults.route_queue_transfers),
            journal_expected: !live,
            ..Options::default()
        }
    }
}

/// The end-of-run hook: checks the run folder `out` (if it holds a history), writes
/// `invariants.json`, records `invariants` in the summary and fails the run on any
/// violation, or when the run's records cannot be read (nothing was verified).
pub fn check_run(
    out: &Path,
    scenario: &crate::scenario::Scenario,
    summary: &mut crate::metrics::Summary,
) -> RunCheck {
    if !out.join(HISTORY_FILE).exists() {
        return RunCheck::NoHistory;
    }
    let live = summary.mode == crate::metrics::Mode::Live;
    match check_dir(out, &Options::for_run(scenario, live)) {
        Ok(report) => {
            summary.invariants = Some(report.summary());
            if !report.ok() {
                summary.passed = false;
            }
            RunCheck::Checked(report)
        }
        Err(e) => {
            summary.passed = false;
            RunCheck::Failed(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Recorder, RunInfo, Summary};
    use std::time::Duration;

    fn summary() -> Summary {
        let mut r = Recorder::new(Duration::from_secs(60));
        Summary::build(RunInfo::unit(), &mut r).expect("summary")
    }

    /// The checker's grace period is the Desk's to the millisecond: a virtual run's is
    /// the scenario's own `as_millis` (2.01 s is 2,010 ms, which floating point put at
    /// 2,009), a live run's what the embedded server was given.
    #[test]
    fn the_grace_period_is_the_desk_s_to_the_millisecond() {
        for text in ["2.01s", "1.005s", "30s", "1.5s", "100ms", "0.3s"] {
            let d = crate::dist::parse_duration(text).expect("a duration");
            let desk = switchboard_server::domain::Time(0).plus(d).as_millis();
            assert_eq!(grace_ms(d, None), desk, "{text}");
            for scale in [1.0, 3.0, 20.0] {
                let server = crate::live::server_grace(d, scale);
                let desk = switchboard_server::domain::Time(0).plus(server).as_millis();
                assert_eq!(grace_ms(d, Some(scale)), desk, "{text} at {scale}");
            }
        }
    }

    #[test]
    fn the_line_says_what_was_checked_and_what_was_not() {
        let history = History::new(true);
        let all = check(&history, Some(&[]), &Options::default()).summary();
        assert_eq!(all.line(), "routing invariants: OK, 10 of 10 checked");
        let history_only = check(&history, None, &Options::default()).summary();
        assert_eq!(
            history_only.line(),
            format!(
                "routing invariants: OK, 2 of 10 checked; skipped agreement, capacity, \
                 chat_end, single_owner, ticket, transcript, transfer_visibility, \
                 work_conserving: {JOURNAL_NEEDED}"
            )
        );
        let mut violated = all.clone();
        violated.violations = 3;
        violated.by_invariant = [("single_owner".into(), 2), ("transcript".into(), 1)].into();
        assert_eq!(
            violated.line(),
            "routing invariants: 3 VIOLATION(S) (single_owner 2, transcript 1), 10 of 10 checked"
        );
    }

    /// A user's request for a chat in queue `q`.
    fn start_chat() -> switchboard_server::domain::Command {
        switchboard_server::domain::Command::StartChat {
            queue: "q".into(),
            subject: "help".into(),
            source: Default::default(),
            customer: None,
        }
    }

    /// Alice, signed in, takes user 1's chat and transfers it to carol, signed in too;
    /// then `rest`.
    fn handed_to_carol(
        rest: Vec<(
            switchboard_server::domain::Principal,
            switchboard_server::domain::Command,
        )>,
    ) -> Vec<(
        switchboard_server::domain::Principal,
        switchboard_server::domain::Command,
    )> {
        use switchboard_server::domain::{
            AgentId, ChatId, Command, Principal, TransferTarget, UserId,
        };
        let agent = |a: &str| Principal::Agent(AgentId::from(a));
        let mut steps = vec![
            (agent("alice"), Command::SignIn),
            (Principal::User(UserId(1)), start_chat()),
            (agent("alice"), Command::Accept { chat: ChatId(1) }),
            (agent("carol"), Command::SignIn),
            (
                agent("alice"),
                Command::Transfer {
                    chat: ChatId(1),
                    to: TransferTarget::Agent(AgentId::from("carol")),
                    notes: "over to you".into(),
                },
            ),
        ];
        steps.extend(rest);
        steps
    }

    /// A journal of two users each starting a chat, straight from a Desk.
    fn two_users_journal() -> Vec<JournalEntry> {
        use switchboard_server::domain::{Principal, UserId};
        journal_of(vec![
            (Principal::User(UserId(1)), start_chat()),
            (Principal::User(UserId(2)), start_chat()),
        ])
    }

    /// A scratch run folder holding `files`.
    fn folder(name: &str, files: &[(&str, String)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sb-check-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (file, text) in files {
            std::fs::write(dir.join(file), text).expect("file");
        }
        dir
    }

    #[test]
    fn incomplete_records_do_not_check() {
        let journal: String = two_users_journal()
            .iter()
            .map(|e| serde_json::to_string(e).expect("entry") + "\n")
            .collect();
        let stale = (REPORT_FILE, "{\"violations\": []}".to_string());
        // A virtual run always writes its journal.
        let dir = folder(
            "no-journal",
            &[
                (HISTORY_FILE, String::new()),
                ("summary.json", "{\"mode\": \"virtual\"}".into()),
                stale.clone(),
            ],
        );
        let e = check_dir(&dir, &options_of(&dir)).expect_err("no journal");
        assert!(
            e.to_string().contains("missing, though a virtual run"),
            "{e}"
        );
        // Nor an empty one.
        std::fs::write(dir.join(JOURNAL_FILE), "").expect("journal");
        let e = check_dir(&dir, &options_of(&dir)).expect_err("an empty journal");
        assert!(
            e.to_string()
                .contains("empty, though a virtual run's agents sign in"),
            "{e}"
        );
        std::fs::remove_file(dir.join(JOURNAL_FILE)).expect("journal removed");
        assert!(!dir.join(REPORT_FILE).exists(), "the old verdict is gone");
        // A live run against an external server, into that folder (whose summary.json
        // is still the earlier run's), has no journal to miss.
        let quickstart =
            crate::scenario::Scenario::load(Path::new("../scenarios/quickstart.toml"), &[])
                .expect("scenario");
        let live = check_dir(&dir, &Options::for_run(&quickstart, true)).expect("checks");
        assert_eq!(live.checked.len(), 2, "{}", live.render());
        // An empty history beside a journal with participants.
        let dir2 = folder(
            "empty-history",
            &[
                (HISTORY_FILE, String::new()),
                (JOURNAL_FILE, journal.clone()),
                stale,
            ],
        );
        let e = check_dir(&dir2, &Options::default()).expect_err("empty history");
        assert!(
            e.to_string().contains("incomplete: the journal shows 2"),
            "{e}"
        );
        // A history holding one of the two users.
        let mut history = History::new(true);
        history.push(
            1.0,
            None,
            "user:1",
            Some(1),
            crate::history::What::Send {
                command: two_users_journal()[0].command.clone(),
            },
        );
        let hp = dir2.join(HISTORY_FILE);
        history.write(&hp).expect("history");
        let e = check_dir(&dir2, &Options::default()).expect_err("half a history");
        assert!(
            e.to_string()
                .contains("1 participant(s) it has nothing of (user:2"),
            "{e}"
        );
        // The other way round: a journal cut short after user 1, beside a history in
        // which the server answered user 2 too.
        let entries = two_users_journal();
        let first = serde_json::to_string(&entries[0]).expect("entry") + "\n";
        std::fs::write(dir2.join(JOURNAL_FILE), first).expect("journal");
        let mut history = History::new(true);
        for (n, e) in entries.iter().enumerate() {
            let who = format!("user:{}", n + 1);
            let switchboard_server::protocol::JournalResult::Ok { reply, .. } = &e.result else {
                unreachable!("the helper's entries succeed");
            };
            let send = crate::history::What::Send {
                command: e.command.clone(),
            };
            history.push(1.0, None, &who, Some(1), send);
            history.push(1.0, None, &who, Some(1), crate::history::What::reply(reply));
        }
        history.write(&hp).expect("history");
        let e = check_dir(&dir2, &Options::default()).expect_err("a journal cut short");
        assert!(
            e.to_string().contains(
                "journal.jsonl: incomplete: the history shows 1 participant(s) answered by the \
                 server that it has nothing of (user:2"
            ),
            "{e}"
        );
        for d in [dir, dir2] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    /// The grace period of [`journal_of`]'s Desk, in its milliseconds (a step is one).
    const JOURNAL_GRACE_MS: u64 = 2;

    /// A journal of `steps` handled by a Desk (its default configuration, but for a
    /// grace period of [`JOURNAL_GRACE_MS`]) of queue `q` with agents alice, bob and
    /// carol in it; step n at Desk time n ms.
    fn journal_of(
        steps: Vec<(
            switchboard_server::domain::Principal,
            switchboard_server::domain::Command,
        )>,
    ) -> Vec<JournalEntry> {
        journal_with_grace(JOURNAL_GRACE_MS, steps)
    }

    /// [`journal_of`] with a grace period of `grace_ms`.
    fn journal_with_grace(
        grace_ms: u64,
        steps: Vec<(
            switchboard_server::domain::Principal,
            switchboard_server::domain::Command,
        )>,
    ) -> Vec<JournalEntry> {
        use switchboard_server::domain::{AgentProfile, Desk, DeskConfig, ReferenceData, Time};
        use switchboard_server::protocol::JournalResult;
        let agents = ["alice", "bob", "carol"].map(|a| AgentProfile::chat_agent(a, &["q"]));
        let mut config = DeskConfig::default();
        config.disconnect.agent_grace = Duration::from_millis(grace_ms);
        let mut desk =
            Desk::new(config, ["q".into()], agents, ReferenceData::default()).expect("desk");
        steps
            .into_iter()
            .zip(1..)
            .map(|((principal, command), n)| {
                let o = desk
                    .handle(&principal, command.clone(), Time(n))
                    .unwrap_or_else(|e| panic!("step {n} {command:?}: {e}"));
                JournalEntry {
                    seq: n,
                    at_ms: n,
                    wall_ms: n,
                    principal,
                    command,
                    result: JournalResult::Ok {
                        reply: o.reply,
                        deliveries: o.deliveries,
                    },
                }
            })
            .collect()
    }

    /// A chat's notices go to its side and to nobody else: `agent_joined` to a user
    /// who is not the chat's, or a transfer offered to an agent it is not addressed to
    /// (R5), is a violation; the journal as the Desk wrote it has none.
    #[test]
    fn a_chat_s_notices_to_anyone_outside_it_are_violations() {
        use switchboard_server::domain::{
            AgentId, ChatId, Command, Notice, Principal, Recipient, TransferTarget, UserId,
        };
        use switchboard_server::protocol::JournalResult;
        let agent = |a: &str| Principal::Agent(AgentId::from(a));
        let start = start_chat();
        // Alice hands chat 1 to carol.
        let to_carol = || {
            (
                agent("alice"),
                Command::Transfer {
                    chat: ChatId(1),
                    to: TransferTarget::Agent(AgentId::from("carol")),
                    notes: "over to you".into(),
                },
            )
        };
        let journal = journal_of(vec![
            (agent("alice"), Command::SignIn),
            (Principal::User(UserId(1)), start.clone()),
            (Principal::User(UserId(2)), start),
            (agent("alice"), Command::Accept { chat: ChatId(1) }),
            (agent("bob"), Command::SignIn),
            (agent("carol"), Command::SignIn),
            to_carol(),
            (
                Principal::User(UserId(1)),
                Command::Close { chat: ChatId(1) },
            ),
        ]);
        let opts = Options::default();
        let history = History::new(true);
        let found = |journal: &[JournalEntry]| -> Vec<String> {
            check(&history, Some(journal), &opts)
                .violations
                .iter()
                .map(|v| format!("[{}] {}", v.invariant.name(), v.message))
                .collect()
        };
        assert_eq!(found(&journal), Vec::<String>::new());
        // Mislays one delivery of `kind`, to `to`.
        let mislaid = |kind: &str, to: Recipient| {
            let mut journal = journal.clone();
            let delivery = journal
                .iter_mut()
                .filter_map(|e| match &mut e.result {
                    JournalResult::Ok { deliveries, .. } => Some(deliveries),
                    _ => None,
                })
                .flatten()
                .find(|d| serde_json::to_value(&d.notice).expect("notice")["notice"] == kind)
                .unwrap_or_else(|| panic!("no {kind} in the journal"));
            delivery.to = to;
            found(&journal)
        };
        let joined = mislaid("agent_joined", Recipient::User(UserId(2)));
        assert!(
            joined.contains(
                &"[message_order] agent_joined of chat 1 went to user:2, not its user".to_string()
            ),
            "{joined:?}"
        );
        let offered = mislaid("transfer_offered", Recipient::Agent(AgentId::from("bob")));
        assert!(
            offered.iter().any(|v| v.starts_with(
                "[transfer_visibility] transfer_offered of chat 1 went to agent:bob, not the agent the transfer is addressed to (R5)"
            )),
            "{offered:?}"
        );
        let ended = mislaid("chat_ended", Recipient::Agent(AgentId::from("bob")));
        assert!(
            ended
                .iter()
                .any(|v| v.contains("chat_ended of chat 1 went to agent:bob")),
            "{ended:?}"
        );

        // Notices due and not sent: the user not told of the agent who took the chat
        // (R8), the agent a transfer was addressed to not told the user closed it.
        let dropped = |kind: &str| {
            let mut journal = journal.clone();
            for e in &mut journal {
                if let JournalResult::Ok { deliveries, .. } = &mut e.result {
                    deliveries.retain(|d| {
                        serde_json::to_value(&d.notice).expect("notice")["notice"] != kind
                    });
                }
            }
            found(&journal)
        };
        let unjoined = dropped("agent_joined");
        assert!(
            unjoined.contains(
                &"[message_order] alice was given chat 1 but user:1 was never told (agent_joined, R8)"
                    .to_string()
            ),
            "{unjoined:?}"
        );
        let untold = dropped("chat_ended");
        assert!(
            untold.contains(
                &"[chat_end] chat 1 was closed but agent:carol was never told it ended".to_string()
            ),
            "{untold:?}"
        );

        // A transfer withdrawn (carol signs out before taking it): the chat's end is
        // no longer hers to hear, and the withdrawal only hers.
        let journal = journal_of(vec![
            (agent("alice"), Command::SignIn),
            (Principal::User(UserId(1)), start_chat()),
            (agent("alice"), Command::Accept { chat: ChatId(1) }),
            (agent("carol"), Command::SignIn),
            to_carol(),
            (agent("carol"), Command::SignOut),
            (
                Principal::User(UserId(1)),
                Command::Close { chat: ChatId(1) },
            ),
        ]);
        assert_eq!(found(&journal), Vec::<String>::new());
        let mut told = journal.clone();
        if let Some(JournalResult::Ok { deliveries, .. }) = told.last_mut().map(|e| &mut e.result) {
            deliveries.push(switchboard_server::domain::Delivery {
                to: Recipient::Agent(AgentId::from("carol")),
                notice: Notice::ChatEnded {
                    chat: ChatId(1),
                    state: switchboard_server::domain::ChatState::Abandoned,
                },
            });
        }
        let told = found(&told);
        assert!(
            told.iter()
                .any(|v| v.contains("chat_ended of chat 1 went to agent:carol")),
            "{told:?}"
        );
        let mut withdrawn = journal.clone();
        for e in &mut withdrawn {
            if let JournalResult::Ok { deliveries, .. } = &mut e.result {
                for d in deliveries {
                    if matches!(d.notice, Notice::TransferWithdrawn { .. }) {
                        d.to = Recipient::Agent(AgentId::from("bob"));
                    }
                }
            }
        }
        let withdrawn = found(&withdrawn);
        assert!(
            withdrawn.iter().any(|v| v.starts_with(
                "[transfer_visibility] transfer_withdrawn of chat 1 went to agent:bob"
            )),
            "{withdrawn:?}"
        );
    }

    /// A transfer addressed to an agent whose grace period ran out goes to the chat's
    /// queue, where another member may take it: no violation (the replay finds such
    /// transfers by agent, not by scanning every chat).
    #[test]
    fn a_transfer_to_an_agent_gone_for_good_may_be_taken_from_the_queue() {
        use switchboard_server::domain::{AgentId, ChatId, Command, Principal, UserId};
        let agent = |a: &str| Principal::Agent(AgentId::from(a));
        let journal = journal_of(handed_to_carol(vec![
            (agent("carol"), Command::Disconnect),
            (Principal::System, Command::Tick),
            (Principal::System, Command::Tick),
            (Principal::System, Command::Tick),
            (agent("bob"), Command::SignIn),
            (agent("bob"), Command::AcceptTransfer { chat: ChatId(1) }),
        ]));
        let opts = Options {
            agent_grace_ms: JOURNAL_GRACE_MS,
            ..Options::default()
        };
        let report = check(&History::new(true), Some(&journal), &opts);
        assert!(report.violations.is_empty(), "{:?}", report.violations);

        // Past carol's deadline but before the tick that releases her, the chat is
        // still hers: the user's close tells her (and her late sign-in tells her again).
        let untimely = journal_of(handed_to_carol(vec![
            (agent("carol"), Command::Disconnect),
            (agent("bob"), Command::SignIn),
            (agent("bob"), Command::SignOut),
            (
                Principal::User(UserId(1)),
                Command::Close { chat: ChatId(1) },
            ),
            (agent("carol"), Command::SignIn),
        ]));
        let told = |to: &str| {
            untimely.iter().any(|e| match &e.result {
                switchboard_server::protocol::JournalResult::Ok { deliveries, .. } => {
                    deliveries.iter().any(|d| {
                        d.to == switchboard_server::domain::Recipient::Agent(AgentId::from(to))
                            && matches!(
                                d.notice,
                                switchboard_server::domain::Notice::ChatEnded { .. }
                            )
                    })
                }
                _ => false,
            })
        };
        assert!(told("carol"), "the Desk tells carol");
        let report = check(&History::new(true), Some(&untimely), &opts);
        assert!(report.violations.is_empty(), "{:?}", report.violations);

        // With no grace period at all the Desk releases carol at her disconnect, and
        // her transfer goes to the queue in that very step.
        let at_once = journal_with_grace(
            0,
            handed_to_carol(vec![
                (agent("carol"), Command::Disconnect),
                (agent("bob"), Command::SignIn),
                (agent("bob"), Command::AcceptTransfer { chat: ChatId(1) }),
            ]),
        );
        let no_grace = Options {
            agent_grace_ms: 0,
            ..Options::default()
        };
        let report = check(&History::new(true), Some(&at_once), &no_grace);
        assert!(report.violations.is_empty(), "{:?}", report.violations);

        // Held to a longer grace than the Desk's, the replay still has the transfer
        // addressed to carol: bob had no right to it.
        let report = check(&History::new(true), Some(&journal), &Options::default());
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.invariant == Invariant::TransferVisibility),
            "{:?}",
            report.violations
        );
    }

    #[test]
    fn a_journal_with_lines_missing_repeated_or_moved_is_refused_at_the_line() {
        let lines: Vec<String> = two_users_journal()
            .iter()
            .map(|e| serde_json::to_string(e).expect("entry"))
            .collect();
        assert!(lines.len() >= 2);
        let read = |name: &str, text: String| {
            let dir = folder(name, &[(JOURNAL_FILE, text)]);
            let got = read_journal(&dir.join(JOURNAL_FILE));
            let _ = std::fs::remove_dir_all(dir);
            got
        };
        assert!(read("journal-whole", lines.join("\n") + "\n").is_ok());
        let repeated = format!("{}\n{}\n", lines[0], lines[0]);
        let e = read("journal-repeated", repeated).expect_err("a line twice");
        assert!(
            e.to_string()
                .contains("journal.jsonl:2: entry seq 1 where 2 was next"),
            "{e}"
        );
        let swapped = format!("{}\n{}\n", lines[1], lines[0]);
        let e = read("journal-swapped", swapped).expect_err("lines swapped");
        assert!(
            e.to_string()
                .contains("journal.jsonl:1: entry seq 2 where 1 was next"),
            "{e}"
        );
        let mut back: JournalEntry = serde_json::from_str(&lines[1]).expect("entry");
        back.at_ms = 0;
        let first: JournalEntry = serde_json::from_str(&lines[0]).expect("entry");
        assert!(first.at_ms > 0, "the helper's entries are timed from 1 ms");
        let text = format!(
            "{}\n{}\n",
            lines[0],
            serde_json::to_string(&back).expect("entry")
        );
        let e = read("journal-back", text).expect_err("time going back");
        assert!(e.to_string().contains("Desk time goes back"), "{e}");
    }

    #[test]
    fn a_run_whose_journal_cannot_be_read_does_not_pass() {
        let dir = std::env::temp_dir().join(format!("sb-check-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        History::new(true)
            .write(&dir.join(HISTORY_FILE))
            .expect("history");
        std::fs::write(dir.join(JOURNAL_FILE), "{\"seq\": 1, \"at_ms\"\n").expect("journal");
        let scenario =
            crate::scenario::Scenario::load(Path::new("../scenarios/quickstart.toml"), &[])
                .expect("scenario");
        let mut s = summary();
        assert!(s.passed);
        let outcome = check_run(&dir, &scenario, &mut s);
        let _ = std::fs::remove_dir_all(&dir);
        let RunCheck::Failed(e) = outcome else {
            panic!("an unreadable journal was checked: {outcome:?}");
        };
        assert!(e.to_string().contains("journal.jsonl:1:"), "{e}");
        assert!(!s.passed, "nothing was verified, so the run does not pass");
    }
}
