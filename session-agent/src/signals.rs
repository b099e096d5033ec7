//! The signals that announce the operations' effects: the agent's own (`SessionNew`,
//! `SessionRemoved`, `Lock`, `Unlock` on the manager, `PropertiesChanged` on a session object).
//!
//! Sent as plain messages rather than through the `#[interface]` macro's signal functions (the
//! interface still declares them, for introspection), so that [`crate::ops`] can announce what it
//! did without importing the D-Bus interfaces that call it. A signal that cannot be sent is
//! logged: the change it announces has been made and stands.

use std::collections::HashMap;

use vestibule_core::record::SessionState;
use zbus::zvariant::{ObjectPath, Value};
use zbus::Connection;

use crate::{session_path, INTERFACE, OBJECT_PATH};

/// The agent's session objects' interface, whose `PropertiesChanged` [`state_changed`] sends.
pub const SESSION_INTERFACE: &str = "org.vestibule.SessionAgent1.Session";

/// Session `n`'s object path. From the number, so it cannot fail: `/`, letters and digits are
/// all a path needs, and no caller's text goes into it.
pub fn path(n: u64) -> ObjectPath<'static> {
    ObjectPath::from_string_unchecked(session_path(n))
}

async fn emit<B>(conn: &Connection, path: &str, interface: &str, member: &str, body: &B)
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    if let Err(e) = conn
        .emit_signal(None::<&str>, path, interface, member, body)
        .await
    {
        tracing::warn!(path, member, error = %e, "could not send a signal");
    }
}

/// `SessionNew(id, path)`: session `n` was registered (its object exists already).
pub async fn session_new(conn: &Connection, n: u64) {
    emit(
        conn,
        OBJECT_PATH,
        INTERFACE,
        "SessionNew",
        &(n.to_string(), path(n)),
    )
    .await;
}

/// `SessionRemoved(id, path)`: session `n` was closed or unregistered.
pub async fn session_removed(conn: &Connection, n: u64) {
    emit(
        conn,
        OBJECT_PATH,
        INTERFACE,
        "SessionRemoved",
        &(n.to_string(), path(n)),
    )
    .await;
}

/// `Lock(id)`: session `n`'s lock screen should cover it.
pub async fn lock(conn: &Connection, n: u64) {
    emit(conn, OBJECT_PATH, INTERFACE, "Lock", &(n.to_string(),)).await;
}

/// `Unlock(id)`: session `n` was unlocked.
pub async fn unlock(conn: &Connection, n: u64) {
    emit(conn, OBJECT_PATH, INTERFACE, "Unlock", &(n.to_string(),)).await;
}

/// `PropertiesChanged` of session `n`'s object for its new state (`State`, `Locked`).
pub async fn state_changed(conn: &Connection, n: u64, state: SessionState) {
    let st = Value::from(state.as_str());
    let locked = Value::from(state == SessionState::Locked);
    let changed = HashMap::from([("State", &st), ("Locked", &locked)]);
    let body = (SESSION_INTERFACE, changed, Vec::<&str>::new());
    emit(
        conn,
        path(n).as_str(),
        "org.freedesktop.DBus.Properties",
        "PropertiesChanged",
        &body,
    )
    .await;
}
