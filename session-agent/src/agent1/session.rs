//! One object per session, as logind has: `/org/vestibule/SessionAgent1/session/<id>` with the
//! interface `org.vestibule.SessionAgent1.Session`: the record as read-only properties and
//! `Terminate`, `Lock`, `Unlock`, which act as the manager's `CloseSession`, `LockSession`,
//! `UnlockSession` do, with the same authorization. `State` and `Locked` change with
//! `PropertiesChanged` ([`crate::signals::state_changed`]).
//!
//! The objects are not kept anywhere: a call's path names the session, and the table answers
//! (see [`crate::bus`] for the memory this saves). An object exists exactly while its session
//! is in the table.
//!
//! Who may read the properties: whoever may see the session with `GetSession` (root, its owner) —
//! logind lets everyone read them, but this agent does not show a user's sessions to other users
//! anywhere else either. Introspecting `…/SessionAgent1/session` lists the session ids to anyone,
//! as logind's does; what they belong to stays behind the check.

use vestibule_core::record::{SessionRecord, SessionState};
use zbus::message::Message;
use zbus::zvariant::Value;

use super::dispatch::Call;
use super::router::{self, Object};
use crate::authz::{self, Action};
use crate::bus::props::{self, Props};
use crate::bus::route::Standard;
use crate::bus::xml::{Changes, Doc};
use crate::error::Reply;
use crate::ops;
use crate::signals::SESSION_INTERFACE;

pub(super) const MEMBERS: &str = r#"  <method name="Terminate"/>
  <method name="Lock"/>
  <method name="Unlock"/>
"#;

/// A session's properties, in the order introspection lists them.
pub fn properties(r: &SessionRecord) -> Props {
    let opt = |v: &Option<String>| Value::from(v.clone().unwrap_or_default());
    vec![
        ("Id", Value::from(r.id.clone())),
        ("User", Value::from(r.user.clone())),
        ("Uid", Value::from(r.uid)),
        // Relative to /dev (`tty2`, `pts/3`); empty for none.
        ("Tty", opt(&r.tty)),
        ("Display", opt(&r.display)),
        ("RemoteHost", opt(&r.remote_host)),
        // The PAM service the session was opened with.
        ("Service", Value::from(r.service.clone())),
        // The pid of the session's leader (its process group is the session's).
        ("Leader", Value::from(r.leader)),
        // The pid of the process holding the session's PAM transaction.
        ("Supervisor", Value::from(r.supervisor)),
        // `user`, `greeter` or `lock-screen`.
        ("Class", Value::from(r.class.as_str())),
        // `active`, `locked` or `closing`.
        ("State", Value::from(r.state.as_str())),
        // Whether the state is `locked` (logind's `LockedHint`).
        ("Locked", Value::from(r.state == SessionState::Locked)),
        // When the session was registered, in seconds since the Unix epoch.
        ("Since", Value::from(r.since)),
    ]
}

/// `State` and `Locked` are announced when they change; the rest never change.
fn changes(name: &str) -> Changes {
    match name {
        "State" | "Locked" => Changes::Signalled,
        _ => Changes::Const,
    }
}

/// A session object's introspection XML (committed as
/// `data/dbus/org.vestibule.SessionAgent1.Session.xml`). The types come from [`properties`].
pub fn introspect() -> String {
    let example = SessionRecord {
        id: String::new(),
        user: String::new(),
        uid: 0,
        tty: None,
        display: None,
        remote_host: None,
        service: String::new(),
        leader: 0,
        supervisor: 0,
        class: vestibule_core::record::SessionClass::User,
        state: SessionState::Active,
        since: 0,
    };
    Doc::new()
        .interface(SESSION_INTERFACE, &properties(&example), changes, MEMBERS)
        .finish()
}

impl Call<'_> {
    /// Session `n`'s `Terminate`, and the manager's `CloseSession`: owner or root; replies once
    /// its PAM session is closed.
    pub(super) async fn terminate(&self, n: u64) -> Reply<Message> {
        let caller = self.caller().await?;
        let owner = self.shared.lock().table.get(n)?.record.uid;
        authz::check(
            caller,
            Action::Close {
                id: &n.to_string(),
                owner,
            },
        )?;
        ops::close(self.shared, self.conn, n).await?;
        self.done()
    }

    /// Session `n`'s `Lock` (owner, root) and `Unlock` (root), as `LockSession(id)` and
    /// `UnlockSession(id)` do.
    pub(super) async fn lock_object(&self, n: u64, locked: bool) -> Reply<Message> {
        let caller = self.caller().await?;
        ops::set_locked(self.shared, caller, self.conn, &n.to_string(), locked).await?;
        self.done()
    }

    /// `org.freedesktop.DBus.Properties` on session `n`: the caller must be allowed to see it.
    pub(super) async fn session_properties(&self, n: u64, method: Standard) -> Reply<Message> {
        let caller = self.caller().await?;
        let props = {
            let state = self.shared.lock();
            let r = &state.table.get(n)?.record;
            authz::check(
                caller,
                Action::Show {
                    id: &r.id,
                    owner: r.uid,
                },
            )?;
            properties(r)
        };
        let ifaces = router::interfaces(Object::Session(n));
        Ok(props::answer(self.msg, method, SESSION_INTERFACE, props, ifaces)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xml_shows_every_property_with_its_type_and_whether_it_is_announced() {
        let x = introspect();
        for (name, ty) in [
            ("Id", "s"),
            ("User", "s"),
            ("Uid", "u"),
            ("Tty", "s"),
            ("Display", "s"),
            ("RemoteHost", "s"),
            ("Service", "s"),
            ("Leader", "u"),
            ("Supervisor", "u"),
            ("Class", "s"),
            ("State", "s"),
            ("Locked", "b"),
            ("Since", "t"),
        ] {
            assert!(
                x.contains(&format!(
                    "<property name=\"{name}\" type=\"{ty}\" access=\"read\">"
                )),
                "{name}"
            );
        }
        assert!(x.contains("name=\"State\" type=\"s\" access=\"read\"><annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"true\"/>"));
        assert!(x.contains("name=\"Uid\" type=\"u\" access=\"read\"><annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"const\"/>"));
        assert!(x.contains("<method name=\"Terminate\"/>"));
    }
}
