//! vestibule-agent: the session agent on D-Bus (`org.vestibule.SessionAgent1`) and what its
//! client `vestibulectl` shares with it.
//!
//! Pure logic is kept apart from the bus so it can be unit-tested without one: [`table`] (the
//! sessions), [`authz`] (who may do what), [`validate`] (what a caller may send), [`persist`]
//! (the snapshot and journal). [`procfs`] and [`terminate`] look at and end processes, [`pam_close`] closes
//! a PAM session whose supervisor is gone. [`state`] is what every interface shares, [`ops`] the
//! operations they all call, [`signals`] what announces them, [`error`] what callers get back;
//! [`agent1`] is the agent's own D-Bus API (its manager and per-session objects), [`login1`]
//! logind's interface for existing clients, both served by hand through [`bus`]; [`locker`] the sessions' lock screens, [`wire`] the D-Bus shape of a record, and [`client`] the calling side.

pub mod agent1;
pub mod alloc;
pub mod authz;
pub mod bus;
pub mod client;
pub mod error;
pub mod exits;
pub mod locker;
pub mod login1;
pub mod ops;
pub mod pam_close;
pub mod persist;
pub mod procfs;
pub mod signals;
pub mod state;
pub mod table;
pub mod terminate;
pub mod validate;
pub mod wire;

/// The well-known bus name, object path and interface name (all the same, as logind does).
pub const BUS_NAME: &str = "org.vestibule.SessionAgent1";
pub const OBJECT_PATH: &str = "/org/vestibule/SessionAgent1";
pub const INTERFACE: &str = "org.vestibule.SessionAgent1";
/// Error name for ids the agent does not know.
pub const ERROR_NO_SUCH_SESSION: &str = "org.vestibule.SessionAgent1.Error.NoSuchSession";
/// Error name for `LockSession` on a session that has no lock screen: nothing would cover it.
pub const ERROR_NO_LOCK_SCREEN: &str = "org.vestibule.SessionAgent1.Error.NoLockScreen";
/// Error name for `LockSession` when the lock screen did not report the screen covered (and its
/// input held) within the agent's bound (`--lock-timeout-ms`).
pub const ERROR_NOT_COVERED: &str = "org.vestibule.SessionAgent1.Error.NotCovered";

/// The object path of a session's object (`org.vestibule.SessionAgent1.Session`), also announced
/// in `SessionNew` / `SessionRemoved`. Built from the number, never from a caller's text: a
/// decimal number is always a valid path element, so the path is valid whatever was asked.
pub fn session_path(id: u64) -> String {
    format!("{OBJECT_PATH}/session/{id}")
}
