//! `switchboard`: the simulator's command line.
//!
//! Exit codes: 0 success, 1 a threshold or invariant failed (for `compare`, which holds
//! runs to thresholds without failing on them: it stopped early, with the replications
//! before), 2 usage or scenario error, or a run that could not be carried out or
//! reported.

use anyhow::{Context as _, Result};
use clap::parser::ValueSource;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard_sim::console;
use switchboard_sim::dist::format_duration;
use switchboard_sim::folder::Made;
use switchboard_sim::live::LiveOptions;
use switchboard_sim::run::{self, Driver};
use switchboard_sim::scenario::{Override, Scenario, ScenarioError};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Load-testing and simulation harness for live-chat routing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write its report.
    Run {
        /// The scenario file.
        file: PathBuf,
        /// `live` (real server, real sockets) or `virtual` (discrete events, no sockets).
        #[arg(long, value_enum, default_value_t = ModeArg::Live)]
        mode: ModeArg,
        /// Report folder [default: reports/<scenario>/<timestamp>/, with -002, -003, …
        /// added when a run started in the same second has it].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Drive a separately started server (`HOST:PORT`, `ws://HOST:PORT` or
        /// `http://HOST:PORT`) instead of the embedded one; it is provisioned through
        /// its admin API.
        #[arg(long)]
        target: Option<String>,
        /// The external server's admin token (with --target; ignored, with a warning,
        /// without it).
        #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN")]
        admin_token: Option<String>,
        /// Use this master seed instead of the scenario's (0 to 9223372036854775807,
        /// the range a scenario file can hold, so that any run can be written down).
        #[arg(long, value_parser = parse_seed)]
        seed: Option<u64>,
        /// Override a field, e.g. `routing.policy=round-robin` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
        set: Vec<Override>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Regenerate the plots and report.html of a run folder from its saved data
    /// (summary.json, timeseries.csv, histograms.hlog) without re-running.
    Report {
        /// The run folder.
        dir: PathBuf,
    },
    /// Check the routing invariants of a run folder (history.jsonl, journal.jsonl);
    /// exit 1 on any violation. See docs/checker.md.
    Check {
        /// The run folder.
        dir: PathBuf,
    },
    /// Check a scenario file (and overrides) without running it.
    Validate {
        /// The scenario file.
        file: PathBuf,
        /// Also check what a run in this mode would refuse or ignore: `live` (with the
        /// embedded server) or `virtual`.
        #[arg(long, value_enum, default_value_t = ModeArg::Live)]
        mode: ModeArg,
        /// Override a field, e.g. `routing.policy=round-robin` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
        set: Vec<Override>,
        /// Check a live run against a separately started server (`run --target`), which
        /// takes one open file per connection where the embedded server takes two
        /// (live mode only).
        #[arg(long)]
        external: bool,
    },
    /// Compare variants of a scenario (every combination of the varied keys), each
    /// with N replications on common random numbers.
    Compare {
        /// The scenario file.
        file: PathBuf,
        /// A key and its values, e.g. `routing.policy=least-active,round-robin`
        /// (repeatable; every combination runs).
        #[arg(long, value_name = "KEY=V1,V2,…", required = true)]
        vary: Vec<switchboard_sim::compare::Vary>,
        /// Replications per variant; replication i uses master seed `seed + i`.
        #[arg(long, default_value_t = 5)]
        replications: u64,
        /// The metric whose mean orders the variants: service_level, accept_wait.mean,
        /// accept_wait.p50, accept_wait.p95, accept_wait.p99, abandon_rate or fairness
        /// (ties: service level, mean accept_wait, then the others in that order).
        #[arg(long, value_name = "METRIC", default_value = "service_level")]
        rank_by: switchboard_sim::compare::RankBy,
        /// `virtual` (default) or `live`.
        #[arg(long, value_enum, default_value_t = ModeArg::Virtual)]
        mode: ModeArg,
        /// Report folder [default: reports/<scenario>/compare-<timestamp>/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a field in every variant (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
        set: Vec<Override>,
    },
    /// Erlang C / Erlang A figures and a staffing table.
    Erlang {
        /// Arrival rate, e.g. `160/h`, `3/min`.
        #[arg(long)]
        rate: switchboard_sim::dist::Rate,
        /// Mean handle time, e.g. `180s`, `3m`.
        #[arg(long, value_parser = parse_seconds)]
        handle_time: f64,
        /// Agents.
        #[arg(long)]
        agents: u64,
        /// Chats per agent at once (auto-accept "Available for N", 1 to 4); N slots = N
        /// servers.
        #[arg(long, default_value_t = 1)]
        slots: u64,
        /// Mean patience (exponential): Erlang A. Absent: Erlang C.
        #[arg(long, value_parser = parse_seconds)]
        patience: Option<f64>,
        /// Service-level target.
        #[arg(long, value_parser = parse_seconds, default_value = "20s")]
        target: f64,
        /// Service-level goal for the staffing table, e.g. `80%` or `0.8`.
        #[arg(long, value_parser = parse_share, default_value = "80%")]
        goal: f64,
    },
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    switchboard_sim::dist::parse_duration(s).map(|d| d.as_secs_f64())
}

/// `--out` names a folder, or nothing yet.
fn out_is_a_folder(out: &std::path::Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        anyhow::bail!("--out {}: a file, not a folder", out.display());
    }
    Ok(())
}

/// A master seed: a whole number a scenario file can hold.
fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| format!("a seed is a whole number from 0 to {}", i64::MAX))
}

fn parse_share(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a share such as 80% or 0.8"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "`{s}` is not a share between 0% and 100% (write 80% or 0.8)"
        ))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    Live,
    Virtual,
}

/// The `HOST:PORT` of a `--target`: given as is, or as the server's WebSocket or HTTP
/// address (one port serves both), with or without the `/ws` path.
fn target_host_port(target: &str) -> Result<&str, String> {
    let t = target.trim();
    let rest = match t.split_once("://") {
        None => t,
        Some(("ws" | "http", rest)) => rest,
        Some(("wss" | "https", _)) => {
            return Err("TLS is not supported: the reference server speaks plain ws://".into());
        }
        Some((scheme, _)) => {
            return Err(format!(
                "unknown scheme `{scheme}://`; give HOST:PORT or ws://HOST:PORT"
            ));
        }
    };
    let hostport = rest.trim_end_matches('/');
    let hostport = hostport.strip_suffix("/ws").unwrap_or(hostport);
    if hostport.is_empty() || hostport.contains('/') {
        return Err("expected HOST:PORT, ws://HOST:PORT or ws://HOST:PORT/ws".into());
    }
    // `[::1]:8080`, `127.0.0.1:8080`, `localhost:8080`: the port follows the last colon,
    // after the closing bracket of an IPv6 address.
    let port = hostport
        .rsplit_once(':')
        .filter(|(host, _)| !host.contains(':') || host.ends_with(']'))
        .map(|(_, port)| port);
    match port {
        Some(p) if p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(hostport),
        Some(p) => Err(format!(
            "`{p}` in `{hostport}` is not a port number (1 to 65535)"
        )),
        None => Err(format!(
            "`{hostport}` has no port: give HOST:PORT (the server prints the address it \
             listens on when it starts)"
        )),
    }
}

fn parse_override(s: &str) -> Result<Override, String> {
    s.parse()
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // A token in the environment is there for whichever run has a target; one on the
    // command line of a run without a target is a mistake worth pointing out.
    if let Some(run) = matches.subcommand_matches("run")
        && run.value_source("admin_token") == Some(ValueSource::CommandLine)
        && run.get_one::<String>("target").is_none()
    {
        eprintln!(
            "warning: --admin-token is only used with --target: the embedded server needs none"
        );
    }
    let drains = matches!(
        cli.command,
        Command::Run {
            mode: ModeArg::Live,
            ..
        } | Command::Compare {
            mode: ModeArg::Live,
            ..
        }
    );
    if let Err(e) = switchboard_sim::live::listen_for_interrupt(drains) {
        eprintln!("warning: cannot listen for Ctrl-C: {e}");
    }
    match dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", switchboard_server::cli::describe(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate {
            file,
            mode,
            set,
            external,
        } => Ok(validate(&file, mode, &set, external)),
        Command::Check { dir } => {
            let opts = switchboard_sim::checker::options_of(&dir);
            let report = switchboard_sim::checker::check_dir(&dir, &opts)?;
            print!("{}", report.render());
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Report { dir } => {
            let rendered = switchboard_sim::report::render(&dir)?;
            println!("report: {}", rendered.html.display());
            // The verdict the run recorded (a redraw does not re-evaluate it).
            let summary = switchboard_sim::metrics::read_summary(&dir)?;
            for w in &summary.warnings {
                println!("WARNING: {w}");
            }
            println!("result: {}", console::verdict(&summary));
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare {
            file,
            vary,
            replications,
            rank_by,
            mode,
            out,
            set,
        } => compare(&file, &set, vary, replications, rank_by, mode, out).await,
        Command::Erlang {
            rate,
            handle_time,
            agents,
            slots,
            patience,
            target,
            goal,
        } => {
            let q = switchboard_sim::erlang::print::Question {
                rate: rate.per_second(),
                handle_time,
                agents,
                slots,
                patience,
                target,
                goal,
            };
            match switchboard_sim::erlang::print::answer(&q) {
                Ok(text) => {
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Run {
            file,
            mode,
            out,
            target,
            admin_token,
            seed,
            set,
            quiet,
        } => {
            let mut scenario = match Scenario::load(&file, &set) {
                Ok(s) => s,
                Err(ScenarioError::Invalid(diagnostics)) => {
                    for d in &diagnostics {
                        eprintln!("{d}");
                    }
                    return Ok(ExitCode::from(2));
                }
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(2));
                }
            };
            if let Some(seed) = seed {
                scenario.seed = seed;
            }
            let driver = match mode {
                ModeArg::Virtual if target.is_some() => {
                    eprintln!(
                        "error: --target drives a live server: it cannot be used with --mode virtual"
                    );
                    return Ok(ExitCode::from(2));
                }
                ModeArg::Virtual => Driver::Virtual,
                ModeArg::Live => {
                    let target = match target {
                        None => None,
                        Some(t) => {
                            let hostport = target_host_port(&t)
                                .map_err(|e| anyhow::anyhow!("--target {t}: {e}"))?;
                            let addr = tokio::net::lookup_host(hostport)
                                .await
                                .ok()
                                .and_then(|mut a| a.next())
                                .ok_or_else(|| {
                                    anyhow::anyhow!(
                                        "--target {t}: cannot resolve `{hostport}` (HOST:PORT)"
                                    )
                                })?;
                            let token = admin_token.ok_or_else(|| {
                                anyhow::anyhow!("--target needs --admin-token (or SWITCHBOARD_ADMIN_TOKEN) to provision the server")
                            })?;
                            Some((addr, token))
                        }
                    };
                    Driver::Live(LiveOptions {
                        target,
                        journal: None,
                        progress: !quiet,
                        history: true,
                        interrupt_ends_at_once: false,
                    })
                }
            };
            let (out, claimed) = match out {
                Some(out) => (out, Made::default()),
                None => run::claim_default(&scenario)?,
            };
            out_is_a_folder(&out)?;
            if out.join("summary.json").exists() {
                eprintln!(
                    "note: {} holds an earlier run's report; this run replaces it",
                    out.display()
                );
            }
            eprintln!(
                "running `{}` ({} mode), seed {} (each participant's seed derives from it), report in {}",
                scenario.name,
                match mode {
                    ModeArg::Live => "live",
                    ModeArg::Virtual => "virtual",
                },
                scenario.seed,
                out.display()
            );
            let summary = match run::run(&scenario, &set, driver, &out).await {
                Ok(summary) => summary,
                Err(e) => {
                    claimed.undo();
                    return Err(e.into());
                }
            };
            if let Some(inv) = summary.invariants.as_ref().filter(|i| i.violations > 0) {
                println!(
                    "ROUTING INVARIANTS VIOLATED: {} (details in invariants.json)",
                    inv.violations
                );
                for line in &inv.first {
                    println!("  {line}");
                }
            }
            println!("{}", console::render(&summary));
            print!(
                "{}",
                switchboard_sim::erlang::Analytic::of(&scenario, &summary).render()
            );
            println!("report: {}", out.display());
            println!("result: {}", console::verdict(&summary));
            Ok(if summary.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

async fn compare(
    file: &std::path::Path,
    set: &[Override],
    vary: Vec<switchboard_sim::compare::Vary>,
    replications: u64,
    rank_by: switchboard_sim::compare::RankBy,
    mode: ModeArg,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    use switchboard_sim::compare::{self, Plan};
    use switchboard_sim::metrics::Mode;
    let plan = match Plan::new(file, set, vary, replications) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mode = match mode {
        ModeArg::Live => Mode::Live,
        ModeArg::Virtual => Mode::Virtual,
    };
    if let Err(e) = plan.check_mode(mode) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let name = plan
        .variants
        .first()
        .map_or_else(String::new, |v| v.scenario.name.clone());
    let (out, claimed) = match out {
        Some(out) => (out, Made::default()),
        None => {
            let parent = PathBuf::from("reports").join(&name);
            switchboard_sim::folder::claim(&parent, "compare-")
                .with_context(|| format!("cannot make a report folder in {}", parent.display()))?
        }
    };
    out_is_a_folder(&out)?;
    if out.join("comparison.csv").exists() {
        eprintln!(
            "note: {} holds an earlier comparison; this one replaces it",
            out.display()
        );
    }
    eprintln!(
        "comparing `{name}` ({mode} mode): {} variant{} x {} replication{}, seeds {}..={}, report in {}",
        plan.variants.len(),
        if plan.variants.len() == 1 { "" } else { "s" },
        plan.replications,
        if plan.replications == 1 { "" } else { "s" },
        plan.seed,
        plan.seed.wrapping_add(plan.replications).wrapping_sub(1),
        out.display()
    );
    // A bar on a terminal; a line per run in a log.
    let total = plan.variants.len() as u64 * plan.replications;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "[{elapsed_precise}] {wide_bar} {pos}/{len} runs, last: {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let compared = compare::compare(&plan, mode, rank_by, |done, total, variant| match &bar {
        Some(bar) => {
            bar.set_position(done as u64);
            bar.set_message(variant.to_string());
        }
        None => eprintln!("  [{done}/{total}] {variant}"),
    })
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let result = match compared {
        Ok(result) => result,
        Err(e) => {
            claimed.undo();
            return Err(e.into());
        }
    };
    compare::write(&result, &out)?;
    println!("{}", compare::report::render(&result));
    println!("report: {}", out.join("comparison.html").display());
    Ok(match &result.stopped {
        None => ExitCode::SUCCESS,
        Some(why) => {
            eprintln!("error: the comparison stopped early at {why}");
            ExitCode::from(1)
        }
    })
}

fn validate(file: &std::path::Path, mode: ModeArg, set: &[Override], external: bool) -> ExitCode {
    if external && mode == ModeArg::Virtual {
        // As `run --target --mode virtual` is refused.
        eprintln!(
            "error: --external checks a live run against a separate server: it cannot be used \
             with --mode virtual"
        );
        return ExitCode::from(2);
    }
    match Scenario::load(file, set) {
        Ok(s) => {
            // What would stop the live run meant (`run`, or `run --target` with
            // `--external`) is an error, as `run` refuses it.
            if mode == ModeArg::Live {
                if let Err(e) = switchboard_sim::live::preflight(&s, false) {
                    eprintln!("{}: a live run would not start: {e}", file.display());
                    return ExitCode::from(2);
                }
                if !external && let Err(e) = switchboard_sim::live::preflight(&s, true) {
                    eprintln!(
                        "{}: a live run with the embedded server would not start: {e} \
                         (`validate --external` checks a run against a separately started \
                         server)",
                        file.display()
                    );
                    return ExitCode::from(2);
                }
            }
            let groups = s.agents.len();
            println!(
                "{}: ok: `{}`, {} agents in {groups} group{}, {} user stream{} (~{:.0} users over {}), policy {} (auto-accept {})",
                file.display(),
                s.name,
                s.agent_count(),
                if groups == 1 { "" } else { "s" },
                s.users.len(),
                if s.users.len() == 1 { "" } else { "s" },
                s.expected_users(),
                format_duration(s.duration),
                s.routing.policy,
                if s.routing.auto_accept() { "on" } else { "off" },
            );
            let unmodelled = match mode {
                ModeArg::Live => Vec::new(),
                ModeArg::Virtual => s.unmodelled_in_virtual_time(),
            };
            for advice in s.advisories().into_iter().chain(unmodelled) {
                eprintln!("warning: {advice}");
            }
            ExitCode::SUCCESS
        }
        Err(ScenarioError::Invalid(diagnostics)) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::target_host_port;

    #[test]
    fn a_target_is_read_in_the_forms_a_user_copies() {
        for t in [
            "127.0.0.1:8080",
            "ws://127.0.0.1:8080",
            "ws://127.0.0.1:8080/",
            "ws://127.0.0.1:8080/ws",
            "http://127.0.0.1:8080/",
            " 127.0.0.1:8080 ",
        ] {
            assert_eq!(target_host_port(t), Ok("127.0.0.1:8080"), "{t}");
        }
        assert!(target_host_port("wss://h:1").unwrap_err().contains("TLS"));
        assert!(
            target_host_port("ftp://h:1")
                .unwrap_err()
                .contains("`ftp://`")
        );
        assert!(target_host_port("ws://h:1/metrics").is_err());
        assert!(target_host_port("ws://").is_err());
        assert_eq!(target_host_port("[::1]:9000"), Ok("[::1]:9000"));
        assert_eq!(target_host_port("localhost:9000"), Ok("localhost:9000"));
        for no_port in [
            "localhost",
            "127.0.0.1",
            "ws://127.0.0.1/ws",
            "[::1]",
            "::1",
        ] {
            let e = target_host_port(no_port).unwrap_err();
            assert!(e.contains("has no port"), "{no_port}: {e}");
        }
        for bad in ["127.0.0.1:http", "127.0.0.1:0", "127.0.0.1:65536"] {
            let e = target_host_port(bad).unwrap_err();
            assert!(e.contains("not a port number"), "{bad}: {e}");
        }
    }
}
