//! The daemon's event loop: one thread, one `poll` over a signalfd, the greeter socket, the
//! greeter connections and the workers' sockets. It never calls libpam; every PAM transaction
//! runs in a fresh `vestibule-worker`.
//!
//! The terminal's life: revoke (vhangup) and reset → greeter → a login authenticates →
//! `start_session` → the greeter is asked to exit (SIGTERM after 10 s, SIGKILL 5 s later) →
//! revoke and reset → the login worker is told to go and runs the session → the session ends →
//! revoke and reset → a new greeter. A greeter that exits with no session pending is restarted
//! (after 5 deaths within 10 s, only 10 s later). SIGTERM or SIGINT: every worker gets SIGTERM,
//! the daemon waits for them (SIGKILL after 10 s) and exits 0.

use std::collections::VecDeque;
use std::io::{ErrorKind, IsTerminal};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Pid, Uid, User};
use vestibule_ipc::frame;
use vestibule_ipc::worker::{
    DaemonToGreeter, DaemonToLogin, GreeterSetup, GreeterToDaemon, LoginSetup, LoginToDaemon, Records,
    Terminal, MAX_WORKER_MESSAGE_BYTES,
};
use vestibule_ipc::{Request, Response, EXTENSION_ENV, EXTENSION_VERSION, MAX_REQUEST_BYTES};

use crate::config::{Config, Vt};
use crate::link::{drain, Link};
use crate::relay::{Action, Relay};
use crate::terminal::{detach_stdio, resolve_tty, socket_dir_name, Anchor};

/// How long the greeter may take to exit after `start_session`, then after SIGTERM.
const GREETER_EXIT: Duration = Duration::from_secs(10);
const GREETER_KILL: Duration = Duration::from_secs(5);
/// How long a cancelled login worker may take to exit before it is killed.
const CANCEL_GRACE: Duration = Duration::from_secs(3);
/// How long a greeter may take to finish a frame it started.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// Greeter restarts: this many deaths within the window mean a pause.
const DEATHS: usize = 5;
const DEATH_WINDOW: Duration = Duration::from_secs(10);
const BACKOFF: Duration = Duration::from_secs(10);
/// How long the workers get to end on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The daemon's settings: the file and the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: Config,
    pub pam_confdir: Option<PathBuf>,
    pub worker: PathBuf,
    pub runtime_dir: PathBuf,
    pub agent_bus: Option<String>,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Setup(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Sys { what, source }
}

/// A worker process and its socket.
struct Worker {
    pid: Pid,
    link: Link,
    /// When to SIGKILL it (cancelled logins, greeters that do not exit, shutdown).
    kill_at: Option<Instant>,
}

/// The login worker of the moment.
struct Login {
    worker: Worker,
    /// The greeter connection that started it (`None`: autologin).
    conn: Option<u64>,
    /// The user PAM authenticated, once it did.
    user: Option<String>,
}

struct Conn {
    id: u64,
    link: Link,
    relay: Relay,
    partial_since: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The greeter runs (or is about to be restarted).
    Greeter,
    /// Autologin is authenticating.
    Autologin,
    /// `start_session` was accepted: waiting for the greeter to exit.
    StoppingGreeter {
        term_at: Instant,
    },
    /// The login worker runs the session.
    Session,
    ShuttingDown {
        kill_at: Instant,
    },
}

/// The daemon's whole state.
pub struct Daemon {
    opts: Options,
    root: bool,
    tty: Option<PathBuf>,
    /// Tells whether `tty` is still the terminal we started on (see [`Anchor`]).
    anchor: Option<Anchor>,
    /// Root on a terminal of our own: revoke it, make it the sessions' controlling terminal.
    own: bool,
    greeter_uid: Uid,
    socket: PathBuf,
    listener: UnixListener,
    signals: SignalFd,
    conns: Vec<Conn>,
    next_conn: u64,
    greeter: Option<Worker>,
    login: Option<Login>,
    /// Cancelled login workers on their way out.
    dying: Vec<Worker>,
    phase: Phase,
    deaths: VecDeque<Instant>,
    restart_at: Option<Instant>,
    /// Why the daemon is stopping on its own (the terminal went away), if it is.
    fatal: Option<String>,
}

impl Daemon {
    /// Sets everything up: the terminal, the greeter user, the socket, the signals.
    pub fn new(opts: Options) -> Result<Daemon, ServerError> {
        let root = Uid::effective().is_root();
        let tty = resolve_tty(opts.config.terminal.vt)?;
        let own = root && tty.is_some();
        let anchor = match &tty {
            Some(p) => Some(Anchor::new(p).map_err(io(format!("cannot find {}", p.display())))?),
            None => None,
        };
        let chosen = matches!(opts.config.terminal.vt, Vt::Number(_) | Vt::Next);
        if let (true, true, true) = (chosen, opts.config.terminal.switch, root) {
            if let Some(n) = tty.as_deref().and_then(vestibule_core::tty::vt_number) {
                if let Err(e) = vestibule_core::tty::activate_vt(n) {
                    tracing::warn!(error = %e, vt = n, "cannot switch to the VT");
                }
            }
        }
        let greeter_user = &opts.config.default_session.user;
        let greeter_uid = if root {
            let user = User::from_name(greeter_user)
                .map_err(sys(format!("cannot look up the greeter user {greeter_user:?}")))?
                .ok_or_else(|| {
                    ServerError::Setup(format!(
                        "the greeter user {greeter_user:?} does not exist (create it, or set [default_session] user)"
                    ))
                })?;
            if user.uid.is_root() {
                return Err(ServerError::Setup(format!(
                    "the greeter user {greeter_user:?} is root: greeters must run unprivileged"
                )));
            }
            user.uid
        } else {
            tracing::info!(
                "not root: greeters and sessions run as the invoking user (uid {}); \
                 no terminal revocation, ownership, utmp or runtime directories",
                Uid::current()
            );
            Uid::current()
        };

        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&opts.runtime_dir)
            .map_err(io(format!("cannot create {}", opts.runtime_dir.display())))?;
        let dir = opts.runtime_dir.join(socket_dir_name(tty.as_deref()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(format!("cannot create {}", dir.display()))(e)),
        }
        std::os::unix::fs::chown(&dir, Some(greeter_uid.as_raw()), None)
            .map_err(io(format!("cannot give {} to the greeter user", dir.display())))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(format!("cannot chmod {}", dir.display())))?;
        let socket = dir.join("socket");
        match std::fs::remove_file(&socket) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("cannot remove the old {}", socket.display()))(e)),
        }
        let listener =
            UnixListener::bind(&socket).map_err(io(format!("cannot listen on {}", socket.display())))?;
        // connect(2) needs write permission on the socket file: the greeter user's, 0600, in a
        // directory only it may enter.
        std::os::unix::fs::chown(&socket, Some(greeter_uid.as_raw()), None).map_err(io(format!(
            "cannot give {} to the greeter user",
            socket.display()
        )))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .map_err(io(format!("cannot chmod {}", socket.display())))?;
        listener
            .set_nonblocking(true)
            .map_err(io("cannot make the socket non-blocking"))?;

        let mut mask = SigSet::empty();
        for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            mask.add(s);
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
            .map_err(sys("cannot block signals"))?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(sys("cannot create a signalfd"))?;

        if own {
            // Keep no descriptor on the terminal: it is revoked before every greeter and session.
            detach_stdio(tty.as_deref().expect("own implies a terminal"));
        }
        tracing::info!(
            tty = tty.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into()),
            socket = %socket.display(),
            greeter_uid = %greeter_uid,
            "vestibuled started"
        );
        Ok(Daemon {
            opts,
            root,
            tty,
            anchor,
            own,
            greeter_uid,
            socket,
            listener,
            signals,
            conns: Vec::new(),
            next_conn: 1,
            greeter: None,
            login: None,
            dying: Vec::new(),
            phase: Phase::Greeter,
            deaths: VecDeque::new(),
            restart_at: None,
            fatal: None,
        })
    }

    /// Runs until SIGTERM or SIGINT, then ends every worker.
    pub fn run(mut self) -> Result<(), ServerError> {
        if !self.start_initial_session() {
            self.start_greeter();
        }
        loop {
            if let Phase::ShuttingDown { .. } = self.phase {
                if self.greeter.is_none() && self.login.is_none() && self.dying.is_empty() {
                    break;
                }
            }
            self.turn()?;
        }
        let _ = std::fs::remove_file(&self.socket);
        tracing::info!("vestibuled stopped");
        match self.fatal {
            Some(why) => Err(ServerError::Setup(why)),
            None => Ok(()),
        }
    }

    /// One round of the loop: poll, then handle what happened.
    fn turn(&mut self) -> Result<(), ServerError> {
        #[derive(Clone, Copy)]
        enum Target {
            Signals,
            Listener,
            Conn(u64),
            Greeter,
            Login,
            Dying(usize),
        }
        let timeout = self.timeout();
        let ready: Vec<(Target, PollFlags)> = {
            let mut entries: Vec<(Target, BorrowedFd<'_>, PollFlags)> = Vec::new();
            entries.push((Target::Signals, self.signals.as_fd(), PollFlags::POLLIN));
            if !matches!(self.phase, Phase::ShuttingDown { .. }) {
                entries.push((Target::Listener, self.listener.as_fd(), PollFlags::POLLIN));
            }
            for c in &self.conns {
                let mut f = PollFlags::empty();
                if !c.relay.owed() {
                    f |= PollFlags::POLLIN;
                }
                if !c.link.out.is_empty() {
                    f |= PollFlags::POLLOUT;
                }
                entries.push((Target::Conn(c.id), c.link.stream.as_fd(), f));
            }
            let wflags = |w: &Worker| {
                let mut f = PollFlags::POLLIN;
                if !w.link.out.is_empty() {
                    f |= PollFlags::POLLOUT;
                }
                f
            };
            if let Some(g) = &self.greeter {
                if !g.link.closed {
                    entries.push((Target::Greeter, g.link.stream.as_fd(), wflags(g)));
                }
            }
            if let Some(l) = &self.login {
                if !l.worker.link.closed {
                    entries.push((Target::Login, l.worker.link.stream.as_fd(), wflags(&l.worker)));
                }
            }
            for (i, w) in self.dying.iter().enumerate() {
                if !w.link.closed {
                    entries.push((Target::Dying(i), w.link.stream.as_fd(), PollFlags::POLLIN));
                }
            }
            let targets: Vec<Target> = entries.iter().map(|e| e.0).collect();
            let mut fds: Vec<PollFd<'_>> = entries.iter().map(|e| PollFd::new(e.1, e.2)).collect();
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(sys("poll")(e)),
            }
            fds.iter()
                .zip(targets.iter())
                .filter_map(|(fd, t)| fd.revents().filter(|r| !r.is_empty()).map(|r| (*t, r)))
                .collect()
        };
        for (target, revents) in ready {
            match target {
                Target::Signals => self.on_signals(),
                Target::Listener => self.accept(),
                Target::Conn(id) => self.on_conn(id, revents),
                Target::Greeter => self.on_greeter_link(),
                Target::Login => self.on_login_link(),
                Target::Dying(i) => {
                    if let Some(w) = self.dying.get_mut(i) {
                        w.link.fill();
                        // Whatever a cancelled login still says is of no interest.
                        while let Ok(Some(_)) = w.link.decoder.next_body() {}
                    }
                }
            }
        }
        self.serve_conns();
        self.timers();
        Ok(())
    }

    fn timeout(&self) -> PollTimeout {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.restart_at);
        if let Phase::StoppingGreeter { term_at } = self.phase {
            consider(Some(term_at));
        }
        if let Phase::ShuttingDown { kill_at } = self.phase {
            consider(Some(kill_at));
        }
        consider(self.greeter.as_ref().and_then(|g| g.kill_at));
        consider(self.login.as_ref().and_then(|l| l.worker.kill_at));
        for w in &self.dying {
            consider(w.kill_at);
        }
        for c in &self.conns {
            consider(c.partial_since.map(|t| t + FRAME_TIMEOUT));
        }
        match next {
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = t
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(60_000) as i32
                    + 1;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    // ---- signals and children -------------------------------------------------------------

    fn on_signals(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => {}
                Ok(sig @ (Signal::SIGTERM | Signal::SIGINT)) => self.shutdown(sig),
                Ok(Signal::SIGHUP) => tracing::info!("SIGHUP ignored (the terminal was hung up)"),
                _ => {}
            }
        }
        self.reap();
    }

    fn shutdown(&mut self, sig: Signal) {
        if let Phase::ShuttingDown { .. } = self.phase {
            return;
        }
        tracing::info!(signal = %sig, "stopping: ending every worker");
        self.phase = Phase::ShuttingDown {
            kill_at: Instant::now() + SHUTDOWN_GRACE,
        };
        for pid in self.worker_pids() {
            let _ = kill(pid, Signal::SIGTERM);
        }
        self.conns.clear();
    }

    fn worker_pids(&self) -> Vec<Pid> {
        let mut pids: Vec<Pid> = self.dying.iter().map(|w| w.pid).collect();
        pids.extend(self.greeter.as_ref().map(|g| g.pid));
        pids.extend(self.login.as_ref().map(|l| l.worker.pid));
        pids
    }

    fn reap(&mut self) {
        loop {
            let (pid, status) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, format!("exit status {code}")),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, format!("killed by {sig}")),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            if self.greeter.as_ref().is_some_and(|g| g.pid == pid) {
                let g = self.greeter.take().expect("checked");
                tracing::info!(pid = %pid, %status, "greeter worker exited");
                drop(g);
                self.greeter_exited();
            } else if self.login.as_ref().is_some_and(|l| l.worker.pid == pid) {
                let mut l = self.login.take().expect("checked");
                tracing::info!(pid = %pid, %status, user = ?l.user, "login worker exited");
                self.login_exited(&mut l);
            } else if let Some(i) = self.dying.iter().position(|w| w.pid == pid) {
                self.dying.remove(i);
                tracing::info!(pid = %pid, %status, "cancelled login worker exited");
            }
        }
    }

    fn greeter_exited(&mut self) {
        match self.phase {
            Phase::StoppingGreeter { .. } => {
                if self.login.is_some() {
                    self.revoke_tty();
                    self.phase = Phase::Session;
                    if let Some(l) = &mut self.login {
                        l.worker.link.send(&DaemonToLogin::Go);
                    }
                } else {
                    self.phase = Phase::Greeter;
                    self.start_greeter();
                }
            }
            Phase::Greeter => {
                // A login this greeter had going is over with it.
                if self.login.as_ref().is_some_and(|l| l.conn.is_some()) {
                    self.cancel_login("the greeter exited");
                }
                let now = Instant::now();
                self.deaths.push_back(now);
                while self
                    .deaths
                    .front()
                    .is_some_and(|&t| now.duration_since(t) > DEATH_WINDOW)
                {
                    self.deaths.pop_front();
                }
                if self.deaths.len() >= DEATHS {
                    tracing::warn!(
                        deaths = self.deaths.len(),
                        "the greeter keeps exiting; waiting {} s before starting it again",
                        BACKOFF.as_secs()
                    );
                    self.deaths.clear();
                    self.restart_at = Some(now + BACKOFF);
                } else {
                    self.restart_at = Some(now);
                }
            }
            Phase::Autologin | Phase::Session | Phase::ShuttingDown { .. } => {}
        }
    }

    fn login_exited(&mut self, l: &mut Login) {
        // Every report it sent first, then its end.
        l.worker.link.fill();
        let reports = drain::<LoginToDaemon>(&mut l.worker.link);
        if let Some(id) = l.conn {
            for r in reports {
                self.relay_worker(id, r);
            }
            if let Some(c) = self.conn_mut(id) {
                let actions = c.relay.worker_gone();
                self.apply(id, actions);
            }
        }
        match self.phase {
            Phase::Session => {
                tracing::info!(user = ?l.user, "session ended");
                self.phase = Phase::Greeter;
                self.start_greeter();
            }
            Phase::Autologin => {
                tracing::warn!("the initial session could not start; starting the greeter");
                self.phase = Phase::Greeter;
                self.start_greeter();
            }
            Phase::StoppingGreeter { .. } => {
                tracing::warn!("the login ended before its session started");
                self.phase = Phase::Greeter;
                if self.greeter.is_none() {
                    self.start_greeter();
                }
            }
            Phase::Greeter | Phase::ShuttingDown { .. } => {}
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if self.restart_at.is_some_and(|t| now >= t) {
            self.restart_at = None;
            if self.phase == Phase::Greeter && self.greeter.is_none() {
                self.start_greeter();
            }
        }
        if let Phase::StoppingGreeter { term_at } = self.phase {
            if now >= term_at {
                if let Some(g) = &mut self.greeter {
                    if g.kill_at.is_none() {
                        tracing::warn!("the greeter did not exit after start_session; sending SIGTERM");
                        let _ = kill(g.pid, Signal::SIGTERM);
                        g.kill_at = Some(now + GREETER_KILL);
                    }
                }
                self.phase = Phase::StoppingGreeter {
                    term_at: now + Duration::from_secs(3600),
                };
            }
        }
        if let Phase::ShuttingDown { kill_at } = self.phase {
            if now >= kill_at {
                for pid in self.worker_pids() {
                    tracing::warn!(pid = %pid, "worker did not stop; killing it");
                    let _ = kill(pid, Signal::SIGKILL);
                }
                self.phase = Phase::ShuttingDown {
                    kill_at: now + Duration::from_secs(3600),
                };
            }
        }
        let mut overdue: Vec<Pid> = Vec::new();
        for w in self.dying.iter_mut().chain(self.greeter.iter_mut()) {
            if w.kill_at.is_some_and(|t| now >= t) {
                overdue.push(w.pid);
                w.kill_at = None;
            }
        }
        for pid in overdue {
            tracing::warn!(pid = %pid, "worker did not exit in time; killing it");
            let _ = kill(pid, Signal::SIGKILL);
        }
        let stalled: Vec<u64> = self
            .conns
            .iter()
            .filter(|c| {
                c.partial_since
                    .is_some_and(|t| now.duration_since(t) >= FRAME_TIMEOUT)
            })
            .map(|c| c.id)
            .collect();
        for id in stalled {
            self.drop_conn(id, "did not finish a message in time");
        }
    }

    // ---- the terminal ---------------------------------------------------------------------

    /// Revokes (root, own terminal) or only resets the terminal, in a helper process.
    fn revoke_tty(&self) {
        let Some(tty) = &self.tty else {
            return;
        };
        if self.anchor.as_ref().is_some_and(|a| !a.still_there(tty)) {
            tracing::warn!(tty = %tty.display(), "the terminal is gone; not touching what now has its name");
            return;
        }
        let action = if self.own {
            "revoke"
        } else {
            tracing::info!("not root: the terminal is reset but not revoked (no vhangup)");
            "reset"
        };
        let status = Command::new(&self.opts.worker)
            .arg(action)
            .arg(tty)
            .stdin(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => tracing::debug!(action, tty = %tty.display(), "terminal done"),
            Ok(s) if self.own => {
                tracing::warn!(action, tty = %tty.display(), status = %s, "terminal helper failed")
            }
            Ok(s) => {
                tracing::info!(action, tty = %tty.display(), status = %s, "the terminal could not be reset")
            }
            Err(e) => tracing::warn!(action, error = %e, "cannot run the terminal helper"),
        }
    }

    // ---- workers --------------------------------------------------------------------------

    fn terminal(&self) -> Terminal {
        Terminal {
            path: self.tty.clone(),
            own: self.own,
        }
    }

    fn spawn(&self, kind: &str) -> Result<Worker, String> {
        let (ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        fcntl(&theirs, FcntlArg::F_SETFD(FdFlag::empty())).map_err(|e| format!("fcntl: {e}"))?;
        let mut cmd = Command::new(&self.opts.worker);
        cmd.arg(kind).arg("--fd").arg(theirs.as_raw_fd().to_string());
        if self.own || self.tty.is_none() && !std::io::stdin().is_terminal() {
            cmd.stdin(Stdio::null());
        }
        // The worker turns core dumps off itself; it must see the limit this daemon started
        // with, to give it back to the user's session.
        let child = vestibule_core::with_original_core_limit(|| cmd.spawn())
            .map_err(|e| format!("cannot run {}: {e}", self.opts.worker.display()))?;
        drop(theirs);
        let pid = Pid::from_raw(child.id() as i32);
        drop(child);
        let link = Link::new(ours, MAX_WORKER_MESSAGE_BYTES).map_err(|e| e.to_string())?;
        Ok(Worker {
            pid,
            link,
            kill_at: None,
        })
    }

    fn start_greeter(&mut self) {
        if self.greeter.is_some() || matches!(self.phase, Phase::ShuttingDown { .. }) {
            return;
        }
        let gone = match (&self.tty, &self.anchor) {
            (Some(t), Some(a)) => (!a.still_there(t)).then_some(t),
            _ => None,
        };
        if let Some(tty) = gone {
            // A pseudo-terminal whose other end closed (its number may already belong to another
            // one): nothing can ever log in here again.
            let why = format!("the terminal {} is gone", tty.display());
            tracing::error!("{why}; stopping");
            self.fatal = Some(why);
            self.shutdown(Signal::SIGHUP);
            return;
        }
        self.revoke_tty();
        let mut worker = match self.spawn("greeter") {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the greeter worker; trying again in {} s", BACKOFF.as_secs());
                self.restart_at = Some(Instant::now() + BACKOFF);
                return;
            }
        };
        let c = &self.opts.config;
        let setup = GreeterSetup {
            user: if self.root {
                c.default_session.user.clone()
            } else {
                invoker_name()
            },
            command: c.default_session.command.clone(),
            terminal: self.terminal(),
            pam_confdir: self.opts.pam_confdir.clone(),
            env: vec![
                ("GREETD_SOCK".into(), self.socket.display().to_string()),
                (EXTENSION_ENV.into(), EXTENSION_VERSION.to_string()),
            ],
            source_profile: c.general.source_profile,
            agent_bus: self.opts.agent_bus.clone(),
            runtime_dir: self.opts.runtime_dir.clone(),
        };
        worker.link.send(&DaemonToGreeter::Setup(setup));
        tracing::info!(pid = %worker.pid, "greeter worker started");
        self.greeter = Some(worker);
    }

    fn login_setup(&self, username: String, autologin: bool, extension: bool) -> LoginSetup {
        let c = &self.opts.config;
        LoginSetup {
            username,
            autologin,
            terminal: self.terminal(),
            pam_confdir: self.opts.pam_confdir.clone(),
            // Plain greetd greeters start over after each failure, as under greetd.
            max_tries: if extension { c.vestibule.max_tries } else { 1 },
            fail_delay_ms: c.vestibule.fail_delay_ms,
            source_profile: c.general.source_profile,
            agent_bus: self.opts.agent_bus.clone(),
            runtime_dir: self.opts.runtime_dir.clone(),
            records: self.root.then(|| Records {
                utmp: c.vestibule.utmp_file.clone(),
                wtmp: c.vestibule.wtmp_file.clone(),
            }),
        }
    }

    /// `[initial_session]`, once per boot (the runfile): returns whether it started.
    fn start_initial_session(&mut self) -> bool {
        let Some(initial) = self.opts.config.initial_session.clone() else {
            return false;
        };
        let runfile = self.opts.config.general.runfile.clone();
        if runfile.exists() {
            tracing::info!(runfile = %runfile.display(), "the initial session already ran since boot");
            return false;
        }
        if let Some(dir) = runfile.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(&runfile, b"") {
            tracing::error!(error = %e, runfile = %runfile.display(), "cannot create the runfile; no initial session");
            return false;
        }
        let user = if self.root {
            initial.user.clone()
        } else {
            invoker_name()
        };
        let mut worker = match self.spawn("login") {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the initial session");
                return false;
            }
        };
        worker
            .link
            .send(&DaemonToLogin::Setup(self.login_setup(user.clone(), true, true)));
        tracing::info!(user, "starting the initial session");
        self.login = Some(Login {
            worker,
            conn: None,
            user: None,
        });
        self.phase = Phase::Autologin;
        true
    }

    fn cancel_login(&mut self, why: &str) {
        if let Some(mut l) = self.login.take() {
            tracing::info!(why, pid = %l.worker.pid, "cancelling the login");
            l.worker.link.send(&DaemonToLogin::Cancel);
            l.worker.kill_at = Some(Instant::now() + CANCEL_GRACE);
            self.dying.push(l.worker);
            if let Phase::StoppingGreeter { .. } = self.phase {
                self.phase = Phase::Greeter;
            }
        }
    }

    fn on_greeter_link(&mut self) {
        let Some(g) = &mut self.greeter else {
            return;
        };
        g.link.flush();
        g.link.fill();
        for r in drain::<GreeterToDaemon>(&mut g.link) {
            match r {
                GreeterToDaemon::Started { pid } => tracing::info!(pid, "greeter running"),
                GreeterToDaemon::Failed { description } => tracing::error!("{description}"),
            }
        }
    }

    fn on_login_link(&mut self) {
        let Some(l) = &mut self.login else {
            return;
        };
        l.worker.link.flush();
        l.worker.link.fill();
        let reports = drain::<LoginToDaemon>(&mut l.worker.link);
        let conn = l.conn;
        for r in reports {
            if let LoginToDaemon::Authenticated { user } = &r {
                if let Some(l) = &mut self.login {
                    l.user = Some(user.clone());
                }
                tracing::info!(user, "authenticated");
            }
            if let LoginToDaemon::SessionStarted { pid } = &r {
                tracing::info!(pid, "session running");
            }
            match conn {
                Some(id) => self.relay_worker(id, r),
                None => self.autologin_report(r),
            }
        }
    }

    fn autologin_report(&mut self, r: LoginToDaemon) {
        match r {
            LoginToDaemon::Authenticated { .. } if self.phase == Phase::Autologin => {
                let command = self
                    .opts
                    .config
                    .initial_session
                    .as_ref()
                    .map(|i| i.command.clone())
                    .unwrap_or_default();
                self.revoke_tty();
                if let Some(l) = &mut self.login {
                    l.worker.link.send(&DaemonToLogin::StartSession {
                        cmd: vec![command],
                        env: Vec::new(),
                    });
                    l.worker.link.send(&DaemonToLogin::Go);
                }
                self.phase = Phase::Session;
            }
            LoginToDaemon::Failed { description, .. } => {
                tracing::warn!(reason = %description, "the initial session was refused")
            }
            _ => {}
        }
    }

    fn relay_worker(&mut self, id: u64, r: LoginToDaemon) {
        if let Some(c) = self.conn_mut(id) {
            let actions = c.relay.worker(r);
            self.apply(id, actions);
        }
    }

    // ---- greeter connections --------------------------------------------------------------

    fn accept(&mut self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    return;
                }
            };
            let uid = match getsockopt(&stream, PeerCredentials) {
                Ok(cred) => Uid::from_raw(cred.uid()),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a connection's credentials; closed");
                    continue;
                }
            };
            if uid != self.greeter_uid && !uid.is_root() {
                tracing::warn!(uid = %uid, "connection from a user who is not the greeter user; closed");
                continue;
            }
            match Link::new(stream, MAX_REQUEST_BYTES) {
                Ok(link) => {
                    let id = self.next_conn;
                    self.next_conn += 1;
                    tracing::debug!(id, uid = %uid, "greeter connected");
                    self.conns.push(Conn {
                        id,
                        link,
                        relay: Relay::new(),
                        partial_since: None,
                    });
                }
                Err(e) => tracing::warn!(error = %e, "cannot set up a connection"),
            }
        }
    }

    fn conn_mut(&mut self, id: u64) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }

    fn on_conn(&mut self, id: u64, revents: PollFlags) {
        let Some(c) = self.conn_mut(id) else {
            return;
        };
        c.link.flush();
        if revents.contains(PollFlags::POLLIN) && !c.relay.owed() {
            c.link.fill_once();
        } else if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            // Gone (perhaps while waiting for PAM): nobody will read an answer.
            c.link.closed = true;
        }
    }

    /// Handles every whole request a connection has buffered, one at a time, and drops the
    /// connections that closed or misbehaved beyond an answer.
    fn serve_conns(&mut self) {
        let ids: Vec<u64> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            while let Some(c) = self.conn_mut(id) {
                if c.relay.owed() {
                    break;
                }
                let body = match c.link.decoder.next_body() {
                    Ok(Some(b)) => b,
                    Ok(None) => {
                        if c.link.decoder.pending() == 0 {
                            c.partial_since = None;
                        } else if c.partial_since.is_none() {
                            c.partial_since = Some(Instant::now());
                        }
                        break;
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        self.drop_conn(id, &reason);
                        break;
                    }
                };
                c.partial_since = None;
                let actions = match frame::decode::<Request>(&body) {
                    Ok(req) => {
                        tracing::debug!(id, request = req.kind(), "request");
                        c.relay.request(req)
                    }
                    Err(e) => {
                        tracing::warn!(id, error = %e, "malformed request");
                        c.relay.malformed(&e.to_string())
                    }
                };
                self.apply(id, actions);
            }
            if let Some(c) = self.conn_mut(id) {
                if c.link.closed {
                    self.drop_conn(id, "disconnected");
                }
            }
        }
    }

    fn drop_conn(&mut self, id: u64, why: &str) {
        let Some(i) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        let c = self.conns.remove(i);
        tracing::debug!(id, why, "greeter connection dropped");
        if self.login.as_ref().is_some_and(|l| l.conn == Some(id)) && !c.relay.starting() {
            self.cancel_login(&format!("its greeter connection {why}"));
        }
    }

    fn apply(&mut self, id: u64, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Reply(r) => {
                    log_reply(id, &r);
                    if let Some(c) = self.conn_mut(id) {
                        c.link.send(&r);
                    }
                }
                Action::Worker(m) => {
                    if let Some(l) = &mut self.login {
                        if l.conn == Some(id) {
                            l.worker.link.send(&m);
                        }
                    }
                }
                Action::Spawn { username, extension } => {
                    let refused = if self.login.is_some() || self.phase != Phase::Greeter {
                        Some("another login is in progress on this terminal".to_owned())
                    } else {
                        match self.spawn("login") {
                            Ok(mut worker) => {
                                let setup = self.login_setup(username.clone(), false, extension);
                                worker.link.send(&DaemonToLogin::Setup(setup));
                                tracing::info!(id, pid = %worker.pid, "login worker started");
                                self.login = Some(Login {
                                    worker,
                                    conn: Some(id),
                                    user: None,
                                });
                                None
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "cannot start a login worker");
                                Some("the login service is unavailable".to_owned())
                            }
                        }
                    };
                    if let Some(reason) = refused {
                        if let Some(c) = self.conn_mut(id) {
                            let more = c.relay.spawn_failed(&reason);
                            self.apply(id, more);
                        }
                    }
                }
                Action::Cancel => {
                    if self.login.as_ref().is_some_and(|l| l.conn == Some(id)) {
                        self.cancel_login("the greeter cancelled it");
                    }
                }
                Action::StartSession { cmd, env } => {
                    let (env, dropped) = crate::env::filter(&env);
                    if !dropped.is_empty() {
                        tracing::warn!(?dropped, "environment entries from the greeter dropped");
                    }
                    if let Some(l) = &mut self.login {
                        l.worker.link.send(&DaemonToLogin::StartSession { cmd, env });
                    }
                    tracing::info!("start_session accepted; waiting for the greeter to exit");
                    self.phase = Phase::StoppingGreeter {
                        term_at: Instant::now() + GREETER_EXIT,
                    };
                    if self.greeter.is_none() {
                        self.greeter_exited();
                    }
                }
            }
        }
    }
}

fn log_reply(id: u64, r: &Response) {
    match r {
        Response::Error {
            error_type,
            description,
        } => tracing::info!(id, ?error_type, description, "error sent"),
        Response::AuthMessage {
            auth_message_type, ..
        } => {
            tracing::debug!(id, ?auth_message_type, "auth_message sent")
        }
        Response::Success => tracing::debug!(id, "success sent"),
        Response::Welcome { version } => tracing::debug!(id, version, "x_vestibule_welcome sent"),
        Response::Conversation { messages, context } => {
            tracing::debug!(
                id,
                messages = messages.len(),
                ?context,
                "x_vestibule_conversation sent"
            )
        }
        Response::FailDelay { ms } => tracing::debug!(id, ms, "x_vestibule_fail_delay sent"),
    }
}

fn invoker_name() -> String {
    User::from_uid(Uid::current())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| Uid::current().to_string())
}
