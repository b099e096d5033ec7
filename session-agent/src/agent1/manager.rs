//! The manager, `org.vestibule.SessionAgent1` at `/org/vestibule/SessionAgent1`: each method
//! finds out who is calling (the bus's `GetConnectionUnixUser` on the message's sender — never
//! anything the caller sends), checks the arguments ([`crate::validate`]) and the caller's right
//! ([`crate::authz`]), changes the table, journals the change ([`crate::persist`]) and sends the
//! signal that goes with it.
//!
//! What keeps it fast with 10,000 sessions:
//! - a change is one fsync'd journal line, not a rewrite of the whole table;
//! - `ListSessions` is marshalled straight from the table by [`crate::wire::encode_list`], in a
//!   fraction of zvariant's time, and root's reply is kept until the table changes;
//! - the caller's uid is asked of the bus once per connection (unique bus name) and remembered
//!   until the bus announces that name gone (`NameOwnerChanged`). Unique names are never reused
//!   by a bus, so a remembered uid cannot be someone else's.
//!
//! The operations behind the methods are [`crate::ops`], shared with the session objects and
//! login1. Errors: see [`crate::error`].

use vestibule_core::record::{SessionClass, SessionState};
use zbus::message::Message;
use zbus::zvariant::OwnedObjectPath;
use zbus::DBusError;

use super::dispatch::Call;
use crate::authz::{self, Action};
use crate::bus::{
    self,
    xml::{Changes, Doc},
};
use crate::error::{AgentError, Reply};
use crate::locker;
use crate::ops::{self, by_id, by_pid, set_locked};
use crate::persist::Change;
use crate::procfs;
use crate::signals::{self, path};
use crate::state::{now, List};
use crate::table::Process;
use crate::validate::{self, RawRegistration};
use crate::wire;
use crate::INTERFACE;

const MEMBERS: &str = r#"  <method name="RegisterSession"><arg name="user" type="s" direction="in"/><arg name="uid" type="u" direction="in"/><arg name="tty" type="s" direction="in"/><arg name="display" type="s" direction="in"/><arg name="remote_host" type="s" direction="in"/><arg name="service" type="s" direction="in"/><arg name="leader" type="u" direction="in"/><arg name="supervisor" type="u" direction="in"/><arg name="class" type="s" direction="in"/><arg name="id" type="s" direction="out"/></method>
  <method name="UnregisterSession"><arg name="id" type="s" direction="in"/></method>
  <method name="ListSessions"><arg name="sessions" type="a(ssussssuusst)" direction="out"/></method>
  <method name="GetSession"><arg name="id" type="s" direction="in"/><arg name="session" type="(ssussssuusst)" direction="out"/></method>
  <method name="GetSessionByPid"><arg name="pid" type="u" direction="in"/><arg name="session" type="(ssussssuusst)" direction="out"/></method>
  <method name="GetSessionPath"><arg name="id" type="s" direction="in"/><arg name="path" type="o" direction="out"/></method>
  <method name="GetSessionPathByPid"><arg name="pid" type="u" direction="in"/><arg name="path" type="o" direction="out"/></method>
  <method name="CloseSession"><arg name="id" type="s" direction="in"/></method>
  <method name="CloseUser"><arg name="uid" type="u" direction="in"/></method>
  <method name="LockSession"><arg name="id" type="s" direction="in"/></method>
  <method name="UnlockSession"><arg name="id" type="s" direction="in"/></method>
  <method name="SetLocker"><arg name="id" type="s" direction="in"/></method>
  <method name="ReportLocked"><arg name="id" type="s" direction="in"/></method>
  <method name="LockAll"/>
  <signal name="SessionNew"><arg name="id" type="s"/><arg name="path" type="o"/></signal>
  <signal name="SessionRemoved"><arg name="id" type="s"/><arg name="path" type="o"/></signal>
  <signal name="Lock"><arg name="id" type="s"/></signal>
  <signal name="Unlock"><arg name="id" type="s"/></signal>
"#;

/// The manager's introspection XML (committed as `data/dbus/org.vestibule.SessionAgent1.xml`,
/// which the end-to-end tests compare with what runs). The README describes each method.
pub fn introspect() -> String {
    Doc::new()
        .interface(INTERFACE, &Vec::new(), |_| Changes::Const, MEMBERS)
        .children(&["session"])
        .finish()
}

impl Call<'_> {
    /// `RegisterSession`: a session the caller (root: the supervisor holding its PAM
    /// transaction) opened. Empty strings stand for "none" (tty, display, remote host). Replies
    /// with the session id.
    pub(super) async fn register_session(&self) -> Reply<Message> {
        #[allow(clippy::type_complexity)]
        let (user, uid, tty, display, remote_host, service, leader, supervisor, class): (
            String,
            u32,
            String,
            String,
            String,
            String,
            u32,
            u32,
            String,
        ) = self.args()?;
        let caller = self.caller().await?;
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
        self.shared.exits.watch(n, supervisor, Some(supervisor_start));
        tracing::info!(id, user, uid, leader, supervisor, "session registered");
        signals::session_new(self.shared, self.conn, n).await;
        self.reply(&(id,))
    }

    /// `UnregisterSession(id)`: forgets a session whose supervisor closed it (root only).
    /// Nothing is signalled to its processes and PAM is not called: the supervisor has done both.
    pub(super) async fn unregister_session(&self) -> Reply<Message> {
        let id: String = self.args()?;
        let caller = self.caller().await?;
        let n = validate::session_id(&id)?;
        authz::check(caller, Action::Unregister)?;
        let uid = {
            let mut state = self.shared.lock();
            let removed = state.table.remove(n)?;
            state.hints.remove(&n);
            state.record(Change::Remove { id: n });
            removed.record.uid
        };
        self.shared.lockers.forget(n);
        self.shared.exits.forget(n);
        tracing::info!(id, "session unregistered");
        signals::session_removed(self.shared, self.conn, n, uid).await;
        self.done()
    }

    /// `ListSessions`: the sessions the caller may see (all for root, their own for a user),
    /// sent as the bytes [`crate::state::Shared::list_body`] marshalled.
    pub(super) async fn list_sessions(&self) -> Reply<Message> {
        let caller = self.caller().await?;
        let body = self.shared.list_body(List::Agent, caller, |rows| {
            wire::encode_list(rows, wire::Order::NATIVE)
        });
        // SAFETY: `encode_list` writes a well-formed `a(ssussssuusst)` body in the byte order zbus
        // builds messages in (its native one), which the unit tests check against zvariant.
        let reply = unsafe {
            Message::method_return(self.hdr)?.build_raw_body(&body, wire::LIST_SIGNATURE, Vec::new())?
        };
        Ok(reply)
    }

    /// `GetSession(id)`: one session.
    pub(super) async fn get_session(&self) -> Reply<Message> {
        let id: String = self.args()?;
        let caller = self.caller().await?;
        self.reply(&(by_id(self.shared, caller, &id)?,))
    }

    /// `GetSessionByPid(pid)`: the session a process belongs to: its leader, its supervisor, or
    /// a process in the leader's process group or session.
    pub(super) async fn get_session_by_pid(&self) -> Reply<Message> {
        let pid: u32 = self.args()?;
        let caller = self.caller().await?;
        self.reply(&(by_pid(self.shared, caller, pid)?,))
    }

    /// `GetSessionPath(id)`: the session's object path, for the callers GetSession answers.
    pub(super) async fn get_session_path(&self) -> Reply<Message> {
        let id: String = self.args()?;
        let caller = self.caller().await?;
        let n = validate::session_id(&id)?;
        by_id(self.shared, caller, &id)?;
        self.reply(&(OwnedObjectPath::from(path(n)),))
    }

    /// `GetSessionPathByPid(pid)`: the object path of the session GetSessionByPid finds.
    pub(super) async fn get_session_path_by_pid(&self) -> Reply<Message> {
        let pid: u32 = self.args()?;
        let caller = self.caller().await?;
        let s = by_pid(self.shared, caller, pid)?;
        self.reply(&(OwnedObjectPath::from(path(validate::session_id(&s.id)?)),))
    }

    /// `CloseSession(id)`: its processes get SIGTERM (SIGKILL after the grace period), then its
    /// supervisor closes the PAM session in its own transaction and unregisters it; if the
    /// supervisor is gone, the agent closes the PAM session itself. Replies once it is closed.
    pub(super) async fn close_session(&self) -> Reply<Message> {
        let id: String = self.args()?;
        let n = validate::session_id(&id)?;
        self.terminate(n).await
    }

    /// `CloseUser(uid)`: every session of `uid`, as CloseSession closes each.
    pub(super) async fn close_user(&self) -> Reply<Message> {
        let uid: u32 = self.args()?;
        let caller = self.caller().await?;
        authz::check(caller, Action::CloseUser { uid })?;
        let ids = self.shared.lock().table.ids_of(uid);
        if ids.is_empty() {
            return Err(AgentError::NoSuchSession(format!("uid {uid} has no sessions")));
        }
        for n in ids {
            match ops::close(self.shared, self.conn, n).await {
                Ok(()) | Err(AgentError::NoSuchSession(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.done()
    }

    /// `LockSession(id)`: sends `Lock(id)` to the session's lock screen and marks the session
    /// locked once the lock screen reports the screen covered and its input held
    /// (`ReportLocked`); replies then. Fails with NoLockScreen when no lock screen is registered,
    /// NotCovered when none reports within `--lock-timeout-ms`; the session stays active then.
    /// (login1's LockSession differs: see [`crate::login1::dispatch`].)
    pub(super) async fn lock_session(&self) -> Reply<Message> {
        let id: String = self.args()?;
        let caller = self.caller().await?;
        set_locked(self.shared, caller, self.conn, &id, true).await?;
        self.done()
    }

    /// `UnlockSession(id)`: marks a session active again and sends `Unlock(id)`: root, or the
    /// session's registered lock screen after authenticating its user (see [`crate::locker`]).
    pub(super) async fn unlock_session(&self) -> Reply<Message> {
        let id: String = self.args()?;
        let mut caller = self.caller().await?;
        let n = validate::session_id(&id)?;
        if self
            .hdr
            .sender()
            .is_some_and(|s| self.shared.lockers.is_locker(s.as_str(), n))
        {
            caller = 0;
        }
        set_locked(self.shared, caller, self.conn, &id, false).await?;
        self.done()
    }

    /// `SetLocker(id)`: makes the calling connection the session's lock screen (owner or root):
    /// the agent starts a new one if this connection goes away while the session is locked, and
    /// takes its `UnlockSession`. Refused while the session is locked (but to the lock screen the
    /// agent started) and while another lock screen holds it.
    pub(super) async fn set_locker(&self) -> Reply<Message> {
        let id: String = self.args()?;
        let caller = self.caller().await?;
        let n = validate::session_id(&id)?;
        let (owner, locked, recorded) = {
            let state = self.shared.lock();
            let e = state.table.get(n)?;
            (e.record.uid, e.record.state == SessionState::Locked, e.locker)
        };
        authz::check(caller, Action::Lock { id: &id, owner })?;
        let sender = self.hdr.sender().ok_or_else(|| {
            AgentError::AccessDenied("the message has no sender: cannot tell who is calling".into())
        })?;
        let pid = bus::caller_pid(self.conn, self.hdr).await.ok();
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
        self.done()
    }

    /// `ReportLocked(id)`: the session's lock screen says the screen is covered and its input
    /// held: a `LockSession` waiting for that replies now and the session reads `locked`. Only
    /// the session's registered lock screen may say so.
    pub(super) async fn report_locked(&self) -> Reply<Message> {
        let id: String = self.args()?;
        let n = validate::session_id(&id)?;
        self.shared.lock().table.get(n)?;
        let sender = self.hdr.sender().map(|s| s.to_string()).unwrap_or_default();
        if !self.shared.lockers.report_covered(&sender, n) {
            return Err(AgentError::AccessDenied(format!(
                "only session {id}'s lock screen may report it covered"
            )));
        }
        tracing::info!(id, "the lock screen reports the screen covered");
        self.done()
    }

    /// `LockAll`: every active user session that has a lock screen, as LockSession locks each
    /// (sessions without one are left active and logged). Root only.
    pub(super) async fn lock_all(&self) -> Reply<Message> {
        let caller = self.caller().await?;
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
            if let Err(e) = set_locked(self.shared, caller, self.conn, &id, true).await {
                tracing::warn!(id, error = %e.description().unwrap_or_default(), "LockAll left a session unlocked");
            }
        }
        self.done()
    }
}

#[cfg(test)]
mod tests {
    use super::super::router::{self, Method};
    use super::*;
    use crate::signals::SESSION_INTERFACE;
    use crate::OBJECT_PATH;

    /// Each `<method>` of `xml` with the concatenated types of its `in` arguments.
    fn methods(xml: &str) -> Vec<(String, String)> {
        xml.split("<method name=\"")
            .skip(1)
            .map(|m| {
                let name = m.split('"').next().unwrap().to_owned();
                let body = m.split("</method>").next().unwrap();
                let body = if m.starts_with(&format!("{name}\"/>")) {
                    ""
                } else {
                    body
                };
                let ins: String = body
                    .split("<arg ")
                    .skip(1)
                    .filter(|a| a.contains("direction=\"in\""))
                    .map(|a| {
                        a.split("type=\"")
                            .nth(1)
                            .unwrap()
                            .split('"')
                            .next()
                            .unwrap()
                            .to_owned()
                    })
                    .collect();
                (name, ins)
            })
            .collect()
    }

    #[test]
    fn what_introspection_shows_is_what_the_dispatcher_serves() {
        for (path, iface, xml, count) in [
            (OBJECT_PATH.to_owned(), INTERFACE, MEMBERS, 14),
            (
                crate::session_path(1),
                SESSION_INTERFACE,
                super::super::session::MEMBERS,
                3,
            ),
        ] {
            let listed = methods(xml);
            assert_eq!(listed.len(), count, "{listed:?}");
            for (name, ins) in listed {
                let (_, method): (_, Method) = router::route(&path, Some(iface), &name)
                    .unwrap_or_else(|m| panic!("{name} is introspected but not routed: {m:?}"));
                assert_eq!(method.signature(), ins, "{name}");
            }
        }
        assert!(introspect().contains("<node name=\"session\"/>"));
    }
}
