//! Scenario errors as people read them: `file:line:col: field: message`, one line per
//! problem, or `file: --set key=value: message` for a bad override.

use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// Where a problem comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A position in the file.
    File {
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        col: usize,
    },
    /// A `--set` override, as given.
    Override(String),
}

/// One problem in a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as named on the command line.
    pub file: String,
    /// Position or override.
    pub origin: Origin,
    /// The field at fault (`agents[0].available_for`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File { line, col } => write!(
                f,
                "{}:{line}:{col}: {}: {}",
                self.file, self.field, self.message
            ),
            Origin::Override(o) => write!(
                f,
                "{}: --set {o}: {}: {}",
                self.file, self.field, self.message
            ),
        }
    }
}

/// Loading a scenario failed.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: cannot read scenario: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file (or an override) is invalid; every problem found is listed.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ScenarioError {
    /// The problems, if the scenario was read but is invalid.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ScenarioError::Invalid(d) => d,
            ScenarioError::Read { .. } => &[],
        }
    }
}

fn render(ds: &[Diagnostic]) -> String {
    ds.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
