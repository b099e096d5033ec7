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

/// `vhangup(2)`: hangs up the calling process's controlling terminal, so every other process
/// with it open gets SIGHUP and its file descriptors stop working. Needs CAP_SYS_TTY_CONFIG.
pub(crate) fn vhangup() -> nix::Result<()> {
    // SAFETY: vhangup takes no arguments and touches no memory of ours.
    nix::errno::Errno::result(unsafe { libc::vhangup() }).map(drop)
}

/// `signal(SIGHUP, SIG_IGN)`: the revoking helper must survive its own vhangup.
pub(crate) fn ignore_sighup() -> nix::Result<()> {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN runs no code of ours.
    unsafe { sigaction(Signal::SIGHUP, &ignore) }.map(drop)
}

extern "C" {
    // glibc's <utmpx.h>; the libc crate does not declare it.
    fn updwtmpx(wtmp_file: *const std::ffi::c_char, ut: *const libc::utmpx);
}

/// Writes one login record to utmp (`pututxline`, replacing the entry with the same `ut_id`) and
/// appends it to wtmp (`updwtmpx`), as login(1) does. The record's fields come from
/// `crate::utmp`, which builds them from checked, bounded values.
pub(crate) fn write_utmpx(
    fields: &crate::utmp::Fields,
    utmp: &std::ffi::CStr,
    wtmp: &std::ffi::CStr,
) -> std::io::Result<()> {
    // SAFETY: utmpx is a plain C struct of integers and byte arrays: all zeroes is a valid value.
    let mut rec: libc::utmpx = unsafe { std::mem::zeroed() };
    rec.ut_type = fields.kind;
    rec.ut_pid = fields.pid;
    copy_bytes(&mut rec.ut_line, &fields.line);
    copy_bytes(&mut rec.ut_id, &fields.id);
    copy_bytes(&mut rec.ut_user, &fields.user);
    copy_bytes(&mut rec.ut_host, &fields.host);
    rec.ut_tv.tv_sec = fields.seconds as _;
    rec.ut_tv.tv_usec = fields.micros as _;
    // SAFETY: utmpxname copies the path; set/put/end use glibc's own static state, which only
    // this single-threaded caller uses; `rec` is a valid record for the duration of each call.
    let written = unsafe {
        let _ = libc::utmpxname(utmp.as_ptr());
        libc::setutxent();
        let ok = !libc::pututxline(&rec).is_null();
        let err = std::io::Error::last_os_error();
        libc::endutxent();
        if ok {
            Ok(())
        } else {
            Err(err)
        }
    };
    // SAFETY: the path is NUL-terminated and `rec` valid; updwtmpx opens, locks and appends.
    unsafe { updwtmpx(wtmp.as_ptr(), &rec) };
    written
}

fn copy_bytes(dst: &mut [std::ffi::c_char], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s as std::ffi::c_char;
    }
}

nix::ioctl_read_bad!(vt_openqry, 0x5600, c_int);
nix::ioctl_write_int_bad!(vt_activate, 0x5606);
nix::ioctl_write_int_bad!(vt_waitactive, 0x5607);

/// `VT_OPENQRY` on a console descriptor: the first VT nobody has open.
pub(crate) fn first_free_vt(console: BorrowedFd<'_>) -> nix::Result<c_int> {
    let mut n: c_int = -1;
    // SAFETY: VT_OPENQRY writes one int through the pointer, which points at `n`.
    unsafe { vt_openqry(console.as_raw_fd(), &mut n) }?;
    Ok(n)
}

/// `VT_ACTIVATE` then `VT_WAITACTIVE`: switches the console to VT `n`.
pub(crate) fn switch_vt(console: BorrowedFd<'_>, n: c_int) -> nix::Result<()> {
    // SAFETY: both take an int argument, no pointer.
    unsafe { vt_activate(console.as_raw_fd(), n) }?;
    // SAFETY: as above.
    unsafe { vt_waitactive(console.as_raw_fd(), n) }.map(drop)
}
