//! Signal handling of the full-screen greeter.
//!
//! The session supervisor in the core (`OpenSession::run`) blocks SIGCHLD, SIGTERM, SIGHUP,
//! SIGINT, SIGQUIT and SIGTTOU in its own thread and reads them from a signalfd. A process-directed
//! signal goes to any thread that does not block it, so the UI thread must block them as well, or
//! a SIGTERM meant to end the session would be lost on the UI thread. [`Signals::block`] blocks
//! them in the calling thread before any other thread exists (threads inherit the mask); the UI
//! thread then reads the stop signals from its own signalfd while no session runs, and restores
//! the terminal before exiting.

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// The signals the core's supervisor reads.
const SUPERVISED: [Signal; 6] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTTOU,
];

/// The signals that stop the greeter.
const STOP: [Signal; 4] = [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT, Signal::SIGQUIT];

/// The UI thread's view of the stop signals.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the supervised signals in the calling thread (call it before spawning threads) and
    /// opens a non-blocking signalfd for the stop signals.
    pub fn block() -> nix::Result<Signals> {
        let mut all = SigSet::empty();
        SUPERVISED.iter().for_each(|&s| all.add(s));
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&all), None)?;
        let mut stop = SigSet::empty();
        STOP.iter().for_each(|&s| stop.add(s));
        let fd = SignalFd::with_flags(&stop, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// A stop signal that arrived since the last call, if any. Must not be called while a
    /// session runs: the supervisor reads them then.
    pub fn pending(&mut self) -> Option<Signal> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Signal::try_from(info.ssi_signo as i32).ok(),
            _ => None,
        }
    }
}
