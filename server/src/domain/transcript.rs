//! A chat's transcript: its entries in order, kept in chunks of a fixed size so that an
//! append never moves the entries already there.
//!
//! A `Vec` doubles its buffer as it grows and copies everything it holds each time.
//! Appending stays cheap on average, but the append that doubles a long transcript
//! copies all of it at once, under the Desk's lock, and every connection waits. Chats
//! that grow in step double in step, and their copies come in bursts: in the relay
//! benchmark, where each chat gains thousands of messages a second, these bursts were
//! what decided the p99 (see BENCHMARKS.md, "Appends that copy whole transcripts").
//! Here each chunk is allocated once at its full size, so an append costs the same
//! whatever the transcript's length. Only the list of chunks grows by doubling,
//! and it holds one pointer-sized header per [`CHUNK`] entries.

use super::chat::Entry;
use serde::{Serialize, Serializer};

/// Entries per chunk (about 25 KiB of entries: a small allocation, well under the
/// size from which the allocator maps memory of its own).
pub const CHUNK: usize = 256;

/// The entries of one chat, oldest first. Compares, prints and serializes as the list
/// of its entries.
#[derive(Clone, Default, PartialEq, Eq)]
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
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EntryBody, Party, Time};
    use proptest::prelude::*;

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

    proptest! {
        /// Whatever its length (chunk boundaries included), a transcript holds, finds,
        /// iterates, compares and serializes its entries exactly as a list of them does.
        #[test]
        fn a_transcript_is_its_list_of_entries(
            n in prop_oneof![0usize..8, (CHUNK - 2)..(CHUNK + 2), (3 * CHUNK - 2)..(3 * CHUNK + 3)],
        ) {
            let list: Vec<Entry> = (1..=n as u64).map(entry).collect();
            let t: Transcript = list.iter().cloned().collect();
            prop_assert_eq!(t.len(), n);
            prop_assert_eq!(t.is_empty(), n == 0);
            prop_assert_eq!(t.to_vec(), list.clone());
            prop_assert!(t.iter().eq(list.iter()));
            prop_assert!(t.iter().rev().eq(list.iter().rev()));
            for i in 0..=n {
                prop_assert_eq!(t.get(i), list.get(i));
            }
            prop_assert_eq!(
                serde_json::to_string(&t).expect("serializes"),
                serde_json::to_string(&list).expect("serializes")
            );
            prop_assert_eq!(format!("{t:?}"), format!("{list:?}"));
            let mut other: Transcript = list.iter().cloned().collect();
            prop_assert_eq!(&other, &t);
            other.push(entry(n as u64 + 1));
            prop_assert_ne!(&other, &t);
        }
    }
}
