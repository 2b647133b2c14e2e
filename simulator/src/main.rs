//! `switchboard`: the simulator's command line.
//!
//! Exit codes: 0 success, 1 a threshold or invariant failed, 2 usage or scenario error.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard_sim::dist::format_duration;
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
    /// Check a scenario file (and overrides) without running it.
    Validate {
        /// The scenario file.
        file: PathBuf,
        /// Override a field, e.g. `routing.policy=round-robin` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
        set: Vec<Override>,
    },
}

fn parse_override(s: &str) -> Result<Override, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate { file, set } => Ok(validate(&file, &set)),
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
