//! One D-Bus object per session, as logind has: `/org/vestibule/SessionAgent1/session/<id>`
//! (ids are decimal counters, valid path elements as they are) with the interface
//! `org.vestibule.SessionAgent1.Session`: the record as read-only properties and `Terminate`,
//! `Lock`, `Unlock`, which act as the manager's `CloseSession`, `LockSession`, `UnlockSession`
//! do, with the same authorization. `State` and `Locked` change with `PropertiesChanged`.
//!
//! Who may read the properties: whoever may see the session with `GetSession` (root, its owner) —
//! logind lets everyone read them, but this agent does not show a user's sessions to other users
//! anywhere else either. zbus's own `org.freedesktop.DBus.Properties` cannot see the caller, so
//! each session object gets [`SessionProperties`] in its place, which checks the caller and then
//! asks the [`SessionObject`]'s generated property code for the values. The getters of the
//! exported `SessionObject` themselves refuse to answer (it is built with `checked: false`), so
//! there is no unchecked way to read them even in the instant between exporting the object and
//! replacing zbus's `Properties`.
//!
//! Introspecting `/org/vestibule/SessionAgent1/session` lists the session ids (child nodes) to
//! anyone, as logind's does; what they belong to stays behind the check.

use std::collections::HashMap;
use std::sync::Arc;

use vestibule_core::record::{SessionRecord, SessionState};
use zbus::fdo;
use zbus::message::Header;
use zbus::object_server::{Interface, SignalEmitter};
use zbus::zvariant::{OwnedValue, Value};
use zbus::{Connection, ObjectServer};

use crate::authz::{self, Action};
use crate::error::{AgentError, Reply};
use crate::ops;
use crate::signals::path;
use crate::state::{caller_uid, Shared};

pub use crate::signals::SESSION_INTERFACE;

/// The interface `org.vestibule.SessionAgent1.Session` of one session.
pub struct SessionObject {
    shared: Arc<Shared>,
    n: u64,
    /// Whether the caller was checked: only [`SessionProperties`] builds one with `true`.
    checked: bool,
}

impl SessionObject {
    fn record<T>(&self, f: impl FnOnce(&SessionRecord) -> T) -> fdo::Result<T> {
        if !self.checked {
            return Err(fdo::Error::AccessDenied(
                "session properties are read through this object's org.freedesktop.DBus.Properties".into(),
            ));
        }
        let state = self.shared.lock();
        let e = state
            .table
            .get(self.n)
            .map_err(|e| fdo::Error::UnknownObject(e.to_string()))?;
        Ok(f(&e.record))
    }

    fn id_string(&self) -> String {
        self.n.to_string()
    }
}

#[zbus::interface(name = "org.vestibule.SessionAgent1.Session")]
impl SessionObject {
    /// Ends the session, as `CloseSession(id)` does (owner, root); replies once its PAM session
    /// is closed.
    async fn terminate(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        let id = self.id_string();
        let owner = self.shared.lock().table.get(self.n)?.record.uid;
        authz::check(caller, Action::Close { id: &id, owner })?;
        ops::close(&self.shared, conn, self.n).await
    }

    /// Locks the session, as `LockSession(id)` does (owner, root).
    async fn lock(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        ops::set_locked(&self.shared, caller, conn, &self.id_string(), true).await
    }

    /// Unlocks the session, as `UnlockSession(id)` does (root).
    async fn unlock(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), AgentError> {
        let caller = caller_uid(&self.shared, conn, &hdr).await?;
        ops::set_locked(&self.shared, caller, conn, &self.id_string(), false).await
    }

    /// The session id (decimal, never reused).
    #[zbus(property(emits_changed_signal = "const"))]
    fn id(&self) -> fdo::Result<String> {
        self.record(|r| r.id.clone())
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn user(&self) -> fdo::Result<String> {
        self.record(|r| r.user.clone())
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn uid(&self) -> fdo::Result<u32> {
        self.record(|r| r.uid)
    }

    /// Relative to /dev (`tty2`, `pts/3`); empty for none.
    #[zbus(property(emits_changed_signal = "const"))]
    fn tty(&self) -> fdo::Result<String> {
        self.record(|r| r.tty.clone().unwrap_or_default())
    }

    /// Empty for none.
    #[zbus(property(emits_changed_signal = "const"))]
    fn display(&self) -> fdo::Result<String> {
        self.record(|r| r.display.clone().unwrap_or_default())
    }

    /// Empty for a local session.
    #[zbus(property(emits_changed_signal = "const"))]
    fn remote_host(&self) -> fdo::Result<String> {
        self.record(|r| r.remote_host.clone().unwrap_or_default())
    }

    /// The PAM service the session was opened with.
    #[zbus(property(emits_changed_signal = "const"))]
    fn service(&self) -> fdo::Result<String> {
        self.record(|r| r.service.clone())
    }

    /// The pid of the session's leader (its process group is the session's).
    #[zbus(property(emits_changed_signal = "const"))]
    fn leader(&self) -> fdo::Result<u32> {
        self.record(|r| r.leader)
    }

    /// The pid of the process holding the session's PAM transaction.
    #[zbus(property(emits_changed_signal = "const"))]
    fn supervisor(&self) -> fdo::Result<u32> {
        self.record(|r| r.supervisor)
    }

    /// `user`, `greeter` or `lock-screen`.
    #[zbus(property(emits_changed_signal = "const"))]
    fn class(&self) -> fdo::Result<String> {
        self.record(|r| r.class.as_str().to_owned())
    }

    /// `active`, `locked` or `closing`.
    #[zbus(property)]
    fn state(&self) -> fdo::Result<String> {
        self.record(|r| r.state.as_str().to_owned())
    }

    /// Whether the state is `locked` (logind's `LockedHint`).
    #[zbus(property)]
    fn locked(&self) -> fdo::Result<bool> {
        self.record(|r| r.state == SessionState::Locked)
    }

    /// When the session was registered, in seconds since the Unix epoch.
    #[zbus(property(emits_changed_signal = "const"))]
    fn since(&self) -> fdo::Result<u64> {
        self.record(|r| r.since)
    }
}

/// `org.freedesktop.DBus.Properties` of a session object, checking the caller (see the module
/// docs). All properties are read-only.
pub struct SessionProperties {
    shared: Arc<Shared>,
    n: u64,
}

impl SessionProperties {
    /// Checks that the caller may see the session and that `interface` is the session's (or
    /// empty, which the specification allows to mean "whichever has it"); returns the object
    /// whose generated code reads the values.
    async fn checked(&self, conn: &Connection, hdr: &Header<'_>, interface: &str) -> Reply<SessionObject> {
        let caller = caller_uid(&self.shared, conn, hdr).await?;
        let id = self.n.to_string();
        let owner = self.shared.lock().table.get(self.n)?.record.uid;
        authz::check(caller, Action::Show { id: &id, owner })?;
        if !interface.is_empty() && interface != SESSION_INTERFACE {
            return Err(fdo::Error::UnknownInterface(format!("{interface} has no properties here")).into());
        }
        Ok(SessionObject {
            shared: self.shared.clone(),
            n: self.n,
            checked: true,
        })
    }
}

#[zbus::interface(name = "org.freedesktop.DBus.Properties")]
impl SessionProperties {
    /// One property of the session (owner, root).
    async fn get(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(object_server)] server: &ObjectServer,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
        interface_name: &str,
        property_name: &str,
    ) -> Result<OwnedValue, AgentError> {
        let obj = self.checked(conn, &hdr, interface_name).await?;
        match <SessionObject as Interface>::get(&obj, property_name, server, conn, Some(&hdr), &emitter).await
        {
            Some(v) => Ok(v?),
            None => Err(fdo::Error::UnknownProperty(format!("no property {property_name}")).into()),
        }
    }

    /// Every property of the session (owner, root).
    async fn get_all(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(object_server)] server: &ObjectServer,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
        interface_name: &str,
    ) -> Result<HashMap<String, OwnedValue>, AgentError> {
        let obj = self.checked(conn, &hdr, interface_name).await?;
        Ok(<SessionObject as Interface>::get_all(&obj, server, conn, Some(&hdr), &emitter).await?)
    }

    /// Refused: every property is read-only.
    async fn set(
        &self,
        interface_name: &str,
        property_name: &str,
        value: Value<'_>,
    ) -> Result<(), AgentError> {
        let _ = (interface_name, value);
        Err(fdo::Error::PropertyReadOnly(format!("{property_name} is read-only")).into())
    }

    /// A property of the session changed (`State` and `Locked`).
    #[zbus(signal)]
    async fn properties_changed(
        ctxt: &SignalEmitter<'_>,
        interface_name: &str,
        changed_properties: &HashMap<&str, &Value<'_>>,
        invalidated_properties: &[&str],
    ) -> zbus::Result<()>;
}

/// Exports session `n`'s object. Failures are logged: the session itself stands without it.
pub async fn export(shared: &Arc<Shared>, conn: &Connection, n: u64) {
    let path = path(n);
    let server = conn.object_server();
    let done = async {
        let object = SessionObject {
            shared: shared.clone(),
            n,
            checked: false,
        };
        server.at(&path, object).await?;
        server.remove::<fdo::Properties, _>(&path).await?;
        let props = SessionProperties {
            shared: shared.clone(),
            n,
        };
        server.at(&path, props).await
    };
    if let Err(e) = done.await {
        tracing::error!(id = n, error = %e, "could not export the session's object");
    }
}

/// Removes session `n`'s object (and with it its node); the [`crate::state::Unexport`] the
/// operations are given.
pub fn unexport(conn: Connection, n: u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let path = path(n);
        // Not there (never exported, or removed by a concurrent close): nothing to do.
        let _ = conn.object_server().remove::<SessionObject, _>(&path).await;
    })
}
