//! `org.freedesktop.DBus.Properties` over an object's properties as a table of values: the
//! dispatcher builds the table (after checking the caller may see the object) and these answer
//! `Get`, `GetAll` and `Set` from it. Every property the agent serves is read-only.

use std::collections::BTreeMap;

use zbus::fdo;
use zbus::message::Message;
use zbus::zvariant::{OwnedValue, Value};

use super::route::{args, Standard};

/// An object's properties, in the order introspection lists them.
pub type Props = Vec<(&'static str, Value<'static>)>;

/// The D-Bus type of a property's value, as introspection shows it.
pub fn signature(value: &Value<'_>) -> String {
    value.value_signature().to_string()
}

/// `Get(interface, name)` on an object whose properties, `props`, are `own`'s. An empty
/// interface means "whichever has it", as the specification allows.
pub fn get(own: &str, props: Props, interface: &str, name: &str) -> fdo::Result<Value<'static>> {
    if !interface.is_empty() && interface != own {
        return Err(fdo::Error::UnknownInterface(format!(
            "Unknown interface '{interface}'."
        )));
    }
    props
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .ok_or_else(|| fdo::Error::UnknownProperty(format!("Unknown property '{name}'.")))
}

/// `GetAll(interface)`: `own`'s properties for `own` or `""` (loginctl show-session sends the
/// empty name), none for another of the object's `interfaces`, an error for any other.
pub fn get_all(
    own: &str,
    props: Props,
    interfaces: &[&str],
    interface: &str,
) -> fdo::Result<BTreeMap<&'static str, Value<'static>>> {
    if interface.is_empty() || interface == own {
        Ok(props.into_iter().collect())
    } else if interfaces.contains(&interface) {
        Ok(BTreeMap::new())
    } else {
        Err(fdo::Error::UnknownInterface(format!(
            "Unknown interface '{interface}'."
        )))
    }
}

/// `Set(interface, name, value)`: refused, read-only for a property there is, unknown otherwise.
pub fn set(props: &Props, name: &str) -> fdo::Error {
    if props.iter().any(|(n, _)| *n == name) {
        fdo::Error::PropertyReadOnly(format!("Property '{name}' is not writable."))
    } else {
        fdo::Error::UnknownProperty(format!("Unknown property '{name}'."))
    }
}

/// Answers `call`, a `Properties` method (`Get`, `GetAll`, `Set`; its signature checked already)
/// on an object with `interfaces` whose properties, `props`, are `own`'s: the reply to send.
pub fn answer(
    call: &Message,
    method: Standard,
    own: &str,
    props: Props,
    interfaces: &[&str],
) -> fdo::Result<Message> {
    let hdr = call.header();
    let reply = Message::method_return(&hdr);
    let built = match method {
        Standard::Get => {
            let (interface, name): (String, String) = args(call)?;
            let value = get(own, props, &interface, &name)?;
            reply.and_then(|r| r.build(&(value,)))
        }
        Standard::GetAll => {
            let interface: String = args(call)?;
            let all = get_all(own, props, interfaces, &interface)?;
            reply.and_then(|r| r.build(&(all,)))
        }
        Standard::Set => {
            let (_, name, _): (String, String, OwnedValue) = args(call)?;
            return Err(set(&props, &name));
        }
        other => {
            return Err(fdo::Error::UnknownMethod(format!(
                "{other:?} is not a Properties method"
            )))
        }
    };
    built.map_err(|e| fdo::Error::Failed(format!("building the reply: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::DBusError;

    fn props() -> Props {
        vec![("Id", Value::from("1")), ("Uid", Value::from(1000u32))]
    }

    #[test]
    fn get_reads_one_value_of_the_objects_interface() {
        assert_eq!(get("x.S", props(), "x.S", "Uid").unwrap(), Value::from(1000u32));
        assert_eq!(get("x.S", props(), "", "Id").unwrap(), Value::from("1"));
        let e = get("x.S", props(), "x.S", "Password").unwrap_err();
        assert_eq!(e.name().as_str(), "org.freedesktop.DBus.Error.UnknownProperty");
        let e = get("x.S", props(), "x.Other", "Id").unwrap_err();
        assert_eq!(e.name().as_str(), "org.freedesktop.DBus.Error.UnknownInterface");
    }

    #[test]
    fn get_all_answers_for_the_own_empty_and_other_interfaces() {
        let ifaces = ["x.S", "org.freedesktop.DBus.Peer"];
        assert_eq!(get_all("x.S", props(), &ifaces, "").unwrap().len(), 2);
        assert_eq!(get_all("x.S", props(), &ifaces, "x.S").unwrap().len(), 2);
        assert!(get_all("x.S", props(), &ifaces, "org.freedesktop.DBus.Peer")
            .unwrap()
            .is_empty());
        assert!(get_all("x.S", props(), &ifaces, "x.Nope").is_err());
    }

    #[test]
    fn set_is_refused_with_the_standard_errors() {
        assert_eq!(
            set(&props(), "Id").name().as_str(),
            "org.freedesktop.DBus.Error.PropertyReadOnly"
        );
        assert_eq!(
            set(&props(), "Nope").name().as_str(),
            "org.freedesktop.DBus.Error.UnknownProperty"
        );
        assert_eq!(signature(&Value::from(1u32)), "u");
    }
}
