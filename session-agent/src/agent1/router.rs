//! Which handler a call to the agent's own API goes to: the object (the manager at
//! `/org/vestibule/SessionAgent1`, a session at `…/session/<id>`, or a node on the way to them)
//! and the method, with the argument signature it takes. Pure: whether a session exists is the
//! dispatcher's question, asked of the table.

use crate::bus::route::{self, Miss, Standard, INTROSPECTABLE_IFACE, PEER_IFACE, PROPERTIES_IFACE};
use crate::signals::SESSION_INTERFACE;
use crate::validate;
use crate::{INTERFACE, OBJECT_PATH};

/// The object a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Manager,
    /// A session object, by id; canonical decimal only (`…/session/05` names nothing), as ids are
    /// everywhere else.
    Session(u64),
    /// A node on the way to the objects: introspectable and pingable, nothing else.
    Node(Node),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Root,
    Org,
    Vestibule,
    /// `…/SessionAgent1/session`, whose children are the sessions.
    Sessions,
}

/// The methods served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    RegisterSession,
    UnregisterSession,
    ListSessions,
    GetSession,
    GetSessionByPid,
    GetSessionPath,
    GetSessionPathByPid,
    CloseSession,
    CloseUser,
    LockSession,
    UnlockSession,
    SetLocker,
    ReportLocked,
    LockAll,
    /// A session object's `Terminate`, `Lock`, `Unlock`.
    Terminate,
    Lock,
    Unlock,
    Std(Standard),
}

impl Method {
    /// The signature of the arguments the method takes.
    pub fn signature(self) -> &'static str {
        use Method::*;
        match self {
            Std(s) => s.signature(),
            RegisterSession => "sussssuus",
            ListSessions | LockAll | Terminate | Lock | Unlock => "",
            UnregisterSession | GetSession | GetSessionPath | CloseSession | LockSession | UnlockSession
            | SetLocker | ReportLocked => "s",
            GetSessionByPid | GetSessionPathByPid | CloseUser => "u",
        }
    }
}

pub const SESSION_DIR: &str = "/org/vestibule/SessionAgent1/session";

/// The object at `path`, or `None`.
pub fn object(path: &str) -> Option<Object> {
    Some(match path {
        "/" => Object::Node(Node::Root),
        "/org" => Object::Node(Node::Org),
        "/org/vestibule" => Object::Node(Node::Vestibule),
        OBJECT_PATH => Object::Manager,
        SESSION_DIR => Object::Node(Node::Sessions),
        _ => {
            let id = path.strip_prefix(SESSION_DIR)?.strip_prefix('/')?;
            Object::Session(validate::session_id(id).ok()?)
        }
    })
}

/// The interfaces an object has, in the order introspection lists them.
pub fn interfaces(object: Object) -> &'static [&'static str] {
    match object {
        Object::Manager => &[INTERFACE, PROPERTIES_IFACE, INTROSPECTABLE_IFACE, PEER_IFACE],
        Object::Session(_) => &[
            SESSION_INTERFACE,
            PROPERTIES_IFACE,
            INTROSPECTABLE_IFACE,
            PEER_IFACE,
        ],
        Object::Node(_) => &[INTROSPECTABLE_IFACE, PEER_IFACE],
    }
}

fn method_of(object: Object, interface: &str, member: &str) -> Option<Method> {
    use Method::*;
    if let Some(s) = Standard::of(interface, member) {
        return Some(Std(s));
    }
    Some(match (object, interface) {
        (Object::Manager, INTERFACE) => match member {
            "RegisterSession" => RegisterSession,
            "UnregisterSession" => UnregisterSession,
            "ListSessions" => ListSessions,
            "GetSession" => GetSession,
            "GetSessionByPid" => GetSessionByPid,
            "GetSessionPath" => GetSessionPath,
            "GetSessionPathByPid" => GetSessionPathByPid,
            "CloseSession" => CloseSession,
            "CloseUser" => CloseUser,
            "LockSession" => LockSession,
            "UnlockSession" => UnlockSession,
            "SetLocker" => SetLocker,
            "ReportLocked" => ReportLocked,
            "LockAll" => LockAll,
            _ => return None,
        },
        (Object::Session(_), SESSION_INTERFACE) => match member {
            "Terminate" => Terminate,
            "Lock" => Lock,
            "Unlock" => Unlock,
            _ => return None,
        },
        _ => return None,
    })
}

/// Routes a call: the object at `path`, and the method `member` of `interface` (or of whichever
/// of the object's interfaces has it, when the call names none).
pub fn route(path: &str, interface: Option<&str>, member: &str) -> Result<(Object, Method), Miss> {
    let object = object(path);
    let ifaces = object.map_or(&[][..], interfaces);
    route::route(object, ifaces, interface, member, |i, m| {
        object.and_then(|o| method_of(o, i, m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_manager_sessions_and_nodes() {
        assert_eq!(
            route(OBJECT_PATH, Some(INTERFACE), "ListSessions"),
            Ok((Object::Manager, Method::ListSessions))
        );
        assert_eq!(
            route("/org/vestibule/SessionAgent1/session/12", None, "Lock"),
            Ok((Object::Session(12), Method::Lock))
        );
        assert_eq!(
            route(SESSION_DIR, Some(INTROSPECTABLE_IFACE), "Introspect"),
            Ok((Object::Node(Node::Sessions), Method::Std(Standard::Introspect)))
        );
        assert_eq!(
            route(
                "/org/vestibule/SessionAgent1/session/3",
                Some(PROPERTIES_IFACE),
                "GetAll"
            ),
            Ok((Object::Session(3), Method::Std(Standard::GetAll)))
        );
    }

    #[test]
    fn only_canonical_ids_name_a_session() {
        for bad in ["05", "+5", "00", "", "5/x", "x", "99999999999999999999999"] {
            assert_eq!(object(&format!("{SESSION_DIR}/{bad}")), None, "{bad}");
        }
    }

    #[test]
    fn misses_are_named_as_d_bus_names_them() {
        assert_eq!(
            route("/org/vestibule/Other", None, "Ping"),
            Err(Miss::UnknownObject)
        );
        assert_eq!(
            route(OBJECT_PATH, Some(SESSION_INTERFACE), "Lock"),
            Err(Miss::UnknownInterface)
        );
        // Lock is the manager's signal, not a method of it.
        assert_eq!(route(OBJECT_PATH, None, "Lock"), Err(Miss::UnknownMethod));
        assert_eq!(
            route(OBJECT_PATH, Some(INTERFACE), "NoSuchMethod"),
            Err(Miss::UnknownMethod)
        );
        assert_eq!(
            route("/org", Some(PROPERTIES_IFACE), "GetAll"),
            Err(Miss::UnknownInterface)
        );
    }

    #[test]
    fn signatures_are_the_documented_ones() {
        assert_eq!(Method::RegisterSession.signature(), "sussssuus");
        assert_eq!(Method::CloseUser.signature(), "u");
        assert_eq!(Method::ListSessions.signature(), "");
        assert_eq!(Method::Std(Standard::Get).signature(), "ss");
    }
}
