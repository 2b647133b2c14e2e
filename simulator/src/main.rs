//! `switchboard`: the simulator's command line.
//!
//! Exit codes: 0 success, 1 a threshold or invariant failed, 2 usage or scenario error.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard_sim::dist::format_duration;
use switchboard_sim::console;
use switchboard_sim::live::LiveOptions;
use switchboard_sim::run::{self, Driver, default_out};
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
        /// Report folder [default: reports/<scenario>/<timestamp>/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Drive a separately started server (`ws://HOST:PORT` or `HOST:PORT`) instead
        /// of the embedded one; it is provisioned through its admin API.
        #[arg(long)]
        target: Option<String>,
        /// The external server's admin token (with --target).
        #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN")]
        admin_token: Option<String>,
        /// Use this master seed instead of the scenario's.
        #[arg(long)]
        seed: Option<u64>,
        /// Override a field, e.g. `routing.policy=round-robin` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
        set: Vec<Override>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Check a scenario file (and overrides) without running it.
    Validate {
        /// The scenario file.
        file: PathBuf,
        /// Override a field, e.g. `routing.policy=round-robin` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
        set: Vec<Override>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    Live,
    Virtual,
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
        .init();
    let cli = Cli::parse();
    match dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate { file, set } => Ok(validate(&file, &set)),
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
                ModeArg::Virtual => Driver::Virtual,
                ModeArg::Live => {
                    let target = match target {
                        None => None,
                        Some(t) => {
                            let hostport = t
                                .trim_start_matches("ws://")
                                .trim_end_matches('/')
                                .trim_end_matches("/ws");
                            let addr = tokio::net::lookup_host(hostport)
                                .await
                                .ok()
                                .and_then(|mut a| a.next())
                                .ok_or_else(|| anyhow::anyhow!("--target {t}: not a reachable HOST:PORT"))?;
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
                    })
                }
            };
            let out = out.unwrap_or_else(|| default_out(&scenario));
            eprintln!(
                "running `{}` ({} mode), seed {} (each participant's seed derives from it), report in {}",
                scenario.name,
                match mode { ModeArg::Live => "live", ModeArg::Virtual => "virtual" },
                scenario.seed,
                out.display()
            );
            let summary = run::run(&scenario, &set, driver, &out).await?;
            println!("{}", console::render(&summary));
            println!("report: {}", out.display());
            Ok(if summary.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

fn validate(file: &std::path::Path, set: &[Override]) -> ExitCode {
    match Scenario::load(file, set) {
        Ok(s) => {
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
