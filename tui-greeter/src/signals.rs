//! Signal handling of the full-screen greeter.
//!
//! The stop signals (SIGTERM, SIGHUP, SIGINT, SIGQUIT) and resizes (SIGWINCH) are blocked and read
//! from a signalfd in the main loop, so a stop request is handled between two frames: the
//! terminal is restored and the login in progress abandoned (its connection closed) before the
//! greeter exits with 128 + the signal. [`Signals::block`] runs before the client's threads exist,
//! so they inherit the mask and no signal lands on them.

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// The signals the UI thread reads: the ones that stop the greeter, and resizes.
const UI: [Signal; 5] = [
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGWINCH,
];

/// The UI thread's view of the stop signals.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the UI's signals in the calling thread (call it before spawning threads) and opens
    /// a non-blocking signalfd for them.
    pub fn block() -> nix::Result<Signals> {
        let mut set = SigSet::empty();
        UI.iter().for_each(|&s| set.add(s));
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        Ok(Signals {
            fd: SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?,
        })
    }

    /// The descriptor to poll for signals.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// A signal that arrived since the last call, if any.
    pub fn next(&mut self) -> Option<Signal> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Signal::try_from(info.ssi_signo as i32).ok(),
            _ => None,
        }
    }
}
