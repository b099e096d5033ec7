//! `org.freedesktop.DBus.Introspectable` XML for login1's objects: the methods and signals of
//! each interface as written here, the properties from the same tables `Get` answers from
//! ([`super::props`]), put together by [`crate::bus::xml`].

use super::props::Props;
use super::router::{MANAGER_IFACE, SESSION_IFACE, USER_IFACE};
use crate::bus::xml::{Changes, Doc};

const MANAGER_MEMBERS: &str = r#"  <method name="ListSessions"><arg type="a(susso)" name="sessions" direction="out"/></method>
  <method name="ListUsers"><arg type="a(uso)" name="users" direction="out"/></method>
  <method name="GetSession"><arg type="s" name="session_id" direction="in"/><arg type="o" name="object_path" direction="out"/></method>
  <method name="GetSessionByPID"><arg type="u" name="pid" direction="in"/><arg type="o" name="object_path" direction="out"/></method>
  <method name="GetUser"><arg type="u" name="uid" direction="in"/><arg type="o" name="object_path" direction="out"/></method>
  <method name="GetUserByPID"><arg type="u" name="pid" direction="in"/><arg type="o" name="object_path" direction="out"/></method>
  <method name="TerminateSession"><arg type="s" name="session_id" direction="in"/></method>
  <method name="TerminateUser"><arg type="u" name="uid" direction="in"/></method>
  <method name="KillSession"><arg type="s" name="session_id" direction="in"/><arg type="s" name="who" direction="in"/><arg type="i" name="signal_number" direction="in"/></method>
  <method name="KillUser"><arg type="u" name="uid" direction="in"/><arg type="i" name="signal_number" direction="in"/></method>
  <method name="LockSession"><arg type="s" name="session_id" direction="in"/></method>
  <method name="UnlockSession"><arg type="s" name="session_id" direction="in"/></method>
  <method name="LockSessions"/>
  <method name="UnlockSessions"/>
  <method name="Inhibit"><arg type="s" name="what" direction="in"/><arg type="s" name="who" direction="in"/><arg type="s" name="why" direction="in"/><arg type="s" name="mode" direction="in"/><arg type="h" name="pipe_fd" direction="out"/></method>
  <method name="ListInhibitors"><arg type="a(ssssuu)" name="inhibitors" direction="out"/></method>
  <signal name="SessionNew"><arg type="s" name="session_id"/><arg type="o" name="object_path"/></signal>
  <signal name="SessionRemoved"><arg type="s" name="session_id"/><arg type="o" name="object_path"/></signal>
  <signal name="UserNew"><arg type="u" name="uid"/><arg type="o" name="object_path"/></signal>
  <signal name="UserRemoved"><arg type="u" name="uid"/><arg type="o" name="object_path"/></signal>
"#;

const SESSION_MEMBERS: &str = r#"  <method name="Terminate"/>
  <method name="Activate"/>
  <method name="Lock"/>
  <method name="Unlock"/>
  <method name="SetIdleHint"><arg type="b" name="idle" direction="in"/></method>
  <method name="SetLockedHint"><arg type="b" name="locked" direction="in"/></method>
  <method name="Kill"><arg type="s" name="who" direction="in"/><arg type="i" name="signal_number" direction="in"/></method>
  <signal name="Lock"/>
  <signal name="Unlock"/>
"#;

const USER_MEMBERS: &str = r#"  <method name="Terminate"/>
  <method name="Kill"><arg type="i" name="signal_number" direction="in"/></method>
"#;

/// The agent sends no `PropertiesChanged` for login1's objects: clients that cache properties
/// (GDBus proxies) are told to ask again instead.
fn unsignalled(_: &str) -> Changes {
    Changes::Unsignalled
}

/// Which object's XML to write.
pub enum Of<'a> {
    Manager(&'a Props),
    Session(&'a Props),
    User(&'a Props),
    /// A node with only child nodes (their names, already path elements).
    Node(&'a [String]),
}

/// The introspection XML of an object.
pub fn xml(of: Of<'_>) -> String {
    match of {
        Of::Manager(p) => Doc::new()
            .interface(MANAGER_IFACE, p, unsignalled, MANAGER_MEMBERS)
            .children(&["session", "user"]),
        Of::Session(p) => Doc::new().interface(SESSION_IFACE, p, unsignalled, SESSION_MEMBERS),
        Of::User(p) => Doc::new().interface(USER_IFACE, p, unsignalled, USER_MEMBERS),
        Of::Node(names) => Doc::new().children(names),
    }
    .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value;

    #[test]
    fn session_xml_lists_its_properties_methods_and_signals() {
        let props: Props = vec![("Id", Value::from("1")), ("VTNr", Value::from(2u32))];
        let x = xml(Of::Session(&props));
        assert!(x.contains("<interface name=\"org.freedesktop.login1.Session\">"));
        // No PropertiesChanged for login1's objects: every property says so.
        assert!(x.contains("<property name=\"VTNr\" type=\"u\" access=\"read\"><annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"false\"/>"));
        assert!(x.contains("<signal name=\"Lock\"/>") && x.contains("<method name=\"SetLockedHint\">"));
    }

    #[test]
    fn nodes_list_their_children() {
        let x = xml(Of::Node(&["_31".to_owned(), "_32".to_owned()]));
        assert!(x.contains("<node name=\"_31\"/>"));
        assert!(!x.contains("org.freedesktop.login1.Session"));
        let m = xml(Of::Manager(&vec![]));
        assert!(m.contains("<node name=\"session\"/>") && m.contains("ListInhibitors"));
    }
}
