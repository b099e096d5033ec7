//! Signals in a greeter that supervises sessions.
//!
//! The core's supervisor reads SIGCHLD, SIGTERM, SIGHUP and friends from a signalfd in the PAM
//! thread. A process-directed signal goes to any thread that does not block it, so every thread
//! of a greeter must block them, or a SIGTERM meant to end the session would be lost elsewhere:
//! [`block`] runs in the main thread before any other thread exists (threads inherit the mask).
//! While no session runs, the UI reads its own signals from the signalfd it returns.

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Blocks the supervised signals and `own` in the calling thread, and opens a non-blocking
/// signalfd for `own` (the signals the UI itself reads: stop requests, resizes).
pub fn block(own: &[Signal]) -> nix::Result<SignalFd> {
    let mut all = SigSet::empty();
    vestibule_core::SUPERVISED_SIGNALS
        .iter()
        .chain(own)
        .for_each(|&s| all.add(s));
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&all), None)?;
    let mut mine = SigSet::empty();
    own.iter().for_each(|&s| mine.add(s));
    SignalFd::with_flags(&mine, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}
