//! A chat's transcript: its entries in order, kept in chunks of a fixed size so that an
//! append never moves the entries already there.
//!
//! A `Vec` doubles its buffer as it grows, and the allocator may copy everything it
//! holds each time (glibc does, once a freed large block has raised the size from
//! which it maps memory of its own). Appending stays cheap on average, but the append
//! that doubles a long transcript then copies all of it at once, under the Desk's
//! lock, and every connection waits. Chats that grow in step double in step, and their
//! copies come in bursts: in the relay benchmark, where each chat gains thousands of
//! messages a second, these bursts decided the p99 once an earlier instance's
//! transcripts had been freed (BENCHMARKS.md, "Appends that copied whole transcripts").
//! Here each chunk is allocated once at its full size, so an append costs the same
//! whatever the transcript's length. Only the list of chunks grows by doubling, and it
//! holds one `Vec` header (three words) per [`CHUNK`] entries.

use super::chat::Entry;
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// Entries per chunk (24 KiB of 96-byte entries: a small allocation, well under the
/// size from which the allocator maps memory of its own).
pub const CHUNK: usize = 256;

/// The entries of one chat, oldest first. Compares, prints and serializes as the list
/// of its entries.
#[derive(Default, PartialEq, Eq)]
pub struct Transcript {
    /// Full chunks of [`CHUNK`] entries, then the chunk being filled.
    chunks: Vec<Vec<Entry>>,
    len: usize,
}

/// The entries of a [`Transcript`], oldest first.
pub type Iter<'a> = std::iter::Flatten<std::slice::Iter<'a, Vec<Entry>>>;

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends an entry, without moving any entry already there.
    pub fn push(&mut self, entry: Entry) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(entry),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(entry);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// The entry at `index` (from 0), if there is one.
    pub fn get(&self, index: usize) -> Option<&Entry> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> Iter<'_> {
        self.chunks.iter().flatten()
    }

    /// The entries as one list.
    pub fn to_vec(&self) -> Vec<Entry> {
        let mut all = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            all.extend_from_slice(chunk);
        }
        all
    }
}

/// A copy whose last chunk, like the original's, has room for a whole chunk: appending to
/// the copy does not move its entries either.
impl Clone for Transcript {
    fn clone(&self) -> Self {
        let chunks = self
            .chunks
            .iter()
            .map(|chunk| {
                let mut copy = Vec::with_capacity(CHUNK);
                copy.extend_from_slice(chunk);
                copy
            })
            .collect();
        Self {
            chunks,
            len: self.len,
        }
    }
}

impl<'a> IntoIterator for &'a Transcript {
    type Item = &'a Entry;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<Entry> for Transcript {
    fn from_iter<I: IntoIterator<Item = Entry>>(entries: I) -> Self {
        let mut t = Transcript::new();
        for e in entries {
            t.push(e);
        }
        t
    }
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Transcript {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        for entry in self {
            seq.serialize_element(entry)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EntryBody, Party, Time};

    fn entry(seq: u64) -> Entry {
        Entry {
            seq,
            at: Time(seq * 10),
            from: if seq.is_multiple_of(2) {
                Party::User
            } else {
                Party::Agent("alice".into())
            },
            body: EntryBody::Text {
                text: format!("message {seq}"),
            },
        }
    }

    #[test]
    fn appending_never_moves_an_entry_already_there() {
        let mut t = Transcript::new();
        t.push(entry(1));
        let first: *const Entry = t.get(0).expect("pushed");
        let mut last_of_first_chunk = None;
        for seq in 2..=(20 * CHUNK as u64) {
            t.push(entry(seq));
            if seq == CHUNK as u64 {
                last_of_first_chunk = t.get(CHUNK - 1).map(|e| e as *const Entry);
            }
        }
        // A Vec would have reallocated about a dozen times by now.
        assert_eq!(first, t.get(0).expect("kept") as *const Entry);
        assert_eq!(
            last_of_first_chunk,
            t.get(CHUNK - 1).map(|e| e as *const Entry)
        );
        assert_eq!(t.len(), 20 * CHUNK);
    }

    #[test]
    fn appending_to_a_copy_never_moves_its_entries_either() {
        let original: Transcript = (1..=(CHUNK as u64 + 3)).map(entry).collect();
        let mut copy = original.clone();
        let last_chunk_first: *const Entry = copy.get(CHUNK).expect("in the last chunk");
        for seq in (CHUNK as u64 + 4)..=(2 * CHUNK as u64) {
            copy.push(entry(seq));
        }
        assert_eq!(
            last_chunk_first,
            copy.get(CHUNK).expect("kept") as *const Entry
        );
        assert_eq!(copy.len(), 2 * CHUNK);
        assert_eq!(original.len(), CHUNK + 3);
    }

    /// Whatever its length (either side of every chunk boundary up to three chunks),
    /// a transcript holds, finds, iterates, compares, copies and serializes its entries
    /// exactly as a list of them does.
    #[test]
    fn a_transcript_is_its_list_of_entries() {
        let lengths = (0..8)
            .chain((CHUNK - 2)..(CHUNK + 3))
            .chain((2 * CHUNK - 1)..(2 * CHUNK + 2))
            .chain((3 * CHUNK - 2)..(3 * CHUNK + 3));
        for n in lengths {
            let list: Vec<Entry> = (1..=n as u64).map(entry).collect();
            let t: Transcript = list.iter().cloned().collect();
            assert_eq!(t.len(), n);
            assert_eq!(t.is_empty(), n == 0);
            assert_eq!(t.to_vec(), list, "{n} entries");
            assert!(t.iter().eq(list.iter()), "{n} entries");
            assert!(t.iter().rev().eq(list.iter().rev()), "{n} entries");
            for i in 0..=n {
                assert_eq!(t.get(i), list.get(i), "entry {i} of {n}");
            }
            assert_eq!(
                serde_json::to_string(&t).expect("serializes"),
                serde_json::to_string(&list).expect("serializes")
            );
            assert_eq!(format!("{t:?}"), format!("{list:?}"));
            let mut other = t.clone();
            assert_eq!(other, t);
            other.push(entry(n as u64 + 1));
            assert_ne!(other, t);
            assert_eq!(other.len(), n + 1);
        }
    }
}
