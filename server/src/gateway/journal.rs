//! The journal writer: appends every [`JournalEntry`] as one JSON line, off the hot
//! path. The Desk step only hands the entry to an unbounded channel (in Desk order);
//! this task serialises and writes in batches, flushing whenever the channel runs dry
//! and once more when the channel closes at shutdown.
//!
//! A write error (disk full, file gone) ends the writer: it logs the error at once with
//! the last entry known to be on disk, the server keeps serving, every entry from then
//! on — the failed batch, what was queued, what comes later — is counted in
//! `journal_lost_entries_total`, and `serve` returns the error when it stops.

use crate::protocol::JournalEntry;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Opens the journal file for appending. A journal records one server run (`seq`
/// from 1, Desk time from 0), so a file that already holds entries is refused rather
/// than continued with a second run whose numbering starts over.
pub(crate) async fn open(path: &Path) -> std::io::Result<tokio::fs::File> {
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    let meta = file.metadata().await?;
    if meta.is_file() && meta.len() > 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "already holds {} bytes of an earlier run; a journal records one server \
                 run (seq from 1): give a new file or remove this one",
                meta.len()
            ),
        ));
    }
    Ok(file)
}

/// Writes entries until every sender is gone, then flushes. On a write error it
/// counts in `lost` the entries it had taken but not flushed and those still queued,
/// closes the queue (later entries are counted by whoever fails to send them) and
/// returns the error.
pub(crate) async fn write(
    path: &Path,
    file: tokio::fs::File,
    mut rx: mpsc::UnboundedReceiver<JournalEntry>,
    lost: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let mut flushed = 0;
    let mut unflushed = 0;
    let result = write_all(file, &mut rx, &mut flushed, &mut unflushed).await;
    if let Err(e) = &result {
        rx.close();
        let mut queued = 0;
        while rx.try_recv().is_ok() {
            queued += 1;
        }
        lost.fetch_add(unflushed + queued, Ordering::Relaxed);
        tracing::error!(
            "journal {}: write failed: {e}; entries after seq {flushed} may be missing \
             (counted in journal_lost_entries_total)",
            path.display()
        );
    }
    result
}

/// The writer's loop. `flushed` follows the last entry known to be written, and
/// `unflushed` counts the entries taken since (some may have reached the file).
async fn write_all(
    file: tokio::fs::File,
    rx: &mut mpsc::UnboundedReceiver<JournalEntry>,
    flushed: &mut u64,
    unflushed: &mut u64,
) -> std::io::Result<()> {
    let mut out = BufWriter::new(file);
    let mut line = Vec::with_capacity(1024);
    while let Some(entry) = rx.recv().await {
        let mut last = entry.seq;
        *unflushed += 1;
        append(&mut out, &mut line, &entry).await?;
        while let Ok(entry) = rx.try_recv() {
            last = entry.seq;
            *unflushed += 1;
            append(&mut out, &mut line, &entry).await?;
        }
        out.flush().await?;
        *flushed = last;
        *unflushed = 0;
    }
    out.flush().await?;
    out.into_inner().sync_all().await
}

async fn append(
    out: &mut BufWriter<tokio::fs::File>,
    line: &mut Vec<u8>,
    entry: &JournalEntry,
) -> std::io::Result<()> {
    line.clear();
    serde_json::to_writer(&mut *line, entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(line).await
}
