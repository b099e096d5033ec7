//! The D-Bus interface `org.vestibule.SessionAgent1`: each method finds out who is calling (the
//! bus's `GetConnectionUnixUser` on the message's sender — never anything the caller sends),
//! checks the arguments ([`crate::validate`]) and the caller's right ([`crate::authz`]), changes
//! the table, journals the change ([`crate::persist`]) and sends the signal that goes with it.
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
//! The operations behind the methods are [`crate::ops`], shared with the session objects and
//! login1. Errors: see [`crate::error`] (wrong argument types are refused by zbus itself with
//! `InvalidArgs`).

use std::collections::HashMap;
use std::sync::Arc;

use vestibule_core::record::{SessionClass, SessionState};
use zbus::message::{Flags, Header, Message};
use zbus::names::{InterfaceName, MemberName};
use zbus::object_server::{DispatchResult, Interface, SignalEmitter};
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, DBusError, ObjectServer};

use crate::authz::{self, Action};
use crate::error::AgentError;
use crate::locker;
use crate::objects;
use crate::ops::{self, by_id, by_pid, set_locked};
use crate::persist::Change;
use crate::procfs;
use crate::signals::{self, path};
use crate::state::{caller_uid, now, Shared};
use crate::table::Process;
use crate::validate::{self, RawRegistration};
use crate::wire::{self, WireSession};

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

#[zbus::interface(name = "org.vestibule.SessionAgent1")]
impl Agent {
    /// Registers a session the caller (root: the supervisor holding its PAM transaction) opened.
    /// Empty strings stand for "none" (tty, display, remote host). Returns the session id.
    #[allow(clippy::too_many_arguments)]
    async fn register_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
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
        signals::session_new(&self.shared, conn, n).await;
        Ok(id)
    }

    /// Forgets a session whose supervisor closed it (root only). Nothing is signalled to its
    /// processes and PAM is not called: the supervisor has done both.
    async fn unregister_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        id: String,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        let n = validate::session_id(&id)?;
        authz::check(caller, Action::Unregister)?;
        let uid = {
            let mut state = self.shared.lock();
            let removed = state.table.remove(n)?;
            state.hints.remove(&n);
            state.record(Change::Remove { id: n });
            removed.record.uid
        };
        objects::unexport(conn.clone(), n).await;
        self.shared.lockers.forget(n);
        self.shared.exits.forget(n);
        tracing::info!(id, "session unregistered");
        signals::session_removed(&self.shared, conn, n, uid).await;
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
        ops::close(&self.shared, conn, n).await
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
            match ops::close(&self.shared, conn, n).await {
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
    // (Not in the doc comment, which zbus puts in the introspection XML: login1's LockSession
    // differs here. Without a Vestibule lock screen it sends Session.Lock to the session's own
    // locker and succeeds; see crate::login1::dispatch.)
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
    async fn session_new(ctxt: &SignalEmitter<'_>, id: &str, path: ObjectPath<'_>) -> zbus::Result<()>;

    /// A session was closed or unregistered.
    #[zbus(signal)]
    async fn session_removed(ctxt: &SignalEmitter<'_>, id: &str, path: ObjectPath<'_>) -> zbus::Result<()>;

    /// The session should lock its screen.
    #[zbus(signal)]
    async fn lock(ctxt: &SignalEmitter<'_>, id: &str) -> zbus::Result<()>;

    /// The session was unlocked.
    #[zbus(signal)]
    async fn unlock(ctxt: &SignalEmitter<'_>, id: &str) -> zbus::Result<()>;
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

// zbus 5's `Interface` is an `async_trait`; the attribute boxes these futures as the trait wants.
#[zbus::export::async_trait::async_trait]
impl Interface for Manager {
    fn name() -> InterfaceName<'static> {
        <Agent as Interface>::name()
    }

    fn spawn_tasks_for_methods(&self) -> bool {
        self.agent.spawn_tasks_for_methods()
    }

    async fn get(
        &self,
        property_name: &str,
        server: &ObjectServer,
        connection: &Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> Option<zbus::fdo::Result<OwnedValue>> {
        self.agent
            .get(property_name, server, connection, header, emitter)
            .await
    }

    async fn get_all(
        &self,
        server: &ObjectServer,
        connection: &Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> zbus::fdo::Result<HashMap<String, OwnedValue>> {
        self.agent.get_all(server, connection, header, emitter).await
    }

    fn set<'call>(
        &'call self,
        property_name: &'call str,
        value: &'call Value<'_>,
        server: &'call ObjectServer,
        connection: &'call Connection,
        header: Option<&'call Header<'_>>,
        emitter: &'call SignalEmitter<'_>,
    ) -> DispatchResult<'call> {
        self.agent
            .set(property_name, value, server, connection, header, emitter)
    }

    async fn set_mut(
        &mut self,
        property_name: &str,
        value: &Value<'_>,
        server: &ObjectServer,
        connection: &Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> Option<zbus::fdo::Result<()>> {
        self.agent
            .set_mut(property_name, value, server, connection, header, emitter)
            .await
    }

    fn call<'call>(
        &'call self,
        server: &'call ObjectServer,
        connection: &'call Connection,
        msg: &'call Message,
        name: MemberName<'call>,
    ) -> DispatchResult<'call> {
        let no_args = *msg.body().signature() == zbus::zvariant::Signature::Unit;
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
        unsafe { Message::method_return(&hdr)?.build_raw_body(&body, wire::LIST_SIGNATURE, Vec::new())? };
    let len = body.len();
    drop(body);
    conn.send(&reply).await?;
    drop(reply);
    crate::alloc::after_big_reply(len);
    Ok(())
}
