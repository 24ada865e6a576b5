//! Gives the pages of freed heap back to the OS. glibc returns memory only from the top
//! of a heap; whatever is freed below a live block (a finished track's buffers, the probe
//! and HTTP chunks of every open, a player's rings) stays resident until reused. With
//! players starting and ending all day that slack is most of a node's RSS growth beyond
//! its live data (≈ 30 KiB per player measured with 25 playing). `malloc_trim(0)` releases
//! free pages anywhere in every arena. It runs on the disposal thread, which is where most
//! large frees happen, and only when enough is free: it briefly locks each arena, which
//! the audio path never waits on (it never allocates).

use std::time::{Duration, Instant};

/// Least often the allocator is checked.
const PERIOD: Duration = Duration::from_secs(5);
/// Free bytes held by the allocator worth a trim.
const MIN_FREE: u64 = 512 * 1024;

pub(crate) struct HeapTrim {
    next: Instant,
}

impl HeapTrim {
    pub(crate) fn new() -> HeapTrim {
        HeapTrim {
            next: Instant::now() + PERIOD,
        }
    }

    /// Trims when a period has passed and the allocator holds `MIN_FREE` or more.
    pub(crate) fn tick(&mut self) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + PERIOD;
        if free_bytes() >= MIN_FREE {
            trim();
        }
    }
}

/// Bytes free inside the allocator's heaps (resident or not).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn free_bytes() -> u64 {
    // SAFETY: mallinfo2 has no preconditions; it returns a plain struct by value.
    unsafe { libc::mallinfo2() }.fordblks as u64
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn free_bytes() -> u64 {
    0
}

/// Releases every free page of every arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() {
    // SAFETY: malloc_trim has no preconditions and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
