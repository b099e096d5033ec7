//! The D-Bus interface `org.vestibule.SessionAgent1`: each method finds out who is calling (the
//! bus's `GetConnectionUnixUser` on the message's sender — never anything the caller sends),
//! checks the arguments ([`crate::validate`]) and the caller's right ([`crate::authz`]), changes
//! the [`Table`], writes the state file and sends the signal that goes with the change.
//!
//! Errors: `org.freedesktop.DBus.Error.AccessDenied` (with who, what and why),
//! `org.freedesktop.DBus.Error.InvalidArgs` (what was wrong with which argument; wrong types are
//! refused by zbus itself with the same name), `org.vestibule.SessionAgent1.Error.NoSuchSession`,
//! and `org.freedesktop.DBus.Error.Failed` when the agent could not do what was allowed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vestibule_core::record::{SessionClass, SessionState};
use vestibule_core::ConfigDir;
use zbus::message::Header;
use zbus::names::ErrorName;
use zbus::object_server::SignalContext;
use zbus::zvariant::ObjectPath;
use zbus::{Connection, DBusError};

use crate::authz::{self, Action};
use crate::table::{Entry, Table, TableError};
use crate::terminate;
use crate::validate::{self, Invalid, RawRegistration};
use crate::wire::WireSession;
use crate::{pam_close, persist, procfs, session_path, ERROR_NO_SUCH_SESSION, OBJECT_PATH};

/// How the agent was started.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The state file (`--state`).
    pub state_path: PathBuf,
    /// Where the PAM service files for closing orphaned sessions come from (`--pam-confdir`).
    pub pam: ConfigDir,
    /// How long a session may take to exit after SIGTERM before it is killed (`--grace-ms`).
    pub grace: Duration,
    /// How long a live supervisor may take to close the PAM session and unregister once the
    /// session's processes are gone (`--supervisor-wait-ms`, default [`SUPERVISOR_CLOSE_WAIT`]).
    pub supervisor_wait: Duration,
}

/// The agent's state, shared by the bus handlers and the supervisor watch.
#[derive(Debug)]
pub struct Shared {
    table: Mutex<Table>,
    settings: Settings,
}

impl Shared {
    pub fn new(table: Table, settings: Settings) -> Arc<Shared> {
        Arc::new(Shared {
            table: Mutex::new(table),
            settings,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A handler that panicked left the table as it was between two whole operations.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the table; a failure is logged (the change stands, in memory).
    fn save(&self, table: &Table) -> bool {
        match persist::save(&self.settings.state_path, table) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "could not write the state file");
                false
            }
        }
    }

    /// The number of sessions, for logs and tests.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The errors a caller can get back.
#[derive(Debug)]
pub enum AgentError {
    AccessDenied(String),
    InvalidArgs(String),
    NoSuchSession(String),
    Failed(String),
    ZBus(zbus::Error),
}

impl DBusError for AgentError {
    // `Builder::error` is what zbus's own DBusError derive uses: the trait hands us the call's
    // header, not the message `Message::method_error` wants.
    #[allow(deprecated)]
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<zbus::message::Message> {
        let desc = self.description().unwrap_or_default().to_owned();
        zbus::message::Builder::error(call, self.name())?.build(&(desc,))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_static_str_unchecked(match self {
            AgentError::AccessDenied(_) => "org.freedesktop.DBus.Error.AccessDenied",
            AgentError::InvalidArgs(_) => "org.freedesktop.DBus.Error.InvalidArgs",
            AgentError::NoSuchSession(_) => ERROR_NO_SUCH_SESSION,
            AgentError::Failed(_) | AgentError::ZBus(_) => "org.freedesktop.DBus.Error.Failed",
        })
    }

    fn description(&self) -> Option<&str> {
        match self {
            AgentError::AccessDenied(s)
            | AgentError::InvalidArgs(s)
            | AgentError::NoSuchSession(s)
            | AgentError::Failed(s) => Some(s),
            AgentError::ZBus(_) => Some("internal D-Bus error in the agent"),
        }
    }
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::ZBus(e) => write!(f, "{}: {e}", self.name()),
            _ => write!(f, "{}: {}", self.name(), self.description().unwrap_or_default()),
        }
    }
}

impl std::error::Error for AgentError {}

impl From<zbus::Error> for AgentError {
    fn from(e: zbus::Error) -> AgentError {
        AgentError::ZBus(e)
    }
}

impl From<Invalid> for AgentError {
    fn from(e: Invalid) -> AgentError {
        AgentError::InvalidArgs(e.to_string())
    }
}

impl From<authz::Denied> for AgentError {
    fn from(e: authz::Denied) -> AgentError {
        AgentError::AccessDenied(e.to_string())
    }
}

impl From<TableError> for AgentError {
    fn from(e: TableError) -> AgentError {
        match e {
            TableError::NoSuchSession(_) => AgentError::NoSuchSession(e.to_string()),
            TableError::Closing(_) | TableError::Full => AgentError::Failed(e.to_string()),
        }
    }
}

type Reply<T> = Result<T, AgentError>;

/// The object at `/org/vestibule/SessionAgent1`.
pub struct Agent {
    shared: Arc<Shared>,
}

impl Agent {
    pub fn new(shared: Arc<Shared>) -> Agent {
        Agent { shared }
    }
}

/// The caller's uid, as the bus daemon knows it from the connection's credentials.
async fn caller_uid(conn: &Connection, hdr: &Header<'_>) -> Reply<u32> {
    let sender = hdr.sender().ok_or_else(|| {
        AgentError::AccessDenied("the message has no sender: cannot tell who is calling".into())
    })?;
    let reply = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetConnectionUnixUser",
            &(sender.as_str(),),
        )
        .await?;
    Ok(reply.body().deserialize::<u32>()?)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn path(id: &str) -> ObjectPath<'static> {
    ObjectPath::try_from(session_path(id)).expect("decimal ids make valid object paths")
}

#[zbus::interface(name = "org.vestibule.SessionAgent1")]
impl Agent {
    /// Registers a session the caller (root: the supervisor holding its PAM transaction) opened.
    /// Empty strings stand for "none" (tty, display, remote host). Returns the session id.
    #[allow(clippy::too_many_arguments)]
    async fn register_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(signal_context)] ctxt: SignalContext<'_>,
        user: String,
        uid: u32,
        tty: String,
        display: String,
        remote_host: String,
        service: String,
        leader: u32,
        supervisor: u32,
        class: String,
    ) -> Result<String, AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        authz::check(caller, Action::Register)?;
        let reg = validate::registration(&RawRegistration {
            user: &user,
            uid,
            tty: &tty,
            display: &display,
            remote_host: &remote_host,
            service: &service,
            leader,
            supervisor,
            class: &class,
        })?;
        let leader_start = procfs::start_time(reg.leader).ok_or_else(|| {
            AgentError::InvalidArgs(format!("leader pid {} is not a running process", reg.leader))
        })?;
        let supervisor_start = procfs::start_time(reg.supervisor).ok_or_else(|| {
            AgentError::InvalidArgs(format!(
                "supervisor pid {} is not a running process",
                reg.supervisor
            ))
        })?;
        let id = {
            let mut table = self.shared.lock();
            let id = table.insert(reg, now(), Some(leader_start), Some(supervisor_start))?;
            if !self.shared.save(&table) {
                let _ = table.remove(id.parse().expect("decimal id"));
                return Err(AgentError::Failed(
                    "could not write the state file: the session is not registered".into(),
                ));
            }
            id
        };
        tracing::info!(id, user, uid, leader, supervisor, "session registered");
        Self::session_new(&ctxt, &id, path(&id)).await?;
        Ok(id)
    }

    /// Forgets a session whose supervisor closed it (root only). Nothing is signalled to its
    /// processes and PAM is not called: the supervisor has done both.
    async fn unregister_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(signal_context)] ctxt: SignalContext<'_>,
        id: String,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        let n = validate::session_id(&id)?;
        authz::check(caller, Action::Unregister)?;
        {
            let mut table = self.shared.lock();
            table.remove(n)?;
            self.shared.save(&table);
        }
        tracing::info!(id, "session unregistered");
        Self::session_removed(&ctxt, &id, path(&id)).await?;
        Ok(())
    }

    /// The sessions the caller may see: all for root, their own for a user.
    async fn list_sessions(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<Vec<WireSession>, AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        let table = self.shared.lock();
        Ok(table
            .iter()
            .filter(|(_, e)| authz::may_list(caller, e.record.uid))
            .map(|(_, e)| WireSession::from(&e.record))
            .collect())
    }

    /// One session by id.
    async fn get_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        id: String,
    ) -> Result<WireSession, AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        let n = validate::session_id(&id)?;
        let table = self.shared.lock();
        let e = table.get(n)?;
        authz::check(
            caller,
            Action::Show {
                id: &id,
                owner: e.record.uid,
            },
        )?;
        Ok(WireSession::from(&e.record))
    }

    /// The session a process belongs to: its leader, its supervisor, or a process in the
    /// leader's process group or session.
    async fn get_session_by_pid(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        pid: u32,
    ) -> Result<WireSession, AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        let pid = validate::pid("pid", pid)?;
        let stat = procfs::stat(pid);
        let table = self.shared.lock();
        let (_, e) = table
            .by_process(pid, stat.map(|s| s.pgrp), stat.map(|s| s.session))
            .ok_or_else(|| AgentError::NoSuchSession(format!("no session has process {pid}")))?;
        authz::check(
            caller,
            Action::Show {
                id: &e.record.id,
                owner: e.record.uid,
            },
        )?;
        Ok(WireSession::from(&e.record))
    }

    /// Ends a session: its processes get SIGTERM (SIGKILL after the grace period), then its
    /// supervisor closes the PAM session in its own transaction and unregisters it (waited for
    /// up to 20 s by default); if the supervisor is gone, the agent closes the PAM session
    /// itself. Replies once the PAM session is closed.
    async fn close_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        id: String,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        let n = validate::session_id(&id)?;
        let owner = self.shared.lock().get(n)?.record.uid;
        authz::check(caller, Action::Close { id: &id, owner })?;
        close(&self.shared, conn, n).await
    }

    /// Ends every session of `uid`, as CloseSession does for each.
    async fn close_user(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        uid: u32,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        authz::check(caller, Action::CloseUser { uid })?;
        let ids = self.shared.lock().ids_of(uid);
        if ids.is_empty() {
            return Err(AgentError::NoSuchSession(format!("uid {uid} has no sessions")));
        }
        for n in ids {
            match close(&self.shared, conn, n).await {
                Ok(()) | Err(AgentError::NoSuchSession(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Marks a session locked and sends `Lock(id)`: its lock screen listens for it.
    async fn lock_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(signal_context)] ctxt: SignalContext<'_>,
        id: String,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        set_locked(&self.shared, caller, &ctxt, &id, true).await
    }

    /// Marks a session active again and sends `Unlock(id)` (root only: the lock screen's
    /// helper, after authenticating the user).
    async fn unlock_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(signal_context)] ctxt: SignalContext<'_>,
        id: String,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        set_locked(&self.shared, caller, &ctxt, &id, false).await
    }

    /// Locks every user session (greeters and lock screens are left alone). Root only.
    async fn lock_all(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(signal_context)] ctxt: SignalContext<'_>,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(conn, &hdr).await?;
        authz::check(caller, Action::LockAll)?;
        let locked: Vec<String> = {
            let mut table = self.shared.lock();
            let ids: Vec<u64> = table
                .iter()
                .filter(|(_, e)| {
                    e.record.class == SessionClass::User && e.record.state == SessionState::Active
                })
                .map(|(n, _)| n)
                .collect();
            let locked: Vec<String> = ids
                .into_iter()
                .filter(|&n| table.set_lock(n, true).unwrap_or(false))
                .map(|n| n.to_string())
                .collect();
            if !locked.is_empty() {
                self.shared.save(&table);
            }
            locked
        };
        for id in locked {
            Self::lock(&ctxt, &id).await?;
        }
        Ok(())
    }

    /// A session was registered.
    #[zbus(signal)]
    async fn session_new(ctxt: &SignalContext<'_>, id: &str, path: ObjectPath<'_>) -> zbus::Result<()>;

    /// A session was closed or unregistered.
    #[zbus(signal)]
    async fn session_removed(ctxt: &SignalContext<'_>, id: &str, path: ObjectPath<'_>) -> zbus::Result<()>;

    /// The session should lock its screen.
    #[zbus(signal)]
    async fn lock(ctxt: &SignalContext<'_>, id: &str) -> zbus::Result<()>;

    /// The session was unlocked.
    #[zbus(signal)]
    async fn unlock(ctxt: &SignalContext<'_>, id: &str) -> zbus::Result<()>;
}

/// LockSession and UnlockSession: checks the caller may, records the state, and sends `Lock` or
/// `Unlock` only when the state changed.
async fn set_locked(
    shared: &Shared,
    caller: u32,
    ctxt: &SignalContext<'_>,
    id: &str,
    locked: bool,
) -> Reply<()> {
    let n = validate::session_id(id)?;
    let changed = {
        let mut table = shared.lock();
        let owner = table.get(n)?.record.uid;
        let action = match locked {
            true => Action::Lock { id, owner },
            false => Action::Unlock { id, owner },
        };
        authz::check(caller, action)?;
        let changed = table.set_lock(n, locked)?;
        if changed {
            shared.save(&table);
        }
        changed
    };
    match (changed, locked) {
        (false, _) => {}
        (true, true) => Agent::lock(ctxt, id).await?,
        (true, false) => Agent::unlock(ctxt, id).await?,
    }
    Ok(())
}

/// Closes session `n` and returns once it is gone: marks it closing (so nobody closes it twice),
/// ends its processes, waits for a live supervisor to close the PAM session and unregister it,
/// or closes the PAM session itself if the supervisor is gone, forgets it and sends
/// `SessionRemoved`. A second caller for the same session waits for the first one to finish.
pub async fn close(shared: &Arc<Shared>, conn: &Connection, n: u64) -> Reply<()> {
    let mine: Option<Entry> = {
        let mut table = shared.lock();
        if table.mark_closing(n)? {
            shared.save(&table);
            Some(table.get(n)?.clone())
        } else {
            None
        }
    };
    let Some(entry) = mine else {
        return wait_removed(shared, n).await;
    };
    let id = entry.record.id.clone();
    let ended = terminate::end_session(&entry, shared.settings.grace).await;
    let ended = match ended {
        Ok(e) => e,
        Err(e) => {
            // Back to active: the next ask, or the supervisor watch, tries again.
            let mut table = shared.lock();
            table.unmark_closing(n);
            shared.save(&table);
            drop(table);
            return Err(AgentError::Failed(format!("session {id}: {e}")));
        }
    };
    tracing::info!(id, ?ended, "session processes ended");
    match wait_for_supervisor(shared, &entry).await {
        Supervisor::Unregistered => {
            // Its supervisor closed the PAM session in its own transaction and said so (and
            // `UnregisterSession` announced the removal).
            tracing::info!(id, "PAM session closed by its supervisor");
            return Ok(());
        }
        Supervisor::Gone => {}
        Supervisor::Stuck(waited) => {
            // Not known to be closed: active again, so its unregistering, a later close or the
            // supervisor watch (once it dies) finishes it.
            let mut table = shared.lock();
            table.unmark_closing(n);
            shared.save(&table);
            drop(table);
            return Err(AgentError::Failed(format!(
                "session {id}: its processes ended, but its supervisor (pid {}) did not close the PAM \
                 session within {waited:?}",
                entry.record.supervisor
            )));
        }
    }
    if !procfs::alive(entry.record.supervisor, entry.supervisor_start) {
        // Nobody holds the PAM transaction any more: close it here, in a fresh one.
        let record = entry.record.clone();
        let pam = shared.settings.pam.clone();
        let outcome = blocking::unblock(move || pam_close::close(&record, &pam)).await;
        match outcome {
            Ok(()) => tracing::info!(id, user = entry.record.user, "PAM session closed by the agent"),
            // The session is over either way; the module's failure is logged, not retried forever.
            Err(e) => tracing::error!(error = %e, "closing the PAM session failed"),
        }
    }
    // The supervisor may have unregistered it meanwhile (and announced it): only one signal.
    let removed = {
        let mut table = shared.lock();
        let removed = table.remove(n).is_ok();
        if removed {
            shared.save(&table);
        }
        removed
    };
    if removed {
        let ctxt = SignalContext::new(conn, OBJECT_PATH)?;
        Agent::session_removed(&ctxt, &id, path(&id)).await?;
    }
    Ok(())
}

/// How long a live supervisor may take by default, once the session's processes are gone, to
/// close the PAM session and unregister it (modules may be slow: network home directories,
/// Kerberos).
pub const SUPERVISOR_CLOSE_WAIT: Duration = Duration::from_secs(20);

/// What the supervisor of a session being closed did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Supervisor {
    /// It unregistered the session: its PAM session is closed.
    Unregistered,
    /// It is gone (or was already): closing the PAM session is the agent's job.
    Gone,
    /// It lives but did not unregister within the wait.
    Stuck(Duration),
}

/// Once the session's processes are gone, its supervisor (the core's, which sees its leader
/// exit) closes the PAM session and unregisters it; waits for that, or for it to die, without
/// blocking the bus (an async timer loop).
async fn wait_for_supervisor(shared: &Arc<Shared>, entry: &Entry) -> Supervisor {
    let n: u64 = entry.record.id.parse().expect("decimal id");
    let start = std::time::Instant::now();
    loop {
        if shared.lock().get(n).is_err() {
            return Supervisor::Unregistered;
        }
        if !procfs::alive(entry.record.supervisor, entry.supervisor_start) {
            // It may have unregistered just before it went.
            if shared.lock().get(n).is_err() {
                return Supervisor::Unregistered;
            }
            return Supervisor::Gone;
        }
        let limit = shared.settings.supervisor_wait;
        if start.elapsed() >= limit {
            return Supervisor::Stuck(limit);
        }
        async_io::Timer::after(Duration::from_millis(10)).await;
    }
}

/// Waits until another close of session `n` finishes; fails if that close failed.
async fn wait_removed(shared: &Arc<Shared>, n: u64) -> Reply<()> {
    let limit = shared.settings.grace + shared.settings.supervisor_wait + Duration::from_secs(30);
    let start = std::time::Instant::now();
    loop {
        let closing = match shared.lock().get(n) {
            Err(_) => return Ok(()),
            Ok(e) => e.record.state == SessionState::Closing,
        };
        if !closing {
            return Err(AgentError::Failed(format!(
                "session {n}: a concurrent close failed; the session is still open"
            )));
        }
        if start.elapsed() > limit {
            return Err(AgentError::Failed(format!(
                "session {n} is still closing after {limit:?}"
            )));
        }
        async_io::Timer::after(Duration::from_millis(10)).await;
    }
}

/// Closes every session whose supervisor is gone (crashed, killed, or gone while the agent was
/// not running): the supervisor watch runs this at start and then periodically.
pub async fn close_orphans(shared: &Arc<Shared>, conn: &Connection) {
    let orphans: Vec<u64> = shared
        .lock()
        .iter()
        .filter(|(_, e)| e.record.state != SessionState::Closing)
        .filter(|(_, e)| !procfs::alive(e.record.supervisor, e.supervisor_start))
        .map(|(n, _)| n)
        .collect();
    for n in orphans {
        tracing::warn!(id = n, "supervisor gone: the agent closes the session");
        if let Err(e) = close(shared, conn, n).await {
            tracing::error!(id = n, error = %e, "could not close an orphaned session");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_the_documented_ones() {
        assert_eq!(
            AgentError::AccessDenied("x".into()).name().as_str(),
            "org.freedesktop.DBus.Error.AccessDenied"
        );
        assert_eq!(
            AgentError::from(Invalid::Empty { what: "user" }).name().as_str(),
            "org.freedesktop.DBus.Error.InvalidArgs"
        );
        let e = AgentError::from(TableError::NoSuchSession("9".into()));
        assert_eq!(e.name().as_str(), ERROR_NO_SUCH_SESSION);
        assert_eq!(e.description(), Some("no session with id 9"));
    }
}
