//! The few operating-system calls `nix` only offers as `unsafe`, wrapped once with their reasons.
//!
//! Kept apart from `ffi` (which is libpam's) so each file has one job; everything else in the crate
//! is safe code.

use std::ffi::c_int;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::ForkResult;

/// Locks a buffer into RAM so a secret in it is never written to swap. Best effort: returns
/// whether it worked (RLIMIT_MEMLOCK may forbid it for unprivileged users).
pub(crate) fn lock_memory(buf: &[u8]) -> bool {
    let Some(addr) = NonNull::new(buf.as_ptr() as *mut std::ffi::c_void) else {
        return false;
    };
    // SAFETY: mlock only changes paging of the pages covering this live allocation.
    let locked = unsafe { nix::sys::mman::mlock(addr, buf.len()) };
    if let Err(e) = locked {
        tracing::debug!(error = %e, "mlock failed; secret buffer may be swapped");
    }
    locked.is_ok()
}

/// Undoes [`lock_memory`] before the buffer is freed.
pub(crate) fn unlock_memory(buf: &[u8]) {
    if let Some(addr) = NonNull::new(buf.as_ptr() as *mut std::ffi::c_void) {
        // SAFETY: as for mlock; the pages belong to a live allocation.
        let _ = unsafe { nix::sys::mman::munlock(addr, buf.len()) };
    }
}

/// `fork(2)`. The child must only prepare and `exec` (or `_exit`); see `session::spawn`.
pub(crate) fn fork() -> nix::Result<ForkResult> {
    // SAFETY: the callers' children run no code that depends on other threads (they set ids,
    // end their copy of the PAM handle and exec), and never return into the caller's stack.
    unsafe { nix::unistd::fork() }
}

nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);

/// Makes `tty` the controlling terminal of the calling session leader, taking it from any other
/// session (`steal`, which needs root) as login(1) does.
pub(crate) fn set_controlling_tty(tty: BorrowedFd<'_>, steal: bool) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument, no pointer.
    unsafe { tiocsctty(tty.as_raw_fd(), c_int::from(steal)) }.map(drop)
}

static INTERRUPT: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_interrupt(signal: c_int) {
    INTERRUPT.store(signal, Ordering::SeqCst);
}

/// Makes SIGINT, SIGTERM and SIGHUP interrupt blocking reads (EINTR, no SA_RESTART) and be
/// remembered, so a front end waiting at a prompt can restore the terminal and end its
/// transaction before exiting, instead of dying with echo turned off.
pub fn catch_interrupts() -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(note_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// The signal caught by [`catch_interrupts`], if any, left pending.
pub fn pending_interrupt() -> Option<Signal> {
    match INTERRUPT.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// The signal caught by [`catch_interrupts`] since the last call, if any.
pub fn take_interrupt() -> Option<Signal> {
    match INTERRUPT.swap(0, Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// Restores default dispositions (in a session child before exec: handlers do not survive exec,
/// but an ignored signal would).
pub(crate) fn default_signal_dispositions() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
        Signal::SIGPIPE,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
    ] {
        // SAFETY: installing SIG_DFL runs no code of ours.
        let _ = unsafe { sigaction(signal, &default) };
    }
}

/// `_exit(2)`: leaves a forked child without running atexit handlers or flushing stdio buffers
/// that belong to the parent.
pub(crate) fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit takes no pointers and never returns.
    unsafe { libc::_exit(code) }
}
