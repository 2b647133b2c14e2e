//! One run of a scenario, live or in virtual time, from the loaded scenario to the
//! report folder: drive it, merge what was measured, evaluate the thresholds, write
//! `summary.json` and `summary.csv`.

use crate::checker::{JOURNAL_FILE, RunCheck};
use crate::folder::{self, Made};
use crate::history::HISTORY_FILE;
use crate::host::{self, HostSample, Interference};
use crate::live::{self, LiveError, LiveOptions};
use crate::metrics::{Elapsed, Mode, RunInfo, Summary, WallClock, WriteError, write_summary};
use crate::scenario::{Override, Scenario};
use crate::virtual_time::{VirtualError, VirtualRun};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};
use switchboard_server::protocol::JournalEntry;

/// Which runtime drives the scenario.
#[derive(Clone, Debug)]
pub enum Driver {
    /// Real server, real sockets.
    Live(LiveOptions),
    /// Discrete events against the Desk.
    Virtual,
}

/// Why a run failed to produce a report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Live mode could not run.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// Virtual mode could not run.
    #[error(transparent)]
    Virtual(#[from] VirtualError),
    /// Measurements could not be summarised.
    #[error("summarising: {0}")]
    Metrics(String),
    /// The report could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The time series, HDR log, plots or HTML report could not be written.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
}

/// Claims the default report folder, `reports/<scenario>/<UTC timestamp>/` (with `-002`,
/// `-003`, … when a run started in the same second has it): see [`folder::claim`].
pub fn claim_default(scenario: &Scenario) -> Result<(PathBuf, Made), WriteError> {
    let parent = Path::new("reports").join(&scenario.name);
    folder::claim(&parent, "").map_err(|source| WriteError::Io {
        path: parent,
        source,
    })
}

/// Runs `scenario` with `driver` and writes its report to `out`; returns the summary.
pub async fn run(
    scenario: &Scenario,
    overrides: &[Override],
    driver: Driver,
    out: &Path,
) -> Result<Summary, RunError> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    // A live run that cannot start is refused before its folder exists.
    if let Driver::Live(opts) = &driver {
        live::preflight(scenario, opts.target.is_none())?;
    }
    let made = folder::make(out).map_err(|source| WriteError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let result = run_into(scenario, overrides, driver, out, started_at).await;
    if result.is_err() {
        // A run that failed before writing anything (a server that refused the
        // admin token, say) leaves no empty folders behind.
        made.undo();
    }
    result
}

/// [`run`] once its report folder exists.
async fn run_into(
    scenario: &Scenario,
    overrides: &[Override],
    driver: Driver,
    out: &Path,
    started_at: String,
) -> Result<Summary, RunError> {
    remove_stale_records(out)?;
    let wall = Instant::now();
    let mut interrupted = None;
    let mut external = false;
    let mut interference = None;
    let mut unconnected = None;
    let mut unlike_faults = Vec::new();
    let (mode, mut recorder, elapsed, history) = match driver {
        Driver::Virtual => {
            let mut run = VirtualRun::new(scenario)?;
            // A history (and journal) of a million-chat day would not fit in memory;
            // large runs keep neither, and the checker has nothing to read then.
            run.keep_history(scenario.expected_users() <= crate::virtual_time::LARGE_RUN_USERS);
            let (recorder, stats, _desk, history, journal) = run.run_with_history();
            if !journal.is_empty() {
                write_journal(&out.join(JOURNAL_FILE), &journal)?;
            }
            let elapsed = Elapsed {
                scenario_seconds: stats.end.as_secs_f64(),
                interval_seconds: recorder.interval().as_secs_f64(),
            };
            (Mode::Virtual, recorder, elapsed, history)
        }
        Driver::Live(mut opts) => {
            external = opts.target.is_some();
            if opts.target.is_none() && opts.journal.is_none() {
                opts.journal = Some(out.join(JOURNAL_FILE));
            }
            let before = HostSample::now();
            let outcome = live::run(scenario, opts).await?;
            interference = HostSample::now().interference_since(&before);
            interrupted = outcome.interrupted;
            unconnected = unconnected_agents_warning(outcome.agents_unconnected, scenario);
            unlike_faults = outcome.unlike_faults;
            let elapsed = Elapsed {
                scenario_seconds: outcome.scenario.as_secs_f64(),
                interval_seconds: outcome.recorder.interval().as_secs_f64(),
            };
            (Mode::Live, outcome.recorder, elapsed, outcome.history)
        }
    };
    let mut info = RunInfo::for_scenario(scenario, mode, overrides);
    info.wall_clock = WallClock {
        started_at: Some(started_at),
        real_seconds: wall.elapsed().as_secs_f64(),
        interference,
    };
    info.elapsed = elapsed;
    if history.enabled {
        let path = out.join(HISTORY_FILE);
        history
            .write(&path)
            .map_err(|source| WriteError::Io { path, source })?;
    }
    // Written: the checker reads the file back, so the events need not stay in memory
    // beside its own copy of them.
    drop(history);
    let mut summary =
        Summary::build(info, &mut recorder).map_err(|e| RunError::Metrics(e.to_string()))?;
    summary.apply_thresholds(&scenario.thresholds.0);
    summary.warnings.extend(scenario.advisories());
    if mode == Mode::Virtual {
        summary
            .warnings
            .extend(scenario.unmodelled_in_virtual_time());
    }
    if let Some(when) = interrupted {
        // A partial run says nothing about the scenario's thresholds.
        summary.passed = false;
        summary.warnings.push(
            match when {
                live::Interrupted::DuringArrivals => crate::metrics::summary::INTERRUPTED_WARNING,
                live::Interrupted::DuringDrain => {
                    crate::metrics::summary::INTERRUPTED_IN_DRAIN_WARNING
                }
            }
            .to_string(),
        );
    }
    if external {
        summary
            .warnings
            .extend(reference_data_warnings(scenario, &summary));
    }
    summary
        .warnings
        .extend(interference.and_then(|i| disturbance_warning(i, external)));
    summary.warnings.extend(unconnected);
    summary.warnings.extend(unlike_faults);
    // Routing invariants over history and journal (docs/checker.md): a violation
    // fails the run and is listed in `summary.invariants`.
    match crate::checker::check_run(out, scenario, &mut summary) {
        RunCheck::Checked(_) => {}
        RunCheck::NoHistory => summary.warnings.push(format!(
            "routing checker not run: the run kept no history (virtual runs expecting more \
             than {} users keep neither history nor journal, to fit in memory)",
            crate::virtual_time::LARGE_RUN_USERS
        )),
        RunCheck::Failed(e) => summary
            .warnings
            .push(format!("{}: {e}", crate::checker::UNREADABLE_WARNING)),
    }
    write_summary(out, &summary)?;
    crate::report::write_data(out, &summary, &mut recorder)?;
    crate::report::render(out)?;
    // The Erlang yardstick lives in its own file so the summary's schema stays the
    // metrics module's.
    crate::erlang::Analytic::of(scenario, &summary)
        .write(out)
        .map_err(|source| WriteError::Io {
            path: out.join("analytic.json"),
            source,
        })?;
    Ok(summary)
}

/// What an earlier run left in a reused folder and a new run removes before it starts.
const EARLIER_RUN_FILES: [&str; 9] = [
    JOURNAL_FILE,
    HISTORY_FILE,
    crate::checker::REPORT_FILE,
    crate::metrics::write::SUMMARY_JSON,
    crate::metrics::write::SUMMARY_CSV,
    crate::report::REPORT_HTML,
    crate::report::TIMESERIES_CSV,
    crate::report::HISTOGRAMS_HLOG,
    "analytic.json",
];

/// Removes the records, verdict and report an earlier run left in `out`: a report
/// folder describes one run. The checker must not read another run's records (nor a
/// server append this run's journal to them), and a run that fails or is interrupted
/// before writing its own summary must not leave the earlier run's verdict standing
/// beside its journal (`switchboard report` would show it as this run's). Plots are
/// left: they are redrawn from the summary, and none is shown without one.
fn remove_stale_records(out: &Path) -> Result<(), WriteError> {
    for name in EARLIER_RUN_FILES {
        let path = out.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(WriteError::Io { path, source }),
        }
    }
    Ok(())
}

/// Writes a virtual run's Desk journal in the server's format (one JSON line each).
fn write_journal(path: &Path, journal: &[JournalEntry]) -> Result<(), WriteError> {
    crate::checker::write_journal(path, journal).map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A warning when agents could not connect as a live run started (`(failed, of)`):
/// without fault injection they never join, and the figures describe a smaller team
/// than the scenario's.
fn unconnected_agents_warning((failed, of): (usize, usize), scenario: &Scenario) -> Option<String> {
    (failed > 0).then(|| {
        let after = if scenario.faults.reconnects() {
            "they kept trying, and joined late if at all"
        } else {
            "they never joined"
        };
        format!(
            "{failed} of {of} agents could not connect when the run started ({after}; see \
             errors.connect_failed and errors.bad_frame): service level, occupancy and waits describe fewer \
             agents than the scenario has"
        )
    })
}

/// A warning when the machine was busy besides a live run. Other processes count only
/// when the server runs inside this one: a server started on its own may be one of
/// them (on this machine), and it is part of the run.
fn disturbance_warning(i: Interference, external_server: bool) -> Option<String> {
    let taken = if external_server {
        i.stolen_cores
    } else {
        i.taken_cores()
    };
    (taken >= host::DISTURBED_CORES).then(|| {
        format!(
            "machine busy besides the run: steal time {:.2} and other processes {:.2} cores on \
             average{}; from {} core on, the figures describe the machine as much as the \
             server: run again on a quieter machine",
            i.stolen_cores,
            i.others_cores,
            if external_server {
                " (against a server started on its own, which may be one of the other \
                 processes, only steal time counts)"
            } else {
                ""
            },
            host::DISTURBED_CORES
        )
    })
}

/// Workflows that need reference data and never happened against a separately started
/// server: it searches its own articles and templates (the simulator gives the embedded
/// server a set matched to the scenarios' subjects), so an agent who finds none skips
/// the step without an error.
fn reference_data_warnings(scenario: &Scenario, summary: &Summary) -> Vec<String> {
    let c = &summary.counters;
    // Enough chats that the workflow would have happened at least once.
    let chats = c.chats.accepted as f64;
    let mut out = Vec::new();
    let share: f64 = scenario
        .agents
        .iter()
        .map(|g| g.share_article_probability)
        .fold(0.0, f64::max);
    if share * chats >= 5.0 && c.articles.shared == 0 {
        out.push(
            "no knowledge article was shared: the target server's searches found none (a \
             separately started server has only the articles of its own configuration)"
                .to_string(),
        );
    }
    let template: f64 = scenario
        .agents
        .iter()
        .filter_map(|g| g.ticket.as_ref())
        .map(|t| t.probability * t.template_probability)
        .fold(0.0, f64::max);
    if template * chats >= 5.0 && c.tickets.from_template == 0 {
        out.push(
            "no ticket was created from a template: the target server's searches found none \
             (a separately started server has only the templates of its own configuration)"
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{
        Driver, EARLIER_RUN_FILES, Interference, RunError, disturbance_warning,
        remove_stale_records, run,
    };
    use crate::live::LiveOptions;
    use crate::scenario::Scenario;

    #[tokio::test]
    async fn a_run_that_fails_before_writing_leaves_no_folder() {
        let scenario = Scenario::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/quickstart.toml"),
            &[],
        )
        .unwrap();
        // Nothing listens there: provisioning fails at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let driver = || {
            Driver::Live(LiveOptions {
                target: Some((closed, "token".into())),
                journal: None,
                progress: false,
                history: true,
                interrupt_ends_at_once: false,
            })
        };
        let base = std::env::temp_dir().join(format!("sb-failed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let out = base.join("reports").join("report");
        let failed = run(&scenario, &[], driver(), &out).await;
        // It got as far as the server (past the checks made before any folder).
        assert!(matches!(failed, Err(RunError::Live(_))), "{failed:?}");
        assert!(
            !base.join("reports").exists(),
            "the folders made for the report are gone"
        );
        // A folder the user already had stays.
        std::fs::create_dir_all(&out).unwrap();
        assert!(run(&scenario, &[], driver(), &out).await.is_err());
        assert!(out.is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_busy_machine_is_a_warning_and_a_local_server_is_not_other_work() {
        let quiet = Interference {
            stolen_cores: 0.02,
            others_cores: 0.03,
        };
        assert_eq!(disturbance_warning(quiet, false), None);
        let busy = Interference {
            stolen_cores: 0.02,
            others_cores: 0.9,
        };
        let w = disturbance_warning(busy, false).expect("other processes took 0.9 core");
        assert!(w.contains("other processes 0.90 cores"), "{w}");
        // Against a server started on its own, that server is one of the other
        // processes: only steal time counts.
        assert_eq!(disturbance_warning(busy, true), None);
        let stolen = Interference {
            stolen_cores: 0.15,
            others_cores: 0.9,
        };
        let w = disturbance_warning(stolen, true).expect("steal counts");
        assert!(
            w.contains("steal time 0.15") && w.contains("only steal"),
            "{w}"
        );
    }

    #[test]
    fn an_earlier_runs_records_and_verdict_are_removed_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("sb-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in EARLIER_RUN_FILES.iter().chain(&["notes.txt"]) {
            std::fs::write(dir.join(name), "earlier run\n").unwrap();
        }
        remove_stale_records(&dir).unwrap();
        for name in EARLIER_RUN_FILES {
            assert!(!dir.join(name).exists(), "{name}");
        }
        assert!(dir.join("notes.txt").exists());
        // Nothing to remove is fine too.
        remove_stale_records(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
