//! Policy comparison: every combination of the varied scenario keys, each run with N
//! replications on common random numbers, summarised with 95% confidence intervals
//! and paired differences.
//!
//! Replication `i` runs every variant with master seed `scenario.seed + i`. Every
//! participant's generator derives from the master seed and the participant's name
//! (see [`crate::seed`]), so within a replication all variants see the same arrivals,
//! the same patience draws and the same conversations: the differences between
//! variants are the varied keys', not noise, and paired differences across
//! replications have much tighter intervals than independent runs would.
//!
//! - [`plan`]: `--vary KEY=V1,V2` parsing, up-front validation and the variants.
//! - [`stats`]: means, Student-t intervals and paired differences.
//! - [`execute`]: running the replications and collecting per-run figures.
//! - [`report`]: `comparison.csv` and the console's ranked table.
//! - [`html`]: `comparison.html` with inline SVG plots.

pub mod execute;
pub mod html;
pub mod plan;
pub mod report;
pub mod stats;

pub use execute::{Comparison, RankBy, RunFigures, VariantResult, compare};
pub use plan::{Plan, Variant, Vary};

use thiserror::Error;

/// Why a comparison could not run.
#[derive(Debug, Error)]
pub enum CompareError {
    /// A `--vary` argument or a value is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A run failed.
    #[error("variant `{variant}`, replication {replication}: {message}")]
    Run {
        /// The variant.
        variant: String,
        /// The replication.
        replication: u64,
        /// What went wrong.
        message: String,
    },
    /// A report file could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Writes `comparison.csv`, `comparison.html` and `comparison.json` (every run's
/// figures) into `out`.
pub fn write(c: &Comparison, out: &std::path::Path) -> Result<(), CompareError> {
    let io = |path: std::path::PathBuf| move |source| CompareError::Write { path, source };
    std::fs::create_dir_all(out).map_err(io(out.to_path_buf()))?;
    let csv = out.join("comparison.csv");
    std::fs::write(&csv, report::to_csv(c)).map_err(io(csv.clone()))?;
    let html_path = out.join("comparison.html");
    std::fs::write(&html_path, html::to_html(c)).map_err(io(html_path.clone()))?;
    let json = out.join("comparison.json");
    let text = serde_json::to_string_pretty(c).map_err(|e| CompareError::Write {
        path: json.clone(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&json, text + "\n").map_err(io(json.clone()))?;
    Ok(())
}
