//! The D-Bus interface `org.vestibule.SessionAgent1`: each method finds out who is calling (the
//! bus's `GetConnectionUnixUser` on the message's sender — never anything the caller sends),
//! checks the arguments ([`crate::validate`]) and the caller's right ([`crate::authz`]), changes
//! the [`Table`], journals the change ([`crate::persist`]) and sends the signal that goes with it.
//!
//! What keeps it fast with 10,000 sessions:
//! - a change is one fsync'd journal line, not a rewrite of the whole table;
//! - `ListSessions` for root is answered from a cached, already marshalled reply body
//!   ([`crate::wire::encode_list`]), rebuilt only after the table changed ([`Manager`] intercepts
//!   the call to send those bytes as they are);
//! - the caller's uid is asked of the bus once per connection (unique bus name) and remembered
//!   until the bus announces that name gone (`NameOwnerChanged`). Unique names are never reused
//!   by a bus, so a remembered uid cannot be someone else's.
//!
//! Errors: `org.freedesktop.DBus.Error.AccessDenied` (with who, what and why),
//! `org.freedesktop.DBus.Error.InvalidArgs` (what was wrong with which argument; wrong types are
//! refused by zbus itself with the same name), `org.vestibule.SessionAgent1.Error.NoSuchSession`,
//! and `org.freedesktop.DBus.Error.Failed` when the agent could not do what was allowed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vestibule_core::record::{SessionClass, SessionRecord, SessionState};
use vestibule_core::ConfigDir;
use zbus::message::{Flags, Header, Message};
use zbus::names::{ErrorName, InterfaceName, MemberName};
use zbus::object_server::{DispatchResult, Interface, SignalContext};
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, DBusError, ObjectServer};

use crate::authz::{self, Action};
use crate::exits::Exits;
use crate::locker::{self, Lockers};
use crate::objects;
use crate::persist::{Change, Store};
use crate::table::{Entry, Process, Table, TableError};
use crate::terminate;
use crate::validate::{self, Invalid, RawRegistration};
use crate::wire::{self, WireSession};
use crate::{
    pam_close, procfs, session_path, ERROR_NOT_COVERED, ERROR_NO_LOCK_SCREEN, ERROR_NO_SUCH_SESSION,
    OBJECT_PATH,
};

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
    /// What starts a new lock screen when one dies while its session is locked
    /// (`--locker-command`; `{id}` is the session id). Empty: none is started.
    pub locker_command: Vec<String>,
    /// The bus the agent serves on when it is not the system bus (`--bus-address`), passed on to
    /// the lockers it starts.
    pub bus_address: Option<String>,
    /// How long `LockSession` waits for the lock screen to report the screen covered
    /// (`--lock-timeout-ms`, default [`LOCK_TIMEOUT`]).
    pub lock_timeout: Duration,
}

/// How long a lock screen may take from the `Lock` signal to reporting the screen covered and
/// its input held, before `LockSession` fails with NotCovered.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The agent's state, shared by the bus handlers and the supervisor watch.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    /// Caller uids by unique bus name (see the module docs).
    callers: Mutex<HashMap<String, u32>>,
    /// The sessions' lock screens.
    pub lockers: Lockers,
    /// The supervisors' exits, as they happen.
    pub exits: Exits,
    settings: Settings,
}

/// The table, where its changes go, and the marshalled `ListSessions` reply for root while the
/// table has not changed since.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) table: Table,
    store: Store,
    list_all: Option<Arc<Vec<u8>>>,
}

/// More distinct callers than this at once (a bus with thousands of clients calling the agent)
/// and the uid cache is emptied rather than grown: a bound, not an expected size.
const MAX_CALLERS: usize = 4096;

impl State {
    /// Journals a change already made to the table; a failure is logged and reported (the change
    /// stands, in memory). Drops the cached list either way.
    pub(crate) fn record(&mut self, change: Change) -> bool {
        self.list_all = None;
        match self.store.append(&change, &self.table) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "could not write the session journal");
                false
            }
        }
    }

    /// Journals session `n`'s current state.
    fn record_state(&mut self, n: u64) -> bool {
        match self.table.get(n) {
            Ok(e) => {
                let state = e.record.state;
                self.record(Change::State { id: n, state })
            }
            Err(_) => false,
        }
    }
}

impl Shared {
    /// The agent's state, from a table reloaded by [`Store::open`].
    pub fn new(table: Table, store: Store, settings: Settings, exits: Exits) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                table,
                store,
                list_all: None,
            }),
            callers: Mutex::new(HashMap::new()),
            lockers: Lockers::new(settings.locker_command.clone(), settings.bus_address.clone()),
            exits,
            settings,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked left the table as it was between two whole operations.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn callers(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        self.callers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bus said this unique name is gone: its uid is not needed any more.
    pub fn forget_caller(&self, unique_name: &str) {
        self.callers().remove(unique_name);
    }

    /// The number of sessions, for logs and tests.
    pub fn len(&self) -> usize {
        self.lock().table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().table.is_empty()
    }

    /// Every session's supervisor (pid, start time), for watching them at start.
    pub fn supervisors(&self) -> Vec<(u64, u32, Option<u64>)> {
        self.lock()
            .table
            .iter()
            .map(|(n, e)| (n, e.record.supervisor, e.supervisor_start))
            .collect()
    }

    /// The ids of every session, for exporting their objects at start.
    pub fn ids(&self) -> Vec<u64> {
        self.lock().table.iter().map(|(n, _)| n).collect()
    }

    /// The marshalled `ListSessions` reply for `caller`: root's is cached until the table changes;
    /// a user's (their own sessions) is built each time, from a scan of the table.
    fn list_body(&self, caller: u32) -> Arc<Vec<u8>> {
        let mut state = self.lock();
        if caller != 0 {
            let own = state
                .table
                .iter()
                .filter(|(_, e)| authz::may_list(caller, e.record.uid))
                .map(|(_, e)| &e.record);
            return Arc::new(wire::encode_list(own, wire::Order::NATIVE));
        }
        if let Some(body) = &state.list_all {
            return body.clone();
        }
        let body = Arc::new(wire::encode_list(
            state.table.iter().map(|(_, e)| &e.record),
            wire::Order::NATIVE,
        ));
        state.list_all = Some(body.clone());
        body
    }
}

/// The errors a caller can get back.
#[derive(Debug)]
pub enum AgentError {
    AccessDenied(String),
    InvalidArgs(String),
    NoSuchSession(String),
    NoLockScreen(String),
    NotCovered(String),
    Failed(String),
    /// The standard errors of `org.freedesktop.DBus.Properties` (unknown or read-only property).
    Fdo(zbus::fdo::Error),
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
            AgentError::NoLockScreen(_) => ERROR_NO_LOCK_SCREEN,
            AgentError::NotCovered(_) => ERROR_NOT_COVERED,
            AgentError::Failed(_) | AgentError::ZBus(_) => "org.freedesktop.DBus.Error.Failed",
            AgentError::Fdo(e) => return e.name(),
        })
    }

    fn description(&self) -> Option<&str> {
        match self {
            AgentError::AccessDenied(s)
            | AgentError::InvalidArgs(s)
            | AgentError::NoSuchSession(s)
            | AgentError::NoLockScreen(s)
            | AgentError::NotCovered(s)
            | AgentError::Failed(s) => Some(s),
            AgentError::Fdo(e) => e.description(),
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

impl From<zbus::fdo::Error> for AgentError {
    fn from(e: zbus::fdo::Error) -> AgentError {
        AgentError::Fdo(e)
    }
}

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

pub(crate) type Reply<T> = Result<T, AgentError>;

/// The interface at `/org/vestibule/SessionAgent1`, as the `#[interface]` macro builds it;
/// served wrapped in [`Manager`].
pub struct Agent {
    shared: Arc<Shared>,
}

impl Agent {
    pub fn new(shared: Arc<Shared>) -> Agent {
        Agent { shared }
    }
}

/// The caller's uid, as the bus daemon knows it from the connection's credentials; asked once per
/// unique name (see the module docs).
pub(crate) async fn caller_uid(shared: &Shared, conn: &Connection, hdr: &Header<'_>) -> Reply<u32> {
    let sender = hdr.sender().ok_or_else(|| {
        AgentError::AccessDenied("the message has no sender: cannot tell who is calling".into())
    })?;
    if let Some(uid) = shared.callers().get(sender.as_str()) {
        return Ok(*uid);
    }
    let reply = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetConnectionUnixUser",
            &(sender.as_str(),),
        )
        .await?;
    let uid = reply.body().deserialize::<u32>()?;
    let mut callers = shared.callers();
    if callers.len() >= MAX_CALLERS {
        callers.clear();
    }
    callers.insert(sender.to_string(), uid);
    Ok(uid)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Session `n`'s object path. From the number, so it cannot fail: `/`, letters and digits are
/// all a path needs, and no caller's text goes into it.
pub(crate) fn path(n: u64) -> ObjectPath<'static> {
    ObjectPath::from_string_unchecked(session_path(n))
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
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
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
        let (id, n) = {
            let mut state = self.shared.lock();
            let id = state
                .table
                .insert(reg, now(), Some(leader_start), Some(supervisor_start))?;
            let n: u64 = id.parse().expect("decimal id");
            let entry = state.table.get(n)?.clone();
            if !state.record(Change::Add { id: n, entry }) {
                let _ = state.table.remove(n);
                return Err(AgentError::Failed(
                    "could not write the session journal: the session is not registered".into(),
                ));
            }
            (id, n)
        };
        // Its object exists before anyone hears of the session.
        objects::export(&self.shared, conn, n).await;
        self.shared.exits.watch(n, supervisor, Some(supervisor_start));
        tracing::info!(id, user, uid, leader, supervisor, "session registered");
        Self::session_new(&ctxt, &id, path(n)).await?;
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
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        let n = validate::session_id(&id)?;
        authz::check(caller, Action::Unregister)?;
        {
            let mut state = self.shared.lock();
            state.table.remove(n)?;
            state.record(Change::Remove { id: n });
        }
        objects::unexport(conn, n).await;
        self.shared.lockers.forget(n);
        self.shared.exits.forget(n);
        tracing::info!(id, "session unregistered");
        Self::session_removed(&ctxt, &id, path(n)).await?;
        Ok(())
    }

    /// The sessions the caller may see: all for root, their own for a user.
    // Served by `Manager` from marshalled bytes; this body only runs for calls that carry
    // arguments, which zbus refuses before it is reached.
    async fn list_sessions(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<Vec<WireSession>, AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        let state = self.shared.lock();
        Ok(state
            .table
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
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        by_id(&self.shared, caller, &id)
    }

    /// The session a process belongs to: its leader, its supervisor, or a process in the
    /// leader's process group or session.
    async fn get_session_by_pid(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        pid: u32,
    ) -> Result<WireSession, AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        by_pid(&self.shared, caller, pid)
    }

    /// The object path of a session (`/org/vestibule/SessionAgent1/session/<id>`, whose
    /// `org.vestibule.SessionAgent1.Session` interface has its record as properties), for the
    /// same callers as GetSession.
    async fn get_session_path(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        id: String,
    ) -> Result<OwnedObjectPath, AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        let n = validate::session_id(&id)?;
        by_id(&self.shared, caller, &id)?;
        Ok(path(n).into())
    }

    /// The object path of the session a process belongs to, as GetSessionByPid finds it.
    async fn get_session_path_by_pid(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        pid: u32,
    ) -> Result<OwnedObjectPath, AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        let s = by_pid(&self.shared, caller, pid)?;
        Ok(path(validate::session_id(&s.id)?).into())
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
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        let n = validate::session_id(&id)?;
        let owner = self.shared.lock().table.get(n)?.record.uid;
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
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        authz::check(caller, Action::CloseUser { uid })?;
        let ids = self.shared.lock().table.ids_of(uid);
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

    /// Sends `Lock(id)` to the session's lock screen and marks the session locked once the lock
    /// screen reports the screen covered and its input held (`ReportLocked`); replies then.
    /// Fails with NoLockScreen when no lock screen is registered, NotCovered when none reports
    /// within `--lock-timeout-ms`; the session stays active then.
    async fn lock_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        id: String,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        set_locked(&self.shared, caller, conn, &id, true).await
    }

    /// Marks a session active again and sends `Unlock(id)`: root, or the session's registered
    /// lock screen after authenticating its user (see [`crate::locker`]).
    async fn unlock_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        id: String,
    ) -> Result<(), AgentError> {
        let mut caller = caller_uid(&self.shared, conn, &hdr).await?;
        let n = validate::session_id(&id)?;
        if hdr
            .sender()
            .is_some_and(|s| self.shared.lockers.is_locker(s.as_str(), n))
        {
            caller = 0;
        }
        set_locked(&self.shared, caller, conn, &id, false).await
    }

    /// Makes the calling connection the session's lock screen (owner or root): the agent starts
    /// a new one if this connection goes away while the session is locked, and takes its
    /// `UnlockSession`. Refused while the session is locked (but to the lock screen the agent
    /// started) and while another lock screen holds it.
    async fn set_locker(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        id: String,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        let n = validate::session_id(&id)?;
        let (owner, locked, recorded) = {
            let state = self.shared.lock();
            let e = state.table.get(n)?;
            (e.record.uid, e.record.state == SessionState::Locked, e.locker)
        };
        authz::check(caller, Action::Lock { id: &id, owner })?;
        let sender = hdr.sender().ok_or_else(|| {
            AgentError::AccessDenied("the message has no sender: cannot tell who is calling".into())
        })?;
        let pid = conn
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "GetConnectionUnixProcessID",
                &(sender.as_str(),),
            )
            .await
            .ok()
            .and_then(|r| r.body().deserialize::<u32>().ok());
        let process = pid.and_then(|pid| procfs::start_time(pid).map(|start| Process { pid, start }));
        let is_recorded = process.is_some() && process == recorded;
        self.shared
            .lockers
            .register(sender.as_str(), n, locked, pid, caller == 0, is_recorded)
            .map_err(|e| AgentError::AccessDenied(e.to_string()))?;
        {
            let mut state = self.shared.lock();
            if state.table.set_locker(n, process) {
                state.record(Change::Locker {
                    id: n,
                    locker: process,
                });
            }
        }
        // A locker running as the session's user shows how to reach its display; root's
        // environment (its X cookie file, say) would be of no use to the user's next locker.
        if let Some(pid) = pid.filter(|&p| procfs::uid(p) == Some(owner)) {
            let env = procfs::environ(pid, &locker::DISPLAY_VARS);
            self.shared.lockers.remember_display(n, env);
        }
        tracing::info!(session = n, locker = %sender, "lock screen registered");
        Ok(())
    }

    /// The session's lock screen says the screen is covered and its input held: a `LockSession`
    /// waiting for that replies now and the session reads `locked`. Only the session's
    /// registered lock screen may say so.
    async fn report_locked(&self, #[zbus(header)] hdr: Header<'_>, id: String) -> Result<(), AgentError> {
        let n = validate::session_id(&id)?;
        self.shared.lock().table.get(n)?;
        let sender = hdr.sender().map(|s| s.to_string()).unwrap_or_default();
        if !self.shared.lockers.report_covered(&sender, n) {
            return Err(AgentError::AccessDenied(format!(
                "only session {id}'s lock screen may report it covered"
            )));
        }
        tracing::info!(id, "the lock screen reports the screen covered");
        Ok(())
    }

    /// Locks every user session that has a lock screen, as LockSession does for each (sessions
    /// without one are left active and logged). Root only.
    async fn lock_all(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        authz::check(caller, Action::LockAll)?;
        let ids: Vec<u64> = {
            let state = self.shared.lock();
            state
                .table
                .iter()
                .filter(|(_, e)| {
                    e.record.class == SessionClass::User && e.record.state == SessionState::Active
                })
                .map(|(n, _)| n)
                .collect()
        };
        for n in ids {
            let id = n.to_string();
            if let Err(e) = set_locked(&self.shared, caller, conn, &id, true).await {
                tracing::warn!(id, error = %e.description().unwrap_or_default(), "LockAll left a session unlocked");
            }
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

/// GetSession and GetSessionPath: session `id`, if `caller` may see it.
fn by_id(shared: &Shared, caller: u32, id: &str) -> Reply<WireSession> {
    let n = validate::session_id(id)?;
    let state = shared.lock();
    shown(caller, &state.table.get(n)?.record)
}

/// GetSessionByPid and GetSessionPathByPid: the session of `pid`, if `caller` may see it.
fn by_pid(shared: &Shared, caller: u32, pid: u32) -> Reply<WireSession> {
    let pid = validate::pid("pid", pid)?;
    let stat = procfs::stat(pid);
    let state = shared.lock();
    let (_, e) = state
        .table
        .by_process(pid, stat.map(|s| s.pgrp), stat.map(|s| s.session))
        .ok_or_else(|| AgentError::NoSuchSession(format!("no session has process {pid}")))?;
    shown(caller, &e.record)
}

/// The record as the bus sends it, if `caller` may see it.
fn shown(caller: u32, record: &SessionRecord) -> Reply<WireSession> {
    authz::check(
        caller,
        Action::Show {
            id: &record.id,
            owner: record.uid,
        },
    )?;
    Ok(WireSession::from(record))
}

/// LockSession and UnlockSession (on the manager or a session object): checks the caller may,
/// records the state, and sends `Lock` or `Unlock` and the session object's `PropertiesChanged`
/// only when the state changed.
pub(crate) async fn set_locked(
    shared: &Shared,
    caller: u32,
    conn: &Connection,
    id: &str,
    locked: bool,
) -> Reply<()> {
    let n = validate::session_id(id)?;
    if locked {
        let (owner, state_now) = {
            let state = shared.lock();
            let e = state.table.get(n)?;
            (e.record.uid, e.record.state)
        };
        authz::check(caller, Action::Lock { id, owner })?;
        if state_now == SessionState::Locked {
            return Ok(());
        }
        cover(shared, conn, n, id).await?;
    }
    let changed = {
        let mut state = shared.lock();
        let owner = state.table.get(n)?.record.uid;
        let action = match locked {
            true => Action::Lock { id, owner },
            false => Action::Unlock { id, owner },
        };
        authz::check(caller, action)?;
        let changed = state.table.set_lock(n, locked)?;
        if changed {
            state.record_state(n);
        }
        changed
    };
    if !changed {
        return Ok(());
    }
    if !locked {
        let ctxt = SignalContext::new(conn, OBJECT_PATH)?;
        Agent::unlock(&ctxt, id).await?;
    }
    let new = if locked {
        SessionState::Locked
    } else {
        SessionState::Active
    };
    objects::state_changed(conn, n, new).await;
    Ok(())
}

/// "Locked" means covered: sends `Lock(id)` to session `n`'s lock screen and returns once it has
/// reported the screen covered and its input held (`ReportLocked`). No lock screen registered:
/// NoLockScreen at once; no report within [`Settings::lock_timeout`]: NotCovered. Either way the
/// session is not marked locked.
async fn cover(shared: &Shared, conn: &Connection, n: u64, id: &str) -> Reply<()> {
    if !shared.lockers.has_locker(n) {
        return Err(AgentError::NoLockScreen(format!(
            "session {id} has no lock screen to cover it (none registered with SetLocker)"
        )));
    }
    shared.lockers.expect_cover(n);
    let ctxt = SignalContext::new(conn, OBJECT_PATH)?;
    Agent::lock(&ctxt, id).await?;
    let limit = shared.settings.lock_timeout;
    let start = std::time::Instant::now();
    while !shared.lockers.is_covered(n) {
        if start.elapsed() >= limit {
            tracing::warn!(id, ?limit, "the lock screen did not report the screen covered");
            return Err(AgentError::NotCovered(format!(
                "session {id}: the lock screen did not report the screen covered and its input held within {} ms",
                limit.as_millis()
            )));
        }
        async_io::Timer::after(std::time::Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Closes session `n` and returns once it is gone: marks it closing (so nobody closes it twice),
/// ends its processes, waits for a live supervisor to close the PAM session and unregister it,
/// or closes the PAM session itself if the supervisor is gone, forgets it and sends
/// `SessionRemoved`. A second caller for the same session waits for the first one to finish.
pub async fn close(shared: &Arc<Shared>, conn: &Connection, n: u64) -> Reply<()> {
    let mine: Option<Entry> = {
        let mut state = shared.lock();
        if state.table.mark_closing(n)? {
            state.record_state(n);
            Some(state.table.get(n)?.clone())
        } else {
            None
        }
    };
    let Some(entry) = mine else {
        return wait_removed(shared, n).await;
    };
    objects::state_changed(conn, n, SessionState::Closing).await;
    let id = entry.record.id.clone();
    let ended = terminate::end_session(&entry, shared.settings.grace).await;
    let ended = match ended {
        Ok(e) => e,
        Err(e) => {
            // Back to active: the next ask, or the supervisor watch, tries again.
            reopen(shared, conn, n).await;
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
            reopen(shared, conn, n).await;
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
        let mut state = shared.lock();
        let removed = state.table.remove(n).is_ok();
        if removed {
            state.record(Change::Remove { id: n });
        }
        removed
    };
    if removed {
        objects::unexport(conn, n).await;
        shared.lockers.forget(n);
        shared.exits.forget(n);
        let ctxt = SignalContext::new(conn, OBJECT_PATH)?;
        Agent::session_removed(&ctxt, &id, path(n)).await?;
    }
    Ok(())
}

/// A close that did not finish: the session is active again (journalled and announced).
async fn reopen(shared: &Shared, conn: &Connection, n: u64) {
    {
        let mut state = shared.lock();
        state.table.unmark_closing(n);
        state.record_state(n);
    }
    objects::state_changed(conn, n, SessionState::Active).await;
}

/// How long a live supervisor may take by default, once the session's processes are gone, to
/// close the PAM session and unregister it (modules may be slow: network home directories,
/// Kerberos).
pub const SUPERVISOR_CLOSE_WAIT: Duration = Duration::from_secs(20);

/// How often a close looks for its session's supervisor having unregistered it: short, because
/// every poll period is latency added to CloseSession's reply, and only sessions being closed poll.
const POLL: Duration = Duration::from_millis(2);

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
        if shared.lock().table.get(n).is_err() {
            return Supervisor::Unregistered;
        }
        if !procfs::alive(entry.record.supervisor, entry.supervisor_start) {
            // It may have unregistered just before it went.
            if shared.lock().table.get(n).is_err() {
                return Supervisor::Unregistered;
            }
            return Supervisor::Gone;
        }
        let limit = shared.settings.supervisor_wait;
        if start.elapsed() >= limit {
            return Supervisor::Stuck(limit);
        }
        async_io::Timer::after(POLL).await;
    }
}

/// Waits until another close of session `n` finishes; fails if that close failed.
async fn wait_removed(shared: &Arc<Shared>, n: u64) -> Reply<()> {
    let limit = shared.settings.grace + shared.settings.supervisor_wait + Duration::from_secs(30);
    let start = std::time::Instant::now();
    loop {
        let closing = match shared.lock().table.get(n) {
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
/// not running) and is not watched by pidfd ([`Exits`]): the agent runs this at start, once the
/// watches are set up, and then every `--watch-interval-ms`.
pub async fn close_orphans(shared: &Arc<Shared>, conn: &Connection) {
    // The pids are read under the lock, /proc outside it: the scan never holds up a call.
    let mut unwatched: Vec<(u64, (u32, Option<u64>))> = shared
        .lock()
        .table
        .iter()
        .filter(|(_, e)| e.record.state != SessionState::Closing)
        .map(|(n, e)| (n, (e.record.supervisor, e.supervisor_start)))
        .collect();
    shared.exits.retain_unwatched(&mut unwatched);
    for (n, (pid, start)) in unwatched {
        if !procfs::alive(pid, start) {
            close_orphan(shared, conn, n).await;
        }
    }
}

/// Closes session `n` if its supervisor is gone (and nobody is closing it already).
pub async fn close_orphan(shared: &Arc<Shared>, conn: &Connection, n: u64) {
    let orphaned = shared.lock().table.get(n).is_ok_and(|e| {
        e.record.state != SessionState::Closing && !procfs::alive(e.record.supervisor, e.supervisor_start)
    });
    if !orphaned {
        return;
    }
    tracing::warn!(id = n, "supervisor gone: the agent closes the session");
    if let Err(e) = close(shared, conn, n).await {
        tracing::error!(id = n, error = %e, "could not close an orphaned session");
    }
}

/// What is served at `/org/vestibule/SessionAgent1`: the [`Agent`] interface as the macro builds
/// it, except that a `ListSessions` call without arguments is answered here, with the marshalled
/// body from [`Shared::list_body`] sent as it is. The macro-generated path would copy the table
/// into `WireSession`s and run zvariant's encoder over them on every call (about 20 ms at 10,000
/// sessions); this costs a copy of cached bytes.
///
/// zbus documents implementing [`Interface`] by hand as unstable API: every method but `call`
/// forwards to the generated implementation, so only the interception is ours, and the e2e tests
/// exercise both paths (ListSessions; every other method; a ListSessions with arguments).
pub struct Manager {
    agent: Agent,
}

impl Manager {
    pub fn new(shared: Arc<Shared>) -> Manager {
        Manager {
            agent: Agent::new(shared),
        }
    }
}

type Boxed<'t, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 't>>;

impl Interface for Manager {
    fn name() -> InterfaceName<'static> {
        <Agent as Interface>::name()
    }

    fn spawn_tasks_for_methods(&self) -> bool {
        self.agent.spawn_tasks_for_methods()
    }

    fn get<'a, 'b, 't>(&'a self, property_name: &'b str) -> Boxed<'t, Option<zbus::fdo::Result<OwnedValue>>>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        self.agent.get(property_name)
    }

    fn get_all<'a, 't>(&'a self) -> Boxed<'t, zbus::fdo::Result<HashMap<String, OwnedValue>>>
    where
        'a: 't,
        Self: 't,
    {
        self.agent.get_all()
    }

    fn set<'call>(
        &'call self,
        property_name: &'call str,
        value: &'call Value<'_>,
        ctxt: &'call SignalContext<'_>,
    ) -> DispatchResult<'call> {
        self.agent.set(property_name, value, ctxt)
    }

    fn set_mut<'a, 'b, 'c, 'd, 'e, 'f, 't>(
        &'a mut self,
        property_name: &'b str,
        value: &'c Value<'d>,
        ctxt: &'e SignalContext<'f>,
    ) -> Boxed<'t, Option<zbus::fdo::Result<()>>>
    where
        'a: 't,
        'b: 't,
        'c: 't,
        'd: 't,
        'e: 't,
        'f: 't,
        Self: 't,
    {
        self.agent.set_mut(property_name, value, ctxt)
    }

    fn call<'call>(
        &'call self,
        server: &'call ObjectServer,
        connection: &'call Connection,
        msg: &'call Message,
        name: MemberName<'call>,
    ) -> DispatchResult<'call> {
        let no_args = msg.body().signature().is_none_or(|s| s.is_empty());
        if name.as_str() == "ListSessions" && no_args {
            return DispatchResult::Async(Box::pin(list_raw(&self.agent.shared, connection, msg)));
        }
        self.agent.call(server, connection, msg, name)
    }

    fn call_mut<'call>(
        &'call mut self,
        server: &'call ObjectServer,
        connection: &'call Connection,
        msg: &'call Message,
        name: MemberName<'call>,
    ) -> DispatchResult<'call> {
        self.agent.call_mut(server, connection, msg, name)
    }

    fn introspect_to_writer(&self, writer: &mut dyn std::fmt::Write, level: usize) {
        self.agent.introspect_to_writer(writer, level)
    }
}

/// ListSessions from cached bytes (see [`Manager`]).
async fn list_raw(shared: &Shared, conn: &Connection, msg: &Message) -> zbus::Result<()> {
    let hdr = msg.header();
    let caller = match caller_uid(shared, conn, &hdr).await {
        Ok(uid) => uid,
        Err(e) => return conn.reply_dbus_error(&hdr, e).await.map(|_| ()),
    };
    if hdr.primary().flags().contains(Flags::NoReplyExpected) {
        return Ok(());
    }
    let body = shared.list_body(caller);
    // SAFETY: `encode_list` writes a well-formed `a(ssussssuusst)` body in the byte order zbus
    // builds messages in (its native one), which the unit tests check against zvariant.
    let reply =
        unsafe { Message::method_reply(msg)?.build_raw_body(&body, wire::LIST_SIGNATURE, Vec::new())? };
    conn.send(&reply).await
}

/// At start: every locked session whose lock screen (as the state file names it) is not running
/// any more gets a new one, so a lock screen that died while the agent was down is replaced once
/// it is back. A live one is left alone: it registers again when it sees the agent return.
pub fn restore_lockers(shared: &Shared) {
    let orphaned: Vec<(u64, SessionRecord)> = {
        let state = shared.lock();
        state
            .table
            .iter()
            .filter(|(_, e)| e.record.state == SessionState::Locked)
            .filter(|(_, e)| !e.locker.is_some_and(|p| procfs::alive(p.pid, Some(p.start))))
            .map(|(n, e)| (n, e.record.clone()))
            .collect()
    };
    for (n, record) in orphaned {
        match shared.lockers.spawn(n, &record) {
            Ok(pid) => tracing::warn!(
                session = n,
                pid,
                "a locked session had no live lock screen at start: started a new one"
            ),
            Err(e) => {
                tracing::error!(session = n, error = %e, "a locked session has no lock screen and no new one could be started")
            }
        }
    }
}

/// A lock screen's bus name vanished: if its session is still locked, start a new one at once.
pub fn locker_gone(shared: &Shared, name: &str) {
    let Some(n) = shared.lockers.vanished(name) else {
        return;
    };
    let record = {
        let state = shared.lock();
        match state.table.get(n) {
            Ok(e) if e.record.state == SessionState::Locked => e.record.clone(),
            _ => return,
        }
    };
    match shared.lockers.spawn(n, &record) {
        Ok(pid) => tracing::warn!(
            session = n,
            pid,
            "the lock screen died while locked: started a new one"
        ),
        Err(e) => {
            tracing::error!(session = n, error = %e, "the lock screen died while locked and no new one could be started")
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
