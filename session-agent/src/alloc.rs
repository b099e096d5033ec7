//! glibc's allocator, tuned for a daemon that holds a large table and sends large replies:
//!
//! - one arena per thread is glibc's default (up to 8 per core): every thread that ever
//!   allocated (zbus's executor, the blocking pool running PAM, the main thread) keeps its own
//!   heap with its own free, never returned pages. [`limit_arenas`] caps them at two at start.
//! - a `ListSessions` of 10,000 sessions builds and frees a megabyte or more; glibc keeps freed
//!   memory at the top of a heap, and in the middle of one for good. [`after_big_reply`] gives it
//!   back to the kernel (`malloc_trim`) once such a reply has been sent, so the agent's resident
//!   size is the table's, not its largest reply's.
//!
//! Elsewhere (musl, other allocators) both do nothing.

/// Replies at least this large are followed by a trim.
pub const BIG_REPLY: usize = 64 * 1024;

/// Caps glibc's arenas at two. Call first thing in `main`, before any thread exists.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX takes any positive value.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// A reply of `len` bytes was sent: if it was big, return the freed memory to the kernel.
pub fn after_big_reply(len: usize) {
    if len < BIG_REPLY {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena).
    unsafe {
        libc::malloc_trim(0);
    }
}
