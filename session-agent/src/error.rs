//! The errors a caller of the agent can get back, with their D-Bus names:
//! `org.freedesktop.DBus.Error.AccessDenied` (with who, what and why),
//! `org.freedesktop.DBus.Error.InvalidArgs` (what was wrong with which argument),
//! `org.vestibule.SessionAgent1.Error.NoSuchSession`, `…NoLockScreen`, `…NotCovered`, and
//! `org.freedesktop.DBus.Error.Failed` when the agent could not do what was allowed.

use zbus::message::{Header, Message};
use zbus::names::ErrorName;
use zbus::DBusError;

use crate::authz;
use crate::table::TableError;
use crate::validate::Invalid;
use crate::{ERROR_NOT_COVERED, ERROR_NO_LOCK_SCREEN, ERROR_NO_SUCH_SESSION};

/// The errors a caller can get back.
#[derive(Debug)]
pub enum AgentError {
    AccessDenied(String),
    InvalidArgs(String),
    NoSuchSession(String),
    NoLockScreen(String),
    NotCovered(String),
    Failed(String),
    /// The standard errors of `org.freedesktop.DBus.Properties` (unknown or read-only property).
    Fdo(zbus::fdo::Error),
    ZBus(zbus::Error),
}

impl DBusError for AgentError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<zbus::message::Message> {
        let desc = self.description().unwrap_or_default().to_owned();
        Message::error(call, self.name())?.build(&(desc,))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_static_str_unchecked(match self {
            AgentError::AccessDenied(_) => "org.freedesktop.DBus.Error.AccessDenied",
            AgentError::InvalidArgs(_) => "org.freedesktop.DBus.Error.InvalidArgs",
            AgentError::NoSuchSession(_) => ERROR_NO_SUCH_SESSION,
            AgentError::NoLockScreen(_) => ERROR_NO_LOCK_SCREEN,
            AgentError::NotCovered(_) => ERROR_NOT_COVERED,
            AgentError::Failed(_) | AgentError::ZBus(_) => "org.freedesktop.DBus.Error.Failed",
            AgentError::Fdo(e) => return e.name(),
        })
    }

    fn description(&self) -> Option<&str> {
        match self {
            AgentError::AccessDenied(s)
            | AgentError::InvalidArgs(s)
            | AgentError::NoSuchSession(s)
            | AgentError::NoLockScreen(s)
            | AgentError::NotCovered(s)
            | AgentError::Failed(s) => Some(s),
            AgentError::Fdo(e) => e.description(),
            AgentError::ZBus(_) => Some("internal D-Bus error in the agent"),
        }
    }
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::ZBus(e) => write!(f, "{}: {e}", self.name()),
            _ => write!(f, "{}: {}", self.name(), self.description().unwrap_or_default()),
        }
    }
}

impl std::error::Error for AgentError {}

impl From<zbus::fdo::Error> for AgentError {
    fn from(e: zbus::fdo::Error) -> AgentError {
        AgentError::Fdo(e)
    }
}

impl From<zbus::Error> for AgentError {
    fn from(e: zbus::Error) -> AgentError {
        AgentError::ZBus(e)
    }
}

impl From<Invalid> for AgentError {
    fn from(e: Invalid) -> AgentError {
        AgentError::InvalidArgs(e.to_string())
    }
}

impl From<authz::Denied> for AgentError {
    fn from(e: authz::Denied) -> AgentError {
        AgentError::AccessDenied(e.to_string())
    }
}

impl From<TableError> for AgentError {
    fn from(e: TableError) -> AgentError {
        match e {
            TableError::NoSuchSession(_) => AgentError::NoSuchSession(e.to_string()),
            TableError::Closing(_) | TableError::Full => AgentError::Failed(e.to_string()),
        }
    }
}

pub(crate) type Reply<T> = Result<T, AgentError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_the_documented_ones() {
        assert_eq!(
            AgentError::AccessDenied("x".into()).name().as_str(),
            "org.freedesktop.DBus.Error.AccessDenied"
        );
        assert_eq!(
            AgentError::from(Invalid::Empty { what: "user" }).name().as_str(),
            "org.freedesktop.DBus.Error.InvalidArgs"
        );
        let e = AgentError::from(TableError::NoSuchSession("9".into()));
        assert_eq!(e.name().as_str(), ERROR_NO_SUCH_SESSION);
        assert_eq!(e.description(), Some("no session with id 9"));
    }
}
