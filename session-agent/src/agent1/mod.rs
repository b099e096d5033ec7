//! The agent's own D-Bus API, `org.vestibule.SessionAgent1`: the manager ([`manager`]) and one
//! object per session ([`session`]), served by hand ([`dispatch`], routed by [`router`]) on the
//! connection that owns the agent's name — no zbus object server, so no memory per session
//! beyond its table entry (see [`crate::bus`]).

pub mod dispatch;
pub mod manager;
pub mod router;
pub mod session;
