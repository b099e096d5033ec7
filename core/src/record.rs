//! The record of one open login session, as the session agent keeps it, persists it and hands it
//! out over D-Bus.
//!
//! It lives in the core, not in the agent, because both sides of the registration need the same
//! type: the supervisor that opened the PAM session fills it in, the agent stores it, and clients
//! (`vestibulectl`, tests) read it back. It is plain data with serde, so the agent's state file
//! and `vestibulectl --json` have one shape.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One open session: who, where, which processes, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The agent's id for the session (decimal, never reused while the agent's state lives).
    pub id: String,
    /// The account the session runs as (the final PAM_USER).
    pub user: String,
    pub uid: u32,
    /// PAM_TTY (`tty1`, `pts/3`), if any.
    pub tty: Option<String>,
    /// PAM_XDISPLAY of a graphical session, if any.
    pub display: Option<String>,
    /// PAM_RHOST of a remote login, if any.
    pub remote_host: Option<String>,
    /// The PAM service the session was opened with (`vestibule`): a later close must use the same.
    pub service: String,
    /// The session's first process; its process group is the session's.
    pub leader: u32,
    /// The process holding the PAM transaction (the core's supervisor).
    pub supervisor: u32,
    pub class: SessionClass,
    pub state: SessionState,
    /// When the session was registered, in seconds since the Unix epoch.
    pub since: u64,
}

/// What kind of session it is, as logind distinguishes them: a lock screen or greeter is not a
/// user's desktop and is treated differently by "lock all" and "close user".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionClass {
    User,
    Greeter,
    LockScreen,
}

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    Active,
    Locked,
    /// Asked to close; its processes are being ended and its PAM session closed.
    Closing,
}

/// A class or state name that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (expected one of: {expected})")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl SessionClass {
    /// The name used on D-Bus and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionClass::User => "user",
            SessionClass::Greeter => "greeter",
            SessionClass::LockScreen => "lock-screen",
        }
    }
}

impl SessionState {
    /// The name used on D-Bus and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Active => "active",
            SessionState::Locked => "locked",
            SessionState::Closing => "closing",
        }
    }
}

impl FromStr for SessionClass {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "user" => Ok(SessionClass::User),
            "greeter" => Ok(SessionClass::Greeter),
            "lock-screen" => Ok(SessionClass::LockScreen),
            _ => Err(UnknownName {
                what: "session class",
                value: s.chars().take(64).collect(),
                expected: "user, greeter, lock-screen",
            }),
        }
    }
}

impl FromStr for SessionState {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "active" => Ok(SessionState::Active),
            "locked" => Ok(SessionState::Locked),
            "closing" => Ok(SessionState::Closing),
            _ => Err(UnknownName {
                what: "session state",
                value: s.chars().take(64).collect(),
                expected: "active, locked, closing",
            }),
        }
    }
}

impl fmt::Display for SessionClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in [
            SessionClass::User,
            SessionClass::Greeter,
            SessionClass::LockScreen,
        ] {
            assert_eq!(c.as_str().parse::<SessionClass>().unwrap(), c);
        }
        for s in [SessionState::Active, SessionState::Locked, SessionState::Closing] {
            assert_eq!(s.as_str().parse::<SessionState>().unwrap(), s);
        }
        assert!("root".parse::<SessionClass>().is_err());
        assert!("".parse::<SessionState>().is_err());
    }
}
