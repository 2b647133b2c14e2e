//! Writing `summary.json` and `summary.csv` into a run folder, and reading the JSON
//! back (for regenerating reports without re-running).

use super::names::Stat;
use super::summary::Summary;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The CSV header: a contract, like the metric names.
pub const CSV_HEADER: &str = "metric,unit,count,min,mean,p50,p90,p95,p99,p999,max";

/// File name of the JSON summary in a run folder.
pub const SUMMARY_JSON: &str = "summary.json";
/// File name of the CSV summary in a run folder.
pub const SUMMARY_CSV: &str = "summary.csv";

/// Writing or reading a summary failed.
#[derive(Debug, Error)]
pub enum WriteError {
    /// A file or folder could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The JSON could not be produced or parsed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// The CSV text: one row per duration metric, values in milliseconds, empty cells for
/// metrics without samples.
pub fn to_csv(summary: &Summary) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for (name, m) in &summary.metrics.0 {
        row(&mut out, name, m);
    }
    // Each queue's accept waits, when users asked several queues.
    if summary.queues.len() > 1 {
        for (queue, q) in &summary.queues {
            row(
                &mut out,
                &format!("queues.{queue}.accept_wait"),
                &q.accept_wait,
            );
        }
    }
    out
}

/// One metric's line of `summary.csv` (a name holding a comma, a quote or a line break
/// is quoted, as RFC 4180 has it).
fn row(out: &mut String, name: &str, m: &super::MetricSummary) {
    if name.contains([',', '"', '\r', '\n']) {
        let _ = write!(out, "\"{}\"", name.replace('"', "\"\""));
    } else {
        out.push_str(name);
    }
    let _ = write!(out, ",ms,{}", m.count);
    for stat in Stat::ALL.into_iter().skip(1) {
        out.push(',');
        if let Some(v) = m.get(stat) {
            let _ = write!(out, "{v}");
        }
    }
    out.push('\n');
}

/// Writes `summary.json` and `summary.csv` into `dir`, creating it if needed.
pub fn write_summary(dir: &Path, summary: &Summary) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(|source| WriteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let json_path = dir.join(SUMMARY_JSON);
    let mut json = serde_json::to_string_pretty(summary).map_err(|source| WriteError::Json {
        path: json_path.clone(),
        source,
    })?;
    json.push('\n');
    fs::write(&json_path, json).map_err(|source| WriteError::Io {
        path: json_path,
        source,
    })?;
    let csv_path = dir.join(SUMMARY_CSV);
    fs::write(&csv_path, to_csv(summary)).map_err(|source| WriteError::Io {
        path: csv_path,
        source,
    })?;
    Ok(())
}

/// Reads `summary.json` from a run folder.
pub fn read_summary(dir: &Path) -> Result<Summary, WriteError> {
    let path = dir.join(SUMMARY_JSON);
    let text = fs::read_to_string(&path).map_err(|source| WriteError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| WriteError::Json { path, source })
}

#[cfg(test)]
mod tests {
    use super::row;
    use crate::metrics::MetricSummary;

    #[test]
    fn names_that_would_break_a_csv_line_are_quoted() {
        let m = MetricSummary::default();
        let line = |name: &str| {
            let mut out = String::new();
            row(&mut out, name, &m);
            out
        };
        assert!(line("queues.net.accept_wait").starts_with("queues.net.accept_wait,ms,0,"));
        assert!(line("queues.a,b.accept_wait").starts_with("\"queues.a,b.accept_wait\",ms,"));
        assert!(line("queues.\"x\".accept_wait").starts_with("\"queues.\"\"x\"\".accept_wait\","));
        assert!(line("queues.a\nb.accept_wait").starts_with("\"queues.a\nb.accept_wait\","));
        assert!(line("queues.a\rb.accept_wait").starts_with("\"queues.a\rb.accept_wait\","));
        // A row ends with its one line break; the other is inside the quotes.
        assert_eq!(line("queues.a\nb.accept_wait").matches('\n').count(), 2);
    }
}
