//! Starting the user's program in an open PAM session, supervising it, and closing the session
//! however it ends.
//!
//! The child follows login(1): its own session and controlling terminal when it owns the console
//! (setsid, TIOCSCTTY), `pam_end(PAM_DATA_SILENT)` on its copy of the handle, setgid then setuid
//! (checked, and checked irreversible), chdir to the home directory (falling back to `/` with
//! HOME=/), and execve with the PAM environment. The parent blocks the signals it cares about and
//! reads them from a signalfd: SIGTERM and SIGHUP are forwarded to the session's process group, a
//! session that ignores them is killed after a grace period, and whatever way the child ends,
//! `pam_close_session`, `pam_setcred(PAM_DELETE_CRED)` and `pam_end` follow.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Gid, Pid, Uid, User};

use crate::authlog::{AuthLog, Severity};
use crate::code::PamCode;
use crate::environment::{self, EnvSpec};
use crate::ffi::Item;
use crate::record::{SessionClass, SessionRecord, SessionState};
use crate::sys;
use crate::tracker::SessionTracker;
use crate::transaction::Transaction;

/// The signals the supervisor blocks in its thread and reads from a signalfd while a session
/// runs. A process-directed signal goes to any thread that does not block it, so a front end with
/// other threads must block these in every thread (before spawning them) or lose them.
pub const SUPERVISED_SIGNALS: [Signal; 6] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTTOU,
];

/// A passwd entry, copied out of libc's buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub home: PathBuf,
    pub shell: PathBuf,
}

impl From<User> for Account {
    fn from(u: User) -> Account {
        Account {
            name: u.name,
            uid: u.uid,
            gid: u.gid,
            home: u.dir,
            shell: u.shell,
        }
    }
}

impl Account {
    /// A uid with no passwd entry (containers): named by number, home `/`, shell `/bin/sh`.
    pub fn nameless(uid: Uid, gid: Gid) -> Account {
        Account {
            name: uid.to_string(),
            uid,
            gid,
            home: PathBuf::from("/"),
            shell: PathBuf::from("/bin/sh"),
        }
    }

    /// The login shell, or `/bin/sh` when the entry leaves it empty (as login(1) does).
    pub fn shell_or_default(&self) -> &Path {
        if self.shell.as_os_str().is_empty() {
            Path::new("/bin/sh")
        } else {
            &self.shell
        }
    }
}

/// Who the session's processes run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Running as root: the session switches to the account PAM authenticated.
    Switch(Account),
    /// Not root (the demo, a test): the session can only run as the invoking user. Front ends
    /// must say so, since it is not the account that was authenticated.
    Invoker { invoker: Account, pam_user: String },
}

impl Identity {
    /// The account whose uid the session processes get.
    pub fn account(&self) -> &Account {
        match self {
            Identity::Switch(a) => a,
            Identity::Invoker { invoker, .. } => invoker,
        }
    }

    /// The user PAM authenticated (the final PAM_USER).
    pub fn pam_user(&self) -> &str {
        match self {
            Identity::Switch(a) => &a.name,
            Identity::Invoker { pam_user, .. } => pam_user,
        }
    }
}

/// What to run in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// The account's login shell, as a login shell (`argv[0]` = `-bash`).
    LoginShell,
    /// A program and its arguments; a bare name is looked up in the session's PATH.
    Program(Vec<String>),
}

/// How the session relates to the terminal on standard input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalMode {
    /// No terminal (pipes, a graphical session): the session gets its own process group.
    Detached,
    /// Share our terminal: the session becomes its foreground process group, and we take the
    /// terminal back afterwards (not root, or not the console's owner).
    Foreground,
    /// A console login: the session gets its own session with standard input as controlling
    /// terminal, taken from whoever had it (root only), as login(1) does.
    Own,
}

/// Everything about the session besides the PAM transaction.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub command: SessionCommand,
    pub terminal: TerminalMode,
    pub term: Option<String>,
    pub session_type: String,
    pub session_class: String,
    pub desktop: Option<String>,
    pub extra_env: Vec<(String, String)>,
    /// How long a session may take to exit after SIGTERM/SIGHUP before it is killed.
    pub kill_grace: Duration,
    /// Write utmp/wtmp records for the session (USER_PROCESS at the start, DEAD_PROCESS at the
    /// end, with the supervisor's pid, as login(1) does) to these files. Only when switching to
    /// the account (root) and the session has a terminal line; `None`: no records.
    pub records: Option<crate::utmp::Files>,
}

impl Default for SessionSpec {
    fn default() -> Self {
        SessionSpec {
            command: SessionCommand::LoginShell,
            terminal: TerminalMode::Detached,
            term: None,
            session_type: "tty".into(),
            session_class: "user".into(),
            desktop: None,
            extra_env: Vec::new(),
            kill_grace: Duration::from_secs(5),
            records: None,
        }
    }
}

/// How the session's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Exited(i32),
    Signaled(Signal),
}

impl SessionEnd {
    /// A shell-style exit code: the status, or 128 + signal number.
    pub fn exit_code(self) -> i32 {
        match self {
            SessionEnd::Exited(code) => code,
            SessionEnd::Signaled(sig) => 128 + sig as i32,
        }
    }
}

/// What happened to a session that ran.
#[derive(Debug)]
pub struct SessionReport {
    pub end: SessionEnd,
    /// The signal that asked us to end the session early, if any.
    pub terminated_by: Option<Signal>,
    /// The result of closing: pam_close_session, pam_setcred(DELETE), pam_end.
    pub closed: Result<(), PamCode>,
}

/// Why a session could not be started or supervised. The PAM session is closed in every case.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot read the PAM environment: {0}")]
    Environment(PamCode),
    #[error("session command is empty or contains a NUL byte")]
    BadCommand,
    #[error("cannot set up signal handling: {0}")]
    Signals(nix::Error),
    #[error("cannot start the session process: {0}")]
    Fork(nix::Error),
    #[error("interrupted by {0} before the session started")]
    Interrupted(Signal),
    #[error("lost track of the session process: {0}")]
    Wait(nix::Error),
}

/// A transaction with an open PAM session, ready to run the user's program.
pub struct OpenSession {
    tx: Transaction,
    identity: Identity,
    tty: Option<String>,
    log: AuthLog,
}

impl std::fmt::Debug for OpenSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSession")
            .field("identity", &self.identity)
            .field("tty", &self.tty)
            .finish_non_exhaustive()
    }
}

/// The exec target, prepared before fork so the child only makes system calls.
struct Exec {
    path: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    home: CString,
}

impl OpenSession {
    pub(crate) fn new(tx: Transaction, identity: Identity, tty: Option<String>, log: AuthLog) -> OpenSession {
        OpenSession {
            tx,
            identity,
            tty,
            log,
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn transaction(&mut self) -> &mut Transaction {
        &mut self.tx
    }

    /// Ends the session without running anything in it.
    pub fn close(self) -> Result<(), PamCode> {
        self.finish()
    }

    /// Runs the session's program and supervises it until it ends, then closes the session.
    pub fn run(self, spec: &SessionSpec) -> Result<SessionReport, SessionError> {
        self.run_with(spec, None)
    }

    /// [`run`](Self::run), reporting the session to `tracker`: [`SessionTracker::opened`] right
    /// after the session's first process started (with the signals blocked, see
    /// [`crate::tracker`]), [`SessionTracker::closed`] once its PAM session is closed and the
    /// transaction ended, whichever way it ended. A tracker's failure is logged, never fatal.
    pub fn run_tracked(
        self,
        spec: &SessionSpec,
        tracker: &mut dyn SessionTracker,
    ) -> Result<SessionReport, SessionError> {
        self.run_with(spec, Some(tracker))
    }

    fn run_with(
        mut self,
        spec: &SessionSpec,
        mut tracker: Option<&mut dyn SessionTracker>,
    ) -> Result<SessionReport, SessionError> {
        let exec = self.prepare(spec)?;
        let mut watched = SigSet::empty();
        for s in SUPERVISED_SIGNALS {
            watched.add(s);
        }
        let mut previous = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&watched), Some(&mut previous))
            .map_err(SessionError::Signals)?;
        let mut tracked = None;
        // A shorter reborrow: the tracker is needed again once the session is closed.
        let reborrowed = tracker.as_mut().map(|t| &mut **t as &mut dyn SessionTracker);
        let record = self.utmp_record(spec);
        record(crate::utmp::Kind::Login);
        let result = self.spawn_and_supervise(spec, &exec, &watched, reborrowed, &mut tracked);
        record(crate::utmp::Kind::Logout);
        if let Err(e) = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None) {
            tracing::warn!(error = %e, "could not restore the signal mask");
        }
        let outcome = match result {
            Ok((end, terminated_by)) => {
                let user = self.identity.pam_user().to_owned();
                let closed = self.finish();
                Ok(SessionReport {
                    end,
                    terminated_by,
                    closed,
                })
                .inspect(|r| tracing::info!(user, end = ?r.end, "session ended"))
            }
            Err(e) => {
                // Dropping the transaction closes the PAM session (and ends the transaction).
                drop(self);
                Err(e)
            }
        };
        // Only now is the PAM session closed: the tracker may forget it.
        if let (Some(tracker), Some(id)) = (tracker, tracked) {
            tracker.closed(&id);
            tracing::debug!(id, "session unregistered");
        }
        outcome
    }

    /// Writes the session's utmp/wtmp record of a kind, if `spec.records` asks for them.
    fn utmp_record(&self, spec: &SessionSpec) -> impl Fn(crate::utmp::Kind) {
        let target = match (&spec.records, &self.identity, &self.tty) {
            (Some(files), Identity::Switch(a), Some(tty)) => {
                Some((files.clone(), tty.clone(), a.name.clone()))
            }
            _ => None,
        };
        let pid = std::process::id() as i32;
        move |kind| {
            if let Some((files, tty, user)) = &target {
                let fields = crate::utmp::fields(kind, pid, tty, user, None, std::time::SystemTime::now());
                if let Err(e) = crate::utmp::write(&fields, files) {
                    tracing::warn!(error = %e, "cannot write the utmp/wtmp record");
                }
            }
        }
    }

    /// What the tracker is told about a session whose first process is `leader`: the final PAM
    /// user and the items as PAM holds them now (a module may have changed them).
    fn record(&self, spec: &SessionSpec, leader: Pid) -> SessionRecord {
        let item = |item: Item| self.tx.text_item(item).filter(|s| !s.is_empty());
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        SessionRecord {
            id: String::new(),
            user: self.identity.pam_user().to_owned(),
            uid: self.identity.account().uid.as_raw(),
            tty: item(Item::Tty).or_else(|| self.tty.clone()),
            display: item(Item::Xdisplay),
            remote_host: item(Item::Rhost),
            service: self.tx.service().name().to_owned(),
            leader: leader.as_raw() as u32,
            supervisor: std::process::id(),
            class: spec.session_class.parse().unwrap_or(SessionClass::User),
            state: SessionState::Active,
            since,
        }
    }

    fn prepare(&mut self, spec: &SessionSpec) -> Result<Exec, SessionError> {
        let pam_env = self.tx.env_list().map_err(SessionError::Environment)?;
        let account = self.identity.account().clone();
        let shell = account.shell_or_default().to_path_buf();
        let home = account.home.to_string_lossy().into_owned();
        let shell_str = shell.to_string_lossy().into_owned();
        let env = environment::build(&EnvSpec {
            user: &account.name,
            home: &home,
            shell: &shell_str,
            root: account.uid.is_root(),
            term: spec.term.as_deref(),
            session_type: &spec.session_type,
            session_class: &spec.session_class,
            desktop: spec.desktop.as_deref(),
            pam_env: &pam_env,
            extra: &spec.extra_env,
        });
        let (path, argv) = match &spec.command {
            SessionCommand::LoginShell => {
                let base = shell.file_name().map(|b| b.as_bytes()).unwrap_or(b"sh");
                let mut argv0 = b"-".to_vec();
                argv0.extend_from_slice(base);
                (shell.as_os_str().as_bytes().to_vec(), vec![argv0])
            }
            SessionCommand::Program(args) => {
                let first = args.first().ok_or(SessionError::BadCommand)?;
                let search = env.get("PATH").unwrap_or(environment::USER_PATH.as_bytes());
                let path = find_program(first, search);
                (path, args.iter().map(|a| a.as_bytes().to_vec()).collect())
            }
        };
        let to_c = |b: Vec<u8>| CString::new(b).map_err(|_| SessionError::BadCommand);
        Ok(Exec {
            path: to_c(path)?,
            argv: argv.into_iter().map(to_c).collect::<Result<_, _>>()?,
            env: env.to_c_strings(),
            home: to_c(account.home.as_os_str().as_bytes().to_vec())?,
        })
    }

    fn spawn_and_supervise(
        &mut self,
        spec: &SessionSpec,
        exec: &Exec,
        watched: &SigSet,
        tracker: Option<&mut dyn SessionTracker>,
        tracked: &mut Option<String>,
    ) -> Result<(SessionEnd, Option<Signal>), SessionError> {
        let mut signals = SignalFd::with_flags(watched, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(SessionError::Signals)?;
        if let Some(sig) = sys::take_interrupt() {
            return Err(SessionError::Interrupted(sig));
        }
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let child = match sys::fork().map_err(SessionError::Fork)? {
            ForkResult::Child => child_main(&mut self.tx, &self.identity, spec.terminal, exec),
            ForkResult::Parent { child } => child,
        };
        // Both sides set the process group (and terminal), as shells do, so neither order races.
        // Not for a console login: the child's setsid would fail if it were a group leader already.
        match spec.terminal {
            TerminalMode::Own => {}
            TerminalMode::Detached => {
                let _ = nix::unistd::setpgid(child, child);
            }
            TerminalMode::Foreground => {
                let _ = nix::unistd::setpgid(child, child);
                let _ = nix::unistd::tcsetpgrp(std::io::stdin().as_fd(), child);
            }
        }
        let tty = self.tty.as_deref().unwrap_or("?");
        self.log.send(
            Severity::Info,
            &format!(
                "session opened for user {} on {tty} (pid {child})",
                self.identity.pam_user()
            ),
        );
        if let Some(tracker) = tracker {
            // After the fork (no tracker thread in the session's process) and with the signals
            // blocked (a tracker's threads inherit the mask: SIGTERM stays the signalfd's).
            let record = self.record(spec, child);
            match tracker.opened(&record) {
                Ok(Some(id)) => {
                    tracing::info!(id, leader = %child, "session registered");
                    *tracked = Some(id);
                }
                Ok(None) => tracing::debug!("no session tracker here; the session runs untracked"),
                Err(e) => tracing::warn!(error = %e, "the session is not registered; it runs untracked"),
            }
        }
        let outcome = supervise(child, &mut signals, spec.kill_grace);
        if spec.terminal == TerminalMode::Foreground {
            let _ = nix::unistd::tcsetpgrp(std::io::stdin().as_fd(), nix::unistd::getpgrp());
        }
        outcome
    }

    /// Closes the PAM session and ends the transaction, logging the result.
    fn finish(self) -> Result<(), PamCode> {
        let OpenSession {
            tx,
            identity,
            tty,
            log,
        } = self;
        let result = tx.end();
        let user = identity.pam_user();
        let tty = tty.as_deref().unwrap_or("?");
        match result {
            Ok(()) => log.send(
                Severity::Info,
                &format!("session closed for user {user} on {tty}"),
            ),
            Err(rc) => log.send(
                Severity::Warning,
                &format!(
                    "session for user {user} on {tty} closed with errors: {}",
                    rc.description()
                ),
            ),
        }
        if let Identity::Switch(_) = identity {
            // initgroups gave this process the user's groups: drop them again.
            if let Err(e) = nix::unistd::setgroups(&[]) {
                tracing::warn!(error = %e, "could not reset supplementary groups");
            }
        }
        result
    }
}

/// Waits for the session's main process, forwarding termination requests to its process group.
fn supervise(
    child: Pid,
    signals: &mut SignalFd,
    grace: Duration,
) -> Result<(SessionEnd, Option<Signal>), SessionError> {
    let mut terminated_by = None;
    let mut deadline: Option<Instant> = None;
    loop {
        // Peek without reaping: while the zombie exists its pid (the group id) cannot be reused,
        // so what is left of the group can be hung up safely before the child is reaped.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        let end = match waitid(Id::Pid(child), flags) {
            Ok(WaitStatus::Exited(_, code)) => Some(SessionEnd::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(SessionEnd::Signaled(sig)),
            Ok(_) => None,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(SessionError::Wait(e)),
        };
        if let Some(end) = end {
            // The session is over: hang up the rest of its process group, as a terminal does when
            // its controlling process exits (nohup'd programs survive, by design).
            let _ = killpg(child, Signal::SIGHUP);
            let _ = killpg(child, Signal::SIGCONT);
            waitpid(child, None).map_err(SessionError::Wait)?;
            return Ok((end, terminated_by));
        }
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1).unwrap_or(PollTimeout::MAX)
            }
        };
        {
            let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(SessionError::Wait(e)),
            }
        }
        while let Ok(Some(info)) = signals.read_signal() {
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            if matches!(sig, Signal::SIGTERM | Signal::SIGHUP) {
                tracing::info!(signal = %sig, "ending the session on request");
                terminated_by.get_or_insert(sig);
                let _ = killpg(child, sig);
                deadline.get_or_insert_with(|| Instant::now() + grace);
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::warn!("session did not exit within the grace period; killing it");
            let _ = killpg(child, Signal::SIGKILL);
            deadline = Some(Instant::now() + Duration::from_secs(3600));
        }
    }
}

/// The session child: never returns, and never runs the parent's destructors.
fn child_main(tx: &mut Transaction, identity: &Identity, terminal: TerminalMode, exec: &Exec) -> ! {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        become_session(tx, identity, terminal, exec)
    }));
    let reason = outcome.unwrap_or_else(|_| "internal error while starting the session".to_owned());
    let _ = writeln!(std::io::stderr(), "vestibule: {reason}");
    sys::exit_now(127)
}

/// Prepares the child and execs; returns only a reason for failing.
fn become_session(tx: &mut Transaction, identity: &Identity, terminal: TerminalMode, exec: &Exec) -> String {
    let stdin = std::io::stdin();
    match terminal {
        TerminalMode::Own => {
            if let Err(e) = nix::unistd::setsid() {
                return format!("setsid failed: {e}");
            }
            if let Err(e) = sys::set_controlling_tty(stdin.as_fd(), Uid::effective().is_root()) {
                return format!("cannot take the terminal: {e}");
            }
        }
        TerminalMode::Foreground | TerminalMode::Detached => {
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            if terminal == TerminalMode::Foreground {
                // SIGTTOU is still blocked here, so a background group may take the terminal.
                let _ = nix::unistd::tcsetpgrp(stdin.as_fd(), nix::unistd::getpid());
            }
        }
    }
    tx.end_in_forked_child();
    if let Identity::Switch(account) = identity {
        if let Err(e) = nix::unistd::setgid(account.gid) {
            return format!("setgid({}) failed: {e}", account.gid);
        }
        if let Err(e) = nix::unistd::setuid(account.uid) {
            return format!("setuid({}) failed: {e}", account.uid);
        }
        if !account.uid.is_root() && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
            return "privileges could not be dropped irreversibly".to_owned();
        }
    }
    let mut env = exec.env.clone();
    if nix::unistd::chdir(exec.home.as_c_str()).is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "No directory {}! Logging in with HOME=/",
            exec.home.to_string_lossy()
        );
        let _ = nix::unistd::chdir("/");
        env.retain(|e| !e.to_bytes().starts_with(b"HOME="));
        env.push(CString::new("HOME=/").expect("no NUL"));
    }
    sys::default_signal_dispositions();
    // The front end turned core dumps off for itself; the user's programs get their limit back.
    crate::coredump::restore_for_session();
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let err = nix::unistd::execve(&exec.path, &exec.argv, &env).unwrap_err();
    format!("cannot execute {}: {err}", exec.path.to_string_lossy())
}

/// `execvp`'s PATH search, done before fork on the session's own PATH.
fn find_program(name: &str, search: &[u8]) -> Vec<u8> {
    if name.contains('/') {
        return name.as_bytes().to_vec();
    }
    for dir in search.split(|&b| b == b':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(std::ffi::OsStr::from_bytes(dir)).join(name);
        if let Ok(meta) = candidate.metadata() {
            use std::os::unix::fs::PermissionsExt;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return candidate.into_os_string().into_vec();
            }
        }
    }
    name.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_search_uses_the_session_path() {
        assert_eq!(find_program("/bin/sh", b"/nowhere"), b"/bin/sh");
        assert_eq!(find_program("sh", b"/nowhere::/bin"), b"/bin/sh");
        assert_eq!(
            find_program("no-such-program-xyz", b"/bin"),
            b"no-such-program-xyz"
        );
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(SessionEnd::Exited(3).exit_code(), 3);
        assert_eq!(SessionEnd::Signaled(Signal::SIGKILL).exit_code(), 137);
    }

    #[test]
    fn empty_shell_falls_back_to_sh() {
        let mut a = Account::nameless(Uid::from_raw(1000), Gid::from_raw(1000));
        a.shell = PathBuf::new();
        assert_eq!(a.shell_or_default(), Path::new("/bin/sh"));
    }
}
