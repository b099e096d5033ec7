//! Core dumps off in a process that holds passwords, and back on for the session it starts.
//!
//! A crash of a greeter, a lock screen or the line mode would otherwise write what was typed (and
//! libpam's copies of it) into a core file, or hand it to a core-dump helper. Two settings, since
//! each misses a case the other covers: `PR_SET_DUMPABLE 0` (no core, and no ptrace or
//! /proc/PID/mem by other processes of the same user) and a soft `RLIMIT_CORE` of 0 (also
//! honoured where dumpability is not, e.g. by a process that was made dumpable again).
//!
//! The limit is inherited across fork and exec, so the session child restores the original soft
//! limit before it execs: the user's own programs may still dump core as they could before login.
//! Dumpability needs no restoring: execve resets it for the new program.

use std::sync::OnceLock;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The RLIMIT_CORE soft limit the process had before [`disable_core_dumps`] set it to 0.
static ORIGINAL_SOFT_LIMIT: OnceLock<u64> = OnceLock::new();

/// Why core dumps could not be turned off.
#[derive(Debug, thiserror::Error)]
pub enum CoreDumpError {
    #[error("prctl(PR_SET_DUMPABLE, 0) failed: {0}")]
    Dumpable(nix::Error),
    #[error("getrlimit/setrlimit(RLIMIT_CORE) failed: {0}")]
    Limit(nix::Error),
}

/// Turns core dumps off for this process (and the threads and children it starts afterwards):
/// call it first thing in `main` of every process that will hold a password. The hard limit is
/// left alone, so the soft limit can be given back to a session (see the module docs).
/// Calling it twice keeps the first original limit.
pub fn disable_core_dumps() -> Result<(), CoreDumpError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_CORE).map_err(CoreDumpError::Limit)?;
    ORIGINAL_SOFT_LIMIT.get_or_init(|| soft);
    setrlimit(Resource::RLIMIT_CORE, 0, hard).map_err(CoreDumpError::Limit)?;
    nix::sys::prctl::set_dumpable(false).map_err(CoreDumpError::Dumpable)
}

/// Runs `spawn` (which starts another program: fork and exec) with the original soft limit back
/// in place, then sets it to 0 again, so a program that turns core dumps off itself (the daemon's
/// workers) learns the limit to give back to its sessions instead of the 0 it would inherit.
/// This process stays undumpable throughout (`PR_SET_DUMPABLE` 0 is untouched), so it cannot dump
/// core in between either.
pub fn with_original_core_limit<T>(spawn: impl FnOnce() -> T) -> T {
    let Some(&soft) = ORIGINAL_SOFT_LIMIT.get() else {
        return spawn();
    };
    let Ok((_, hard)) = getrlimit(Resource::RLIMIT_CORE) else {
        return spawn();
    };
    let raised = setrlimit(Resource::RLIMIT_CORE, soft.min(hard), hard).is_ok();
    let result = spawn();
    if raised {
        if let Err(e) = setrlimit(Resource::RLIMIT_CORE, 0, hard) {
            tracing::warn!(error = %e, "could not set the core limit back to 0");
        }
    }
    result
}

/// In the session child before exec: the soft limit the process started with, if
/// [`disable_core_dumps`] changed it. Async-signal-safe (one atomic read, one system call).
pub(crate) fn restore_for_session() {
    if let Some(&soft) = ORIGINAL_SOFT_LIMIT.get() {
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_CORE) {
            let _ = setrlimit(Resource::RLIMIT_CORE, soft.min(hard), hard);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `body` in a forked child so the test process keeps its own limits; the child's exit
    /// status is the verdict.
    fn in_child(body: fn() -> bool) -> bool {
        match crate::sys::fork().unwrap() {
            nix::unistd::ForkResult::Child => crate::sys::exit_now(if body() { 0 } else { 1 }),
            nix::unistd::ForkResult::Parent { child } => matches!(
                nix::sys::wait::waitpid(child, None),
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0))
            ),
        }
    }

    #[test]
    fn a_program_spawned_meanwhile_sees_the_original_limit_and_this_process_keeps_0() {
        assert!(in_child(|| {
            let Ok((_, hard)) = getrlimit(Resource::RLIMIT_CORE) else {
                return false;
            };
            let before = hard.min(4096);
            if setrlimit(Resource::RLIMIT_CORE, before, hard).is_err() || disable_core_dumps().is_err() {
                return false;
            }
            let during = with_original_core_limit(|| getrlimit(Resource::RLIMIT_CORE));
            during == Ok((before, hard))
                && getrlimit(Resource::RLIMIT_CORE) == Ok((0, hard))
                && nix::sys::prctl::get_dumpable() == Ok(false)
        }));
    }

    #[test]
    fn dumps_are_off_and_the_original_soft_limit_comes_back_for_a_session() {
        assert!(in_child(|| {
            let Ok((_, hard)) = getrlimit(Resource::RLIMIT_CORE) else {
                return false;
            };
            let before = hard.min(4096);
            if setrlimit(Resource::RLIMIT_CORE, before, hard).is_err() || disable_core_dumps().is_err() {
                return false;
            }
            let off = nix::sys::prctl::get_dumpable() == Ok(false)
                && getrlimit(Resource::RLIMIT_CORE) == Ok((0, hard));
            restore_for_session();
            off && getrlimit(Resource::RLIMIT_CORE) == Ok((before, hard))
        }));
    }
}
