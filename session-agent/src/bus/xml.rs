//! Introspection XML (`org.freedesktop.DBus.Introspectable`) from pieces: an interface's
//! properties come from the same table `Get` answers from ([`super::props`]), so the types
//! introspection shows are the types a client gets; methods and signals are each dispatcher's
//! text; the standard interfaces are here.

use super::props::{self, Props};

const DOCTYPE: &str = "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n";

const STANDARD: &str = r#" <interface name="org.freedesktop.DBus.Peer">
  <method name="Ping"/>
  <method name="GetMachineId"><arg type="s" name="machine_uuid" direction="out"/></method>
 </interface>
 <interface name="org.freedesktop.DBus.Introspectable">
  <method name="Introspect"><arg name="xml_data" type="s" direction="out"/></method>
 </interface>
"#;

const PROPERTIES: &str = r#" <interface name="org.freedesktop.DBus.Properties">
  <method name="Get"><arg name="interface_name" direction="in" type="s"/><arg name="property_name" direction="in" type="s"/><arg name="value" direction="out" type="v"/></method>
  <method name="GetAll"><arg name="interface_name" direction="in" type="s"/><arg name="props" direction="out" type="a{sv}"/></method>
  <method name="Set"><arg name="interface_name" direction="in" type="s"/><arg name="property_name" direction="in" type="s"/><arg name="value" direction="in" type="v"/></method>
  <signal name="PropertiesChanged"><arg type="s" name="interface_name"/><arg type="a{sv}" name="changed_properties"/><arg type="as" name="invalidated_properties"/></signal>
 </interface>
"#;

/// Whether a property announces its changes (`PropertiesChanged`), as its annotation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changes {
    /// Never changes.
    Const,
    /// Changes, announced with its new value.
    Signalled,
    /// May change, never announced: clients that cache properties (GDBus proxies) must ask again.
    Unsignalled,
}

/// One object's document, built interface by interface.
pub struct Doc(String);

impl Doc {
    pub fn new() -> Doc {
        let mut out = String::from(DOCTYPE);
        out.push_str("<node>\n");
        Doc(out)
    }

    /// An interface: its properties (`changes(name)` says how each changes), then `members`
    /// (methods and signals, already XML); followed by `org.freedesktop.DBus.Properties`.
    pub fn interface(
        mut self,
        name: &str,
        props: &Props,
        changes: impl Fn(&str) -> Changes,
        members: &str,
    ) -> Doc {
        self.0.push_str(&format!(" <interface name=\"{name}\">\n"));
        for (prop, value) in props {
            let value_of = match changes(prop) {
                Changes::Const => "const",
                Changes::Signalled => "true",
                Changes::Unsignalled => "false",
            };
            self.0.push_str(&format!(
                "  <property name=\"{prop}\" type=\"{}\" access=\"read\"><annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"{value_of}\"/></property>\n",
                props::signature(value)
            ));
        }
        self.0.push_str(members);
        self.0.push_str(" </interface>\n");
        self.0.push_str(PROPERTIES);
        self
    }

    /// Child nodes (their names, already path elements).
    pub fn children<S: AsRef<str>>(mut self, names: &[S]) -> Doc {
        for n in names {
            self.0.push_str(&format!(" <node name=\"{}\"/>\n", n.as_ref()));
        }
        self
    }

    /// The document, with the standard interfaces every object has.
    pub fn finish(mut self) -> String {
        self.0.push_str(STANDARD);
        self.0.push_str("</node>\n");
        self.0
    }
}

impl Default for Doc {
    fn default() -> Doc {
        Doc::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value;

    #[test]
    fn an_interface_lists_its_properties_with_their_types_and_annotations() {
        let props: Props = vec![("Id", Value::from("1")), ("VTNr", Value::from(2u32))];
        let changes = |n: &str| {
            if n == "Id" {
                Changes::Const
            } else {
                Changes::Unsignalled
            }
        };
        let x = Doc::new()
            .interface("x.Session", &props, changes, "  <signal name=\"Lock\"/>\n")
            .finish();
        assert!(x.starts_with("<!DOCTYPE node"));
        assert!(x.contains("<interface name=\"x.Session\">"));
        assert!(x.contains("<property name=\"VTNr\" type=\"u\" access=\"read\"><annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"false\"/>"));
        assert!(x.contains("<property name=\"Id\" type=\"s\" access=\"read\"><annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"const\"/>"));
        assert!(x.contains("<signal name=\"Lock\"/>"));
        assert!(x.contains("<interface name=\"org.freedesktop.DBus.Properties\">"));
        assert!(x.contains("<interface name=\"org.freedesktop.DBus.Peer\">"));
        assert!(x.trim_end().ends_with("</node>"));
        assert_eq!(
            x.matches("<interface ").count(),
            x.matches("</interface>").count()
        );
    }

    #[test]
    fn nodes_list_their_children_and_nothing_else() {
        let x = Doc::new().children(&["_31", "_32"]).finish();
        assert!(x.contains("<node name=\"_31\"/>"));
        assert!(!x.contains("org.freedesktop.DBus.Properties"));
    }
}
