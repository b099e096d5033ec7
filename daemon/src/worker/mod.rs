//! `vestibule-worker`: one fresh process per greeter and per login, started by `vestibuled`.
//!
//! ```text
//! vestibule-worker login --fd N     a user's login (or autologin), from Setup to session end
//! vestibule-worker greeter --fd N   the greeter's session
//! vestibule-worker revoke TTY       hang up TTY for everyone (vhangup), then reset it
//! vestibule-worker reset TTY        reset TTY only (not root: no vhangup)
//! ```
//!
//! A worker is single-threaded until its session's first process runs (the agent client's
//! threads start after the fork, see `vestibule_core::tracker`), talks to the daemon over the
//! socket it inherited as fd N, and treats the daemon's end of it closing as "nobody to report
//! to": before the session starts that cancels the login; once it runs the worker goes on
//! supervising and still closes the PAM session when the session ends.

mod chan;
mod conversation;
mod greeter;
mod login;
mod session;

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Runs the worker named by `args` (without argv[0]); returns the exit status.
pub fn main(args: &[String]) -> i32 {
    init_logging();
    if let Err(e) = vestibule_core::disable_core_dumps() {
        tracing::warn!(error = %e, "could not turn core dumps off");
    }
    match args {
        [kind, flag, fd] if flag == "--fd" => {
            let Some(fd) = fd.parse::<RawFd>().ok().filter(|&fd| fd > 2) else {
                eprintln!("vestibule-worker: --fd needs a descriptor number above 2");
                return 2;
            };
            // SAFETY: the daemon passed us this descriptor, open and not used by anything else in
            // this fresh process; we take sole ownership of it here, once.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let chan = chan::Chan::new(fd);
            match kind.as_str() {
                "login" => login::run(chan),
                "greeter" => greeter::run(chan),
                other => {
                    eprintln!("vestibule-worker: unknown worker kind {other:?}");
                    2
                }
            }
        }
        [action, tty] if action == "revoke" || action == "reset" => {
            let path = Path::new(tty);
            if action == "revoke" {
                if let Err(e) = vestibule_core::tty::revoke(path) {
                    eprintln!("vestibule-worker: {e}");
                    return 1;
                }
            }
            match vestibule_core::tty::reset(path) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("vestibule-worker: {e}");
                    1
                }
            }
        }
        _ => {
            eprintln!(
                "usage: vestibule-worker login|greeter --fd N | revoke|reset TTY (started by vestibuled)"
            );
            2
        }
    }
}

/// The daemon's standard error as the worker inherited it, kept apart from fd 2, which becomes
/// the terminal once the worker takes it for the session.
static LOG: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

/// Logs to the daemon's stderr (the journal under systemd), at `VESTIBULE_LOG`'s level (info by
/// default). No subscriber threads.
fn init_logging() {
    use std::os::fd::AsFd;
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return;
    };
    let _ = LOG.set(std::fs::File::from(fd));
    let level = match std::env::var("VESTIBULE_LOG").as_deref() {
        Ok("trace") => tracing::Level::TRACE,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(|| LogWriter)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Writes to [`LOG`] (or nowhere).
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match LOG.get() {
            Some(mut f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
