//! The files a run writes besides `summary.json`/`summary.csv`, and the report made
//! from them.
//!
//! A run first saves its data ([`write_data`]): `timeseries.csv` ([`timeseries`]) and
//! `histograms.hlog` ([`hlog`]). Then [`render`] reads the folder back — summary, time
//! series, HDR log — and draws the plots ([`plots`], [`chart`]) as SVG and PNG and the
//! self-contained `report.html` ([`html`]). `switchboard report DIR` runs only
//! [`render`], so a report regenerated from saved data is the one the run wrote.

pub mod chart;
pub mod hlog;
pub mod html;
pub mod plots;
pub mod timeseries;

use crate::metrics::names::MetricName;
use crate::metrics::recorder::Recorder;
use crate::metrics::summary::{Mode, Summary};
use crate::metrics::write::{WriteError, read_summary};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// File name of the time series.
pub const TIMESERIES_CSV: &str = "timeseries.csv";
/// File name of the HDR interval log.
pub const HISTOGRAMS_HLOG: &str = "histograms.hlog";
/// File name of the HTML report.
pub const REPORT_HTML: &str = "report.html";

/// Writing or reading report files failed.
#[derive(Debug, Error)]
pub enum ReportError {
    /// There is no such folder.
    #[error("{0}: no such report folder")]
    NoFolder(PathBuf),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A saved file does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A histogram could not be built or encoded.
    #[error("{0}")]
    Data(String),
    /// A plot could not be drawn.
    #[error("plot: {0}")]
    Plot(String),
    /// The summary could not be read.
    #[error(transparent)]
    Summary(#[from] WriteError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Saves the run's per-interval data into `dir`: `timeseries.csv` and
/// `histograms.hlog` (for every metric with samples).
pub fn write_data(dir: &Path, summary: &Summary, rec: &mut Recorder) -> Result<(), ReportError> {
    let len = rec.interval();
    let time_scale = (summary.mode == Mode::Live || rec.real_time_known())
        .then(|| {
            summary
                .resolved_scenario
                .get("time_scale")
                .and_then(|v| v.as_f64())
        })
        .flatten();
    let covered = Duration::from_secs_f64(summary.elapsed.scenario_seconds.max(0.0));
    let timeline = rec.timeline();
    let rows = timeseries::rows(timeline, len, covered, time_scale);
    let path = dir.join(TIMESERIES_CSV);
    fs::write(&path, timeseries::to_csv(&rows)).map_err(io(&path))?;

    let metrics: Vec<MetricName> = MetricName::ALL
        .into_iter()
        .filter(|m| summary.metrics.get(*m).is_some_and(|s| s.count > 0))
        .collect();
    let n = u32::try_from(rows.len()).unwrap_or(u32::MAX);
    let title = format!(
        "scenario {}, seed {}, {} mode",
        summary.scenario, summary.seed, summary.mode
    );
    let bytes = hlog::write(timeline, len, n, &metrics, &title).map_err(ReportError::Data)?;
    let path = dir.join(HISTOGRAMS_HLOG);
    fs::write(&path, bytes).map_err(io(&path))?;
    Ok(())
}

/// What [`render`] produced.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The HTML report.
    pub html: PathBuf,
    /// Every plot file written (SVG and PNG).
    pub plots: Vec<PathBuf>,
}

/// Reads a run folder's saved data and writes the plots and `report.html`.
pub fn render(dir: &Path) -> Result<Rendered, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NoFolder(dir.to_path_buf()));
    }
    let summary = read_summary(dir)?;
    let path = dir.join(TIMESERIES_CSV);
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    let rows = timeseries::parse(&text).map_err(|message| ReportError::Parse {
        path: path.clone(),
        message,
    })?;
    let path = dir.join(HISTOGRAMS_HLOG);
    let bytes = fs::read(&path).map_err(io(&path))?;
    let intervals = hlog::read(&bytes).map_err(|message| ReportError::Parse {
        path: path.clone(),
        message,
    })?;
    let mut files = Vec::new();
    let mut drawn = Vec::new();
    for p in plots::plots(&summary, &rows, &intervals) {
        let svg = plots::render(dir, &p).map_err(ReportError::Plot)?;
        files.push(dir.join(format!("{}.svg", p.name)));
        files.push(dir.join(format!("{}.png", p.name)));
        drawn.push((p, svg));
    }
    let interval_s = plots::interval_len(&summary, &rows);
    let page = html::page(&summary, &drawn, rows.len(), interval_s);
    let html_path = dir.join(REPORT_HTML);
    fs::write(&html_path, page).map_err(io(&html_path))?;
    Ok(Rendered {
        html: html_path,
        plots: files,
    })
}
