//! Which handler a method call goes to: the object (from the path), the method (from the
//! interface and member; a call without an interface is matched on the member, as the D-Bus
//! specification allows) and the argument signature it must carry. Pure: whether a session or
//! user exists is the dispatcher's question, asked of the table.

use super::path::{self, SessionName, UserName};

pub const MANAGER_IFACE: &str = "org.freedesktop.login1.Manager";
pub const SESSION_IFACE: &str = "org.freedesktop.login1.Session";
pub const USER_IFACE: &str = "org.freedesktop.login1.User";
pub const PROPERTIES_IFACE: &str = "org.freedesktop.DBus.Properties";
pub const INTROSPECTABLE_IFACE: &str = "org.freedesktop.DBus.Introspectable";
pub const PEER_IFACE: &str = "org.freedesktop.DBus.Peer";

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
    Get,
    GetAll,
    Set,
    Introspect,
    Ping,
    GetMachineId,
}

impl Method {
    /// The signature of the arguments the method takes.
    pub fn signature(self) -> &'static str {
        use Method::*;
        match self {
            ListSessions | ListUsers | LockSessions | UnlockSessions | ListInhibitors | Terminate | Lock
            | Unlock | Activate | Introspect | Ping | GetMachineId => "",
            GetSession | TerminateSession | LockSession | UnlockSession | GetAll => "s",
            GetSessionByPid | GetUser | GetUserByPid | TerminateUser => "u",
            KillSession => "ssi",
            KillUser => "ui",
            Inhibit => "ssss",
            KillThisSession => "si",
            KillThisUser => "i",
            SetLockedHint | SetIdleHint => "b",
            Get => "ss",
            Set => "ssv",
        }
    }
}

/// Why a call has no handler, as the D-Bus errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    UnknownObject,
    UnknownInterface,
    UnknownMethod,
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
    let m = match (interface, member) {
        (PROPERTIES_IFACE, "Get") => Get,
        (PROPERTIES_IFACE, "GetAll") => GetAll,
        (PROPERTIES_IFACE, "Set") => Set,
        (INTROSPECTABLE_IFACE, "Introspect") => Introspect,
        (PEER_IFACE, "Ping") => Ping,
        (PEER_IFACE, "GetMachineId") => GetMachineId,
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
    let object = object(path).ok_or(Miss::UnknownObject)?;
    let ifaces = interfaces(object);
    match interface {
        Some(i) => {
            if !ifaces.contains(&i) {
                return Err(Miss::UnknownInterface);
            }
            method_of(object, i, member)
                .map(|m| (object, m))
                .ok_or(Miss::UnknownMethod)
        }
        None => ifaces
            .iter()
            .find_map(|i| method_of(object, i, member))
            .map(|m| (object, m))
            .ok_or(Miss::UnknownMethod),
    }
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
            Ok((Object::Session(SessionName::Caller), Method::GetAll))
        );
        assert_eq!(
            route("/", Some(INTROSPECTABLE_IFACE), "Introspect"),
            Ok((Object::Node(Node::Root), Method::Introspect))
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
        assert_eq!(Method::Set.signature(), "ssv");
    }
}
