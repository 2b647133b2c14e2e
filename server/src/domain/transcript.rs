//! A chat's transcript: its entries in order, kept in chunks of a bounded size so that
//! no append copies more than one chunk.
//!
//! A `Vec` doubles its buffer as it grows, and the allocator may copy everything it
//! holds each time (glibc does, once a freed large block has raised the size from
//! which it maps memory of its own). Appending stays cheap on average, but the append
//! that doubles a long transcript then copies all of it at once, under the Desk's
//! lock, and every connection waits. Chats that grow in step double in step, and their
//! copies come in bursts: in the relay benchmark, where each chat gains thousands of
//! messages a second, these bursts decided the p99 once an earlier instance's
//! transcripts had been freed (BENCHMARKS.md, "Appends that copied whole transcripts").
//! Here the first chunk grows as a `Vec` does, up to [`CHUNK`] entries (most chats are
//! short, and hold no more than a `Vec` would), and every later chunk is allocated at
//! its full size: once a transcript has filled its first chunk, no entry moves again,
//! and an append costs the same whatever the transcript's length. Only the list of
//! chunks grows by doubling, and it holds one `Vec` header (three words) per chunk.

use super::chat::Entry;
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// Entries per chunk (24 KiB of 96-byte entries: a small allocation, well under the
/// size from which the allocator maps memory of its own).
pub const CHUNK: usize = 256;

/// The entries of one chat, oldest first. Compares, prints and serializes as the list
/// of its entries.
#[derive(Default, PartialEq, Eq)]
pub struct Transcript {
    /// Full chunks of [`CHUNK`] entries, then the chunk being filled (the first grows
    /// as it fills; a later one was allocated whole).
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

    /// Appends an entry. It copies at most the first chunk, while that grows; from
    /// the second chunk on, nothing already there moves.
    pub fn push(&mut self, entry: Entry) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(entry),
            Some(_) => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(entry);
                self.chunks.push(chunk);
            }
            None => {
                // Room for four, as a `Vec`'s first growth makes.
                let mut first = Vec::with_capacity(4);
                first.push(entry);
                self.chunks.push(first);
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

/// A copy that grows as the original does: its first chunk as it fills, and a later
/// last chunk, like the original's, with room for a whole chunk.
impl Clone for Transcript {
    fn clone(&self) -> Self {
        let chunks = self
            .chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                if i == 0 {
                    return chunk.clone();
                }
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
    fn once_the_first_chunk_is_full_no_entry_moves_again() {
        let mut t: Transcript = (1..=CHUNK as u64).map(entry).collect();
        let first: *const Entry = t.get(0).expect("pushed");
        t.push(entry(CHUNK as u64 + 1));
        let second_chunk_first: *const Entry = t.get(CHUNK).expect("pushed");
        for seq in (CHUNK as u64 + 2)..=(20 * CHUNK as u64) {
            t.push(entry(seq));
        }
        // A Vec would have reallocated about five more times by now.
        assert_eq!(first, t.get(0).expect("kept") as *const Entry);
        assert_eq!(
            second_chunk_first,
            t.get(CHUNK).expect("kept") as *const Entry
        );
        assert_eq!(t.len(), 20 * CHUNK);
        assert!(t.chunks.iter().all(|c| c.capacity() == CHUNK));
    }

    #[test]
    fn a_short_transcript_holds_no_more_than_a_vec_would() {
        let mut t = Transcript::new();
        let mut v = Vec::new();
        for seq in 1..=20 {
            t.push(entry(seq));
            v.push(entry(seq));
            assert_eq!(t.chunks.len(), 1);
            assert_eq!(t.chunks[0].capacity(), v.capacity(), "{seq} entries");
        }
        assert_eq!(t.clone().chunks[0].capacity(), v.clone().capacity());
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
