//! Which handler a method call goes to: the object (from the path), the method (from the
//! interface and member; a call without an interface is matched on the member, as the D-Bus
//! specification allows) and the argument signature it must carry. Each dispatcher says which
//! objects and methods it has; the matching and the errors for a miss are here.

use zbus::fdo;
use zbus::message::Message;

pub const PROPERTIES_IFACE: &str = "org.freedesktop.DBus.Properties";
pub const INTROSPECTABLE_IFACE: &str = "org.freedesktop.DBus.Introspectable";
pub const PEER_IFACE: &str = "org.freedesktop.DBus.Peer";

/// The standard methods every object has (nodes on the way to objects: only the last three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standard {
    Get,
    GetAll,
    Set,
    Introspect,
    Ping,
    GetMachineId,
}

impl Standard {
    /// The standard method `member` of `interface`, if it is one.
    pub fn of(interface: &str, member: &str) -> Option<Standard> {
        Some(match (interface, member) {
            (PROPERTIES_IFACE, "Get") => Standard::Get,
            (PROPERTIES_IFACE, "GetAll") => Standard::GetAll,
            (PROPERTIES_IFACE, "Set") => Standard::Set,
            (INTROSPECTABLE_IFACE, "Introspect") => Standard::Introspect,
            (PEER_IFACE, "Ping") => Standard::Ping,
            (PEER_IFACE, "GetMachineId") => Standard::GetMachineId,
            _ => return None,
        })
    }

    pub fn signature(self) -> &'static str {
        match self {
            Standard::Get => "ss",
            Standard::GetAll => "s",
            Standard::Set => "ssv",
            Standard::Introspect | Standard::Ping | Standard::GetMachineId => "",
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

impl Miss {
    /// The error the caller gets, naming what it asked for.
    pub fn error(self, path: &str, interface: Option<&str>, member: &str) -> fdo::Error {
        let interface = interface.unwrap_or("");
        match self {
            Miss::UnknownObject => fdo::Error::UnknownObject(format!("Unknown object '{path}'.")),
            Miss::UnknownInterface => {
                fdo::Error::UnknownInterface(format!("Unknown interface {interface} on {path}"))
            }
            Miss::UnknownMethod => {
                fdo::Error::UnknownMethod(format!("Unknown method {member} or interface {interface}."))
            }
        }
    }
}

/// Routes a call to `object` (`None`: no object at the path), which has `interfaces`: the method
/// `member` of `interface`, or of whichever of the object's interfaces has it when the call names
/// none. `method_of(interface, member)` is the dispatcher's table for that object.
pub fn route<O: Copy, M>(
    object: Option<O>,
    interfaces: &[&str],
    interface: Option<&str>,
    member: &str,
    method_of: impl Fn(&str, &str) -> Option<M>,
) -> Result<(O, M), Miss> {
    let object = object.ok_or(Miss::UnknownObject)?;
    match interface {
        Some(i) => {
            if !interfaces.contains(&i) {
                return Err(Miss::UnknownInterface);
            }
            method_of(i, member)
                .map(|m| (object, m))
                .ok_or(Miss::UnknownMethod)
        }
        None => interfaces
            .iter()
            .find_map(|i| method_of(i, member))
            .map(|m| (object, m))
            .ok_or(Miss::UnknownMethod),
    }
}

/// Refuses a call whose arguments are not of the type the method takes, before it runs.
pub fn check_signature(msg: &Message, member: &str, expected: &str) -> fdo::Result<()> {
    let body = msg.body();
    // zbus 5 parses a body signature of several types as one structure, so "ssi" and "(ssi)"
    // compare (and print, without the parentheses) alike: the bytes of both are the same.
    let sig = body.signature();
    if *sig != expected {
        return Err(fdo::Error::InvalidArgs(format!(
            "{member} takes arguments of type '{expected}', not '{}'",
            sig.to_string_no_parens()
        )));
    }
    Ok(())
}

/// The call's arguments (their signature checked already).
pub fn args<T>(msg: &Message) -> fdo::Result<T>
where
    T: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    msg.body()
        .deserialize::<T>()
        .map_err(|e| fdo::Error::InvalidArgs(format!("bad arguments: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IFACES: &[&str] = &["x.Thing", PROPERTIES_IFACE, PEER_IFACE];

    fn table(interface: &str, member: &str) -> Option<&'static str> {
        match (interface, member) {
            ("x.Thing", "Do") => Some("do"),
            (i, m) => Standard::of(i, m).map(|_| "standard"),
        }
    }

    #[test]
    fn a_call_goes_to_the_named_interface_or_to_whichever_has_the_member() {
        assert_eq!(
            route(Some(1), IFACES, Some("x.Thing"), "Do", table),
            Ok((1, "do"))
        );
        assert_eq!(route(Some(1), IFACES, None, "Do", table), Ok((1, "do")));
        assert_eq!(route(Some(1), IFACES, None, "Ping", table), Ok((1, "standard")));
    }

    #[test]
    fn misses_are_named_as_d_bus_names_them() {
        assert_eq!(
            route(None::<u8>, IFACES, None, "Do", table),
            Err(Miss::UnknownObject)
        );
        assert_eq!(
            route(Some(1), IFACES, Some("x.Other"), "Do", table),
            Err(Miss::UnknownInterface)
        );
        assert_eq!(
            route(Some(1), IFACES, Some(INTROSPECTABLE_IFACE), "Introspect", table),
            Err(Miss::UnknownInterface)
        );
        assert_eq!(
            route(Some(1), IFACES, Some("x.Thing"), "Undo", table),
            Err(Miss::UnknownMethod)
        );
        assert_eq!(
            route(Some(1), IFACES, None, "Undo", table),
            Err(Miss::UnknownMethod)
        );
        let e = Miss::UnknownObject.error("/a/b", None, "Do");
        assert_eq!(
            zbus::DBusError::name(&e).as_str(),
            "org.freedesktop.DBus.Error.UnknownObject"
        );
    }
}
