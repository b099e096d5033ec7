//! Which handler a method call goes to: the object (from the path), the method (from the
//! interface and member; a call without an interface is matched on the member, as the D-Bus
//! specification allows) and the argument signature it must carry. Pure: whether a session or
//! user exists is the dispatcher's question, asked of the table.

use super::path::{self, SessionName, UserName};
use crate::bus::route::{self as bus_route, Standard};
pub use crate::bus::route::{Miss, INTROSPECTABLE_IFACE, PEER_IFACE, PROPERTIES_IFACE};

pub const MANAGER_IFACE: &str = "org.freedesktop.login1.Manager";
pub const SESSION_IFACE: &str = "org.freedesktop.login1.Session";
pub const USER_IFACE: &str = "org.freedesktop.login1.User";

/// The object a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Manager,
    Session(SessionName),
    User(UserName),
    /// A node on the way to the objects (`/`, `/org`, …, `…/login1/session`): introspectable
    /// and pingable, nothing else.
    Node(Node),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Root,
    Org,
    Freedesktop,
    Sessions,
    Users,
}

/// The methods served, each with the argument signature it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ListSessions,
    ListUsers,
    GetSession,
    GetSessionByPid,
    GetUser,
    GetUserByPid,
    TerminateSession,
    TerminateUser,
    KillSession,
    KillUser,
    LockSession,
    UnlockSession,
    LockSessions,
    UnlockSessions,
    Inhibit,
    ListInhibitors,
    /// `Session.Terminate`, `User.Terminate`.
    Terminate,
    /// `Session.Kill(si)`.
    KillThisSession,
    /// `User.Kill(i)`.
    KillThisUser,
    Lock,
    Unlock,
    SetLockedHint,
    SetIdleHint,
    Activate,
    /// `Properties`, `Introspectable`, `Peer`.
    Std(Standard),
}

impl Method {
    /// The signature of the arguments the method takes.
    pub fn signature(self) -> &'static str {
        use Method::*;
        match self {
            Std(s) => s.signature(),
            ListSessions | ListUsers | LockSessions | UnlockSessions | ListInhibitors | Terminate | Lock
            | Unlock | Activate => "",
            GetSession | TerminateSession | LockSession | UnlockSession => "s",
            GetSessionByPid | GetUser | GetUserByPid | TerminateUser => "u",
            KillSession => "ssi",
            KillUser => "ui",
            Inhibit => "ssss",
            KillThisSession => "si",
            KillThisUser => "i",
            SetLockedHint | SetIdleHint => "b",
        }
    }
}

/// The object at `path`, or `None`.
pub fn object(path: &str) -> Option<Object> {
    match path {
        "/" => return Some(Object::Node(Node::Root)),
        "/org" => return Some(Object::Node(Node::Org)),
        "/org/freedesktop" => return Some(Object::Node(Node::Freedesktop)),
        path::MANAGER => return Some(Object::Manager),
        path::SESSION_DIR => return Some(Object::Node(Node::Sessions)),
        path::USER_DIR => return Some(Object::Node(Node::Users)),
        _ => {}
    }
    if let Some(label) = path
        .strip_prefix(path::SESSION_DIR)
        .and_then(|r| r.strip_prefix('/'))
    {
        return match path::session_name(label) {
            SessionName::Unknown => None,
            name => Some(Object::Session(name)),
        };
    }
    if let Some(label) = path
        .strip_prefix(path::USER_DIR)
        .and_then(|r| r.strip_prefix('/'))
    {
        return match path::user_name(label) {
            UserName::Unknown => None,
            name => Some(Object::User(name)),
        };
    }
    None
}

/// The interfaces an object has, in the order introspection lists them.
pub fn interfaces(object: Object) -> &'static [&'static str] {
    match object {
        Object::Manager => &[MANAGER_IFACE, PROPERTIES_IFACE, INTROSPECTABLE_IFACE, PEER_IFACE],
        Object::Session(_) => &[SESSION_IFACE, PROPERTIES_IFACE, INTROSPECTABLE_IFACE, PEER_IFACE],
        Object::User(_) => &[USER_IFACE, PROPERTIES_IFACE, INTROSPECTABLE_IFACE, PEER_IFACE],
        Object::Node(_) => &[INTROSPECTABLE_IFACE, PEER_IFACE],
    }
}

/// The method `member` of `interface` on an object, if the object has that interface.
fn method_of(object: Object, interface: &str, member: &str) -> Option<Method> {
    use Method::*;
    if let Some(s) = Standard::of(interface, member) {
        return Some(Std(s));
    }
    let m = match (interface, member) {
        (MANAGER_IFACE, _) if object == Object::Manager => match member {
            "ListSessions" => ListSessions,
            "ListUsers" => ListUsers,
            "GetSession" => GetSession,
            "GetSessionByPID" => GetSessionByPid,
            "GetUser" => GetUser,
            "GetUserByPID" => GetUserByPid,
            "TerminateSession" => TerminateSession,
            "TerminateUser" => TerminateUser,
            "KillSession" => KillSession,
            "KillUser" => KillUser,
            "LockSession" => LockSession,
            "UnlockSession" => UnlockSession,
            "LockSessions" => LockSessions,
            "UnlockSessions" => UnlockSessions,
            "Inhibit" => Inhibit,
            "ListInhibitors" => ListInhibitors,
            _ => return None,
        },
        (SESSION_IFACE, _) if matches!(object, Object::Session(_)) => match member {
            "Terminate" => Terminate,
            "Kill" => KillThisSession,
            "Lock" => Lock,
            "Unlock" => Unlock,
            "SetLockedHint" => SetLockedHint,
            "SetIdleHint" => SetIdleHint,
            "Activate" => Activate,
            _ => return None,
        },
        (USER_IFACE, _) if matches!(object, Object::User(_)) => match member {
            "Terminate" => Terminate,
            "Kill" => KillThisUser,
            _ => return None,
        },
        _ => return None,
    };
    Some(m)
}

/// Routes a call: the object at `path`, and the method `member` of `interface` (or of whichever
/// of the object's interfaces has it, when the call names none).
pub fn route(path: &str, interface: Option<&str>, member: &str) -> Result<(Object, Method), Miss> {
    let object = object(path);
    let ifaces = object.map_or(&[][..], interfaces);
    bus_route::route(object, ifaces, interface, member, |i, m| {
        object.and_then(|o| method_of(o, i, m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_manager_session_user_and_standard_calls() {
        assert_eq!(
            route("/org/freedesktop/login1", Some(MANAGER_IFACE), "ListSessions"),
            Ok((Object::Manager, Method::ListSessions))
        );
        assert_eq!(
            route("/org/freedesktop/login1/session/_31", Some(SESSION_IFACE), "Kill"),
            Ok((Object::Session(SessionName::Id(1)), Method::KillThisSession))
        );
        assert_eq!(
            route("/org/freedesktop/login1/user/_1000", Some(USER_IFACE), "Kill"),
            Ok((Object::User(UserName::Uid(1000)), Method::KillThisUser))
        );
        assert_eq!(
            route("/org/freedesktop/login1/session/self", None, "Lock"),
            Ok((Object::Session(SessionName::Caller), Method::Lock))
        );
        assert_eq!(
            route(
                "/org/freedesktop/login1/session/auto",
                Some(PROPERTIES_IFACE),
                "GetAll"
            ),
            Ok((
                Object::Session(SessionName::Caller),
                Method::Std(Standard::GetAll)
            ))
        );
        assert_eq!(
            route("/", Some(INTROSPECTABLE_IFACE), "Introspect"),
            Ok((Object::Node(Node::Root), Method::Std(Standard::Introspect)))
        );
    }

    #[test]
    fn misses_are_named_as_d_bus_names_them() {
        assert_eq!(
            route("/org/freedesktop/login1/seat/seat0", None, "Ping"),
            Err(Miss::UnknownObject)
        );
        assert_eq!(
            route("/org/freedesktop/login1/session/_31/x", None, "Lock"),
            Err(Miss::UnknownObject)
        );
        assert_eq!(
            route("/org/freedesktop/login1", Some(SESSION_IFACE), "Lock"),
            Err(Miss::UnknownInterface)
        );
        assert_eq!(
            route("/org/freedesktop/login1", Some(MANAGER_IFACE), "PowerOff"),
            Err(Miss::UnknownMethod)
        );
        assert_eq!(
            route("/org/freedesktop/login1", None, "Suspend"),
            Err(Miss::UnknownMethod)
        );
        assert_eq!(
            route("/org", Some(PROPERTIES_IFACE), "GetAll"),
            Err(Miss::UnknownInterface)
        );
        assert_eq!(
            route("/org/freedesktop/login1/user/_1", Some(USER_IFACE), "Lock"),
            Err(Miss::UnknownMethod)
        );
    }

    #[test]
    fn signatures_are_logind_s() {
        assert_eq!(Method::KillSession.signature(), "ssi");
        assert_eq!(Method::Inhibit.signature(), "ssss");
        assert_eq!(Method::GetSessionByPid.signature(), "u");
        assert_eq!(Method::Std(Standard::Set).signature(), "ssv");
    }
}
