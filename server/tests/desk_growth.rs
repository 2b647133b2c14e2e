//! The Desk's per-message work never grows a large buffer by reallocating it.
//!
//! Growing a `Vec` by reallocation may copy all it holds (glibc copies once a freed
//! large block has raised the size from which it maps memory of its own). In a long
//! chat that was the transcript, copied whole under the Desk's lock each time it
//! doubled: tens of milliseconds with 50 chats growing in step (BENCHMARKS.md,
//! "Appends that copied whole transcripts"). This binary's allocator notes the largest
//! block any reallocation moved from, and a long conversation must leave it small.
//! One test only: the allocator watches the whole process.

mod common;

use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use switchboard_server::domain::*;

/// The system allocator, noting the largest block a reallocation started from.
struct Watching;

static LARGEST_REALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on unchanged to the system allocator, whose contract is
// the caller's; the only addition is an atomic maximum.
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for this call.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller promised for this call.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST_REALLOCATED.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as the caller promised for this call.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

/// Below the size from which glibc maps blocks of its own (128 KiB), and well above
/// anything a message itself needs.
const LARGE: usize = 64 * 1024;

/// R10 at length: 100,000 messages in one chat, both ways, keep every message in the
/// transcript and deliver it, without reallocating anything large.
#[test]
fn a_long_conversation_reallocates_nothing_large() {
    let mut d = desk(manual());
    let c = alice_in_a_chat(&mut d);
    let alice = agent("alice");
    let user = user(1);
    LARGEST_REALLOCATED.store(0, Ordering::Relaxed);
    let messages = 100_000u64;
    for i in 0..messages {
        let (who, text) = if i % 2 == 0 {
            (&user, format!("user message {i}"))
        } else {
            (&alice, format!("agent message {i}"))
        };
        let o = ok(&mut d, who, Command::Send { chat: c, text }, 2 + i);
        assert_eq!(o.deliveries.len(), 1, "message {i} goes to the other side");
    }
    let largest = LARGEST_REALLOCATED.load(Ordering::Relaxed);
    let chat = d.chat(c).expect("the chat is open");
    assert_eq!(chat.transcript.len() as u64, messages);
    assert_eq!(
        chat.transcript.get(messages as usize - 1).map(|e| e.seq),
        Some(messages)
    );
    assert!(
        largest < LARGE,
        "a reallocation moved a block of {largest} bytes: something grows by copying"
    );
}
