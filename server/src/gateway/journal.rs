//! The journal writer: appends every [`JournalEntry`] as one JSON line, off the hot
//! path. The Desk step only hands the entry to an unbounded channel (in Desk order);
//! this task serialises and writes in batches, flushing whenever the channel runs dry
//! and once more when the channel closes at shutdown.

use crate::protocol::JournalEntry;
use std::path::Path;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Opens (appending) the journal file.
pub(crate) async fn open(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

/// Writes entries until every sender is gone, then flushes.
pub(crate) async fn write(
    file: tokio::fs::File,
    mut rx: mpsc::UnboundedReceiver<JournalEntry>,
) -> std::io::Result<()> {
    let mut out = BufWriter::new(file);
    let mut line = Vec::with_capacity(1024);
    while let Some(entry) = rx.recv().await {
        append(&mut out, &mut line, &entry).await?;
        while let Ok(entry) = rx.try_recv() {
            append(&mut out, &mut line, &entry).await?;
        }
        out.flush().await?;
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
