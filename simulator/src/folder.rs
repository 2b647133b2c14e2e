//! Report folders: claiming a fresh default one, and making a folder so that a run
//! that fails before writing anything can take it back.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Folders made for a report, deepest first.
#[derive(Debug, Default)]
#[must_use = "a failed run undoes the folders it made"]
pub struct Made(Vec<PathBuf>);

impl Made {
    /// Removes the folders again, deepest first, each only while it is empty: what a
    /// run wrote (an embedded server's journal, say) stays for the post-mortem, and so
    /// does every folder above it.
    pub fn undo(&self) {
        for dir in &self.0 {
            if std::fs::remove_dir(dir).is_err() {
                return;
            }
        }
    }
}

/// Creates `dir` and whatever parents it lacks; what it made, to undo.
pub fn make(dir: &Path) -> io::Result<Made> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dir)?;
    Ok(Made(missing))
}

/// Creates `parent/<prefix><UTC timestamp>`, or, when a run started in the same
/// second has that folder, `…-002`, `-003`, and so on. The folder is claimed by
/// creating it, so runs started in one second, one after another or side by side,
/// never share a folder; the numbers have three digits so that the folders sort in the
/// order the runs started (a run writes its report in more than a millisecond, so a
/// second holds fewer than a thousand of them).
pub fn claim(parent: &Path, prefix: &str) -> io::Result<(PathBuf, Made)> {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "-");
    claim_named(parent, &format!("{prefix}{stamp}"))
}

/// [`claim`] of `parent/name` or the first free `parent/name-NNN`.
fn claim_named(parent: &Path, name: &str) -> io::Result<(PathBuf, Made)> {
    let mut made = make(parent)?;
    let candidates = std::iter::once(parent.join(name))
        .chain((2u64..).map(|n| parent.join(format!("{name}-{n:03}"))));
    for dir in candidates {
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                made.0.insert(0, dir.clone());
                return Ok((dir, made));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                made.undo();
                return Err(e);
            }
        }
    }
    unreachable!("an unbounded sequence of names has a free one")
}

#[cfg(test)]
mod tests {
    use super::{claim_named, make};

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sb-folder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_taken_name_gets_the_next_number() {
        let parent = scratch("claim").join("reports").join("quickstart");
        let stamp = "2026-11-28T10-55-08Z";
        let (first, made) = claim_named(&parent, stamp).unwrap();
        assert_eq!(first, parent.join(stamp));
        let (second, _) = claim_named(&parent, stamp).unwrap();
        assert_eq!(second, parent.join(format!("{stamp}-002")));
        let (third, _) = claim_named(&parent, stamp).unwrap();
        assert_eq!(third, parent.join(format!("{stamp}-003")));
        assert!(first.is_dir() && second.is_dir() && third.is_dir());
        // Listed by name, the folders come in the order they were claimed, past the
        // tenth too.
        let mut claimed = vec![first.clone(), second.clone(), third];
        for _ in 4..=12 {
            claimed.push(claim_named(&parent, stamp).unwrap().0);
        }
        let mut listed: Vec<_> = std::fs::read_dir(&parent)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        listed.sort();
        assert_eq!(listed, claimed);
        // Undoing the first claim removes only its own, empty folder: the parents hold
        // the other two.
        made.undo();
        assert!(!first.exists() && second.is_dir());
        std::fs::remove_dir_all(parent.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn undo_removes_the_empty_folders_made_and_keeps_anything_written() {
        let base = scratch("undo");
        std::fs::create_dir_all(&base).unwrap();
        let leaf = base.join("a").join("b").join("c");
        let made = make(&leaf).unwrap();
        made.undo();
        assert!(!base.join("a").exists(), "every folder made is gone");
        assert!(base.is_dir(), "the folder that was there stays");

        let made = make(&leaf).unwrap();
        std::fs::write(leaf.join("journal.jsonl"), "{}\n").unwrap();
        made.undo();
        assert!(
            leaf.join("journal.jsonl").is_file(),
            "what was written stays"
        );

        // A folder that existed is not made, so not undone.
        let made = make(&leaf).unwrap();
        std::fs::remove_file(leaf.join("journal.jsonl")).unwrap();
        made.undo();
        assert!(leaf.is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
