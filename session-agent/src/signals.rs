//! The signals that announce the operations' effects: the agent's own (`SessionNew`,
//! `SessionRemoved`, `Lock`, `Unlock` on the manager, `PropertiesChanged` on a session object)
//! and, when the agent serves `org.freedesktop.login1`, logind's (`SessionNew`, `SessionRemoved`,
//! `UserNew`, `UserRemoved` on the manager, `Lock` and `Unlock` on the session's object), sent on
//! the connection that owns that name, so clients that match on its owner receive them.
//!
//! Sent as plain messages, so that [`crate::ops`] can announce what it did without importing the
//! D-Bus interfaces that call it (their introspection declares them). A signal that cannot be sent is
//! logged: the change it announces has been made and stands.

use std::collections::HashMap;

use vestibule_core::record::SessionState;
use zbus::zvariant::{ObjectPath, Value};
use zbus::Connection;

use crate::login1::path as login1_path;
use crate::login1::router::{MANAGER_IFACE, SESSION_IFACE};
use crate::state::Shared;
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

/// A logind signal, on the login1 connection if the agent serves the name.
pub async fn login1<B>(shared: &Shared, path: &str, interface: &str, member: &str, body: &B)
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    if let Some(conn) = shared.login1.get() {
        emit(conn, path, interface, member, body).await;
    }
}

fn user_path(uid: u32) -> ObjectPath<'static> {
    ObjectPath::from_string_unchecked(login1_path::user(uid))
}

fn login1_session_path(n: u64) -> ObjectPath<'static> {
    ObjectPath::from_string_unchecked(login1_path::session(&n.to_string()))
}

/// `SessionNew(id, path)`: session `n` was registered (its object exists already); on login1
/// also `UserNew` when it is its user's first session.
pub async fn session_new(shared: &Shared, conn: &Connection, n: u64) {
    emit(
        conn,
        OBJECT_PATH,
        INTERFACE,
        "SessionNew",
        &(n.to_string(), path(n)),
    )
    .await;
    if shared.login1.get().is_none() {
        return;
    }
    let uid = shared.lock().table.get(n).ok().map(|e| e.record.uid);
    let Some(uid) = uid else { return };
    if shared.lock().table.ids_of(uid).len() == 1 {
        login1(
            shared,
            login1_path::MANAGER,
            MANAGER_IFACE,
            "UserNew",
            &(uid, user_path(uid)),
        )
        .await;
    }
    let body = (n.to_string(), login1_session_path(n));
    login1(shared, login1_path::MANAGER, MANAGER_IFACE, "SessionNew", &body).await;
}

/// `SessionRemoved(id, path)`: session `n` of `uid` was closed or unregistered; on login1 also
/// `UserRemoved` when it was its user's last session.
pub async fn session_removed(shared: &Shared, conn: &Connection, n: u64, uid: u32) {
    emit(
        conn,
        OBJECT_PATH,
        INTERFACE,
        "SessionRemoved",
        &(n.to_string(), path(n)),
    )
    .await;
    if shared.login1.get().is_none() {
        return;
    }
    let body = (n.to_string(), login1_session_path(n));
    login1(
        shared,
        login1_path::MANAGER,
        MANAGER_IFACE,
        "SessionRemoved",
        &body,
    )
    .await;
    if shared.lock().table.ids_of(uid).is_empty() {
        login1(
            shared,
            login1_path::MANAGER,
            MANAGER_IFACE,
            "UserRemoved",
            &(uid, user_path(uid)),
        )
        .await;
    }
}

/// login1's `Session.Lock` on session `n`'s object: its own locker (xss-lock, swayidle) covers it.
pub async fn login1_lock(shared: &Shared, n: u64) {
    login1(
        shared,
        &login1_path::session(&n.to_string()),
        SESSION_IFACE,
        "Lock",
        &(),
    )
    .await;
}

/// login1's `Session.Unlock` on session `n`'s object.
pub async fn login1_unlock(shared: &Shared, n: u64) {
    login1(
        shared,
        &login1_path::session(&n.to_string()),
        SESSION_IFACE,
        "Unlock",
        &(),
    )
    .await;
}

/// `Lock(id)`: session `n`'s lock screen should cover it (and login1's `Session.Lock`).
pub async fn lock(shared: &Shared, conn: &Connection, n: u64) {
    emit(conn, OBJECT_PATH, INTERFACE, "Lock", &(n.to_string(),)).await;
    login1_lock(shared, n).await;
}

/// `Unlock(id)`: session `n` was unlocked (and login1's `Session.Unlock`).
pub async fn unlock(shared: &Shared, conn: &Connection, n: u64) {
    emit(conn, OBJECT_PATH, INTERFACE, "Unlock", &(n.to_string(),)).await;
    login1_unlock(shared, n).await;
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
