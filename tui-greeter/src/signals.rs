//! Signal handling of the full-screen greeter.
//!
//! The session supervisor in the core (`OpenSession::run`) blocks SIGCHLD, SIGTERM, SIGHUP,
//! SIGINT, SIGQUIT and SIGTTOU in its own thread and reads them from a signalfd. A process-directed
//! signal goes to any thread that does not block it, so the UI thread must block them as well, or
//! a SIGTERM meant to end the session would be lost on the UI thread. [`Signals::block`] blocks
//! them in the calling thread before any other thread exists (threads inherit the mask); the UI
//! thread then reads the stop signals from its own signalfd while no session runs, and restores
//! the terminal before exiting. SIGWINCH (a resize) is read from the same signalfd.

use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;

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
    /// Blocks the supervised signals and SIGWINCH in the calling thread (call it before spawning
    /// threads) and opens a non-blocking signalfd for the UI's signals.
    pub fn block() -> nix::Result<Signals> {
        Ok(Signals {
            fd: vestibule_greeter::signals::block(&UI)?,
        })
    }

    /// The descriptor to poll for signals.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// A signal that arrived since the last call, if any. Must not be called while a session
    /// runs: the supervisor reads them then.
    pub fn next(&mut self) -> Option<Signal> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Signal::try_from(info.ssi_signo as i32).ok(),
            _ => None,
        }
    }
}
