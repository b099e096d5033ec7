//! The agent's state, shared by every bus interface and the supervisor watch: the session table
//! and its journal, the settings it was started with, the callers' uids, the lock screens and the
//! supervisors' exits.
//!
//! The caller's uid is asked of the bus once per connection (unique bus name) and remembered
//! until the bus announces that name gone (`NameOwnerChanged`). Unique names are never reused by
//! a bus, so a remembered uid cannot be someone else's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vestibule_core::ConfigDir;
use zbus::message::Header;
use zbus::Connection;

use crate::authz;
use crate::error::{AgentError, Reply};
use crate::exits::Exits;
use crate::locker::Lockers;
use crate::login1::inhibit::Inhibitors;
use crate::login1::props::Hints;
use crate::persist::{Change, Store};
use crate::table::Table;
use vestibule_core::record::SessionRecord;

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

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The agent's state, shared by the bus handlers and the supervisor watch.
pub struct Shared {
    state: Mutex<State>,
    /// Caller uids by unique bus name (see the module docs).
    callers: Mutex<HashMap<String, u32>>,
    /// The sessions' lock screens.
    pub lockers: Lockers,
    /// The supervisors' exits, as they happen.
    pub exits: Exits,
    pub(crate) settings: Settings,
    /// The connection that owns `org.freedesktop.login1`, once the agent serves it: logind's
    /// signals go out on it ([`crate::signals`]).
    pub login1: OnceLock<Connection>,
    /// The inhibitor locks taken through login1.
    pub(crate) inhibitors: Mutex<Inhibitors>,
}

/// The table, where its changes go, and login1's hints.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) table: Table,
    pub(crate) store: Store,
    /// login1's per-session hints (LockedHint, IdleHint), for sessions that have set one.
    pub(crate) hints: HashMap<u64, Hints>,
    /// Root's marshalled `ListSessions` replies ([`List`]), while the table has not changed.
    lists: [Option<Arc<Vec<u8>>>; 2],
}

/// The two `ListSessions` replies: the agent's own (`a(ssussssuusst)`) and login1's (`a(susso)`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum List {
    Agent = 0,
    Login1 = 1,
}

/// More distinct callers than this at once (a bus with thousands of clients calling the agent)
/// and the uid cache is emptied rather than grown: a bound, not an expected size.
const MAX_CALLERS: usize = 4096;

impl State {
    /// Journals a change already made to the table; a failure is logged and reported (the change
    /// stands, in memory). Drops the cached lists either way.
    pub(crate) fn record(&mut self, change: Change) -> bool {
        self.lists = [None, None];
        match self.store.append(&change, &self.table) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "could not write the session journal");
                false
            }
        }
    }

    /// Journals session `n`'s current state.
    pub(crate) fn record_state(&mut self, n: u64) -> bool {
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
                hints: HashMap::new(),
                lists: [None, None],
            }),
            callers: Mutex::new(HashMap::new()),
            lockers: Lockers::new(settings.locker_command.clone(), settings.bus_address.clone()),
            exits,
            settings,
            login1: OnceLock::new(),
            inhibitors: Mutex::new(Inhibitors::default()),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked left the table as it was between two whole operations.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn inhibitors(&self) -> MutexGuard<'_, Inhibitors> {
        self.inhibitors.lock().unwrap_or_else(|e| e.into_inner())
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

    /// The marshalled `ListSessions` reply of `which` API for `caller` (all sessions for root,
    /// their own for a user), written by `encode` straight from the records. Root's is kept until
    /// the table changes: a list at 10,000 sessions takes 5-8 ms to write (the records' strings
    /// are scattered over the heap) and a megabyte (agent) and 0.8 MB (login1) to keep, which
    /// issue 5's 20 ms for ListSessions needs and the RSS affords.
    pub(crate) fn list_body(
        &self,
        which: List,
        caller: u32,
        encode: impl FnOnce(&[&SessionRecord]) -> Vec<u8>,
    ) -> Arc<Vec<u8>> {
        let mut state = self.lock();
        if caller == 0 {
            if let Some(body) = &state.lists[which as usize] {
                return body.clone();
            }
        }
        let rows: Vec<&SessionRecord> = state
            .table
            .iter()
            .filter(|(_, e)| authz::may_list(caller, e.record.uid))
            .map(|(_, e)| &e.record)
            .collect();
        let body = Arc::new(encode(&rows));
        if caller == 0 {
            state.lists[which as usize] = Some(body.clone());
        }
        body
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

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long a live supervisor may take by default, once the session's processes are gone, to
/// close the PAM session and unregister it (modules may be slow: network home directories,
/// Kerberos).
pub const SUPERVISOR_CLOSE_WAIT: Duration = Duration::from_secs(20);
