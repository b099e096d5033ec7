//! The D-Bus shape of a session record: a struct of basic types, `(ssussssuusst)`, because D-Bus
//! has no optional values (an absent tty, display or remote host is the empty string, as in
//! logind) and no enums (class and state travel as their names).

use serde::{Deserialize, Serialize};
use vestibule_core::record::{SessionRecord, UnknownName};
use zbus::zvariant::Type;

/// One entry of `ListSessions`, and the reply of `GetSession` / `GetSessionByPid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct WireSession {
    pub id: String,
    pub user: String,
    pub uid: u32,
    pub tty: String,
    pub display: String,
    pub remote_host: String,
    pub service: String,
    pub leader: u32,
    pub supervisor: u32,
    pub class: String,
    pub state: String,
    pub since: u64,
}

impl From<&SessionRecord> for WireSession {
    fn from(r: &SessionRecord) -> WireSession {
        WireSession {
            id: r.id.clone(),
            user: r.user.clone(),
            uid: r.uid,
            tty: r.tty.clone().unwrap_or_default(),
            display: r.display.clone().unwrap_or_default(),
            remote_host: r.remote_host.clone().unwrap_or_default(),
            service: r.service.clone(),
            leader: r.leader,
            supervisor: r.supervisor,
            class: r.class.as_str().to_owned(),
            state: r.state.as_str().to_owned(),
            since: r.since,
        }
    }
}

impl TryFrom<WireSession> for SessionRecord {
    type Error = UnknownName;

    fn try_from(w: WireSession) -> Result<SessionRecord, UnknownName> {
        let opt = |s: String| (!s.is_empty()).then_some(s);
        Ok(SessionRecord {
            class: w.class.parse()?,
            state: w.state.parse()?,
            id: w.id,
            user: w.user,
            uid: w.uid,
            tty: opt(w.tty),
            display: opt(w.display),
            remote_host: opt(w.remote_host),
            service: w.service,
            leader: w.leader,
            supervisor: w.supervisor,
            since: w.since,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_core::record::{SessionClass, SessionState};

    #[test]
    fn signature_is_a_flat_struct() {
        assert_eq!(WireSession::signature().as_str(), "(ssussssuusst)");
    }

    #[test]
    fn empty_strings_are_absent_values() {
        let r = SessionRecord {
            id: "4".into(),
            user: "alice".into(),
            uid: 1000,
            tty: Some("tty3".into()),
            display: None,
            remote_host: None,
            service: "vestibule".into(),
            leader: 10,
            supervisor: 9,
            class: SessionClass::LockScreen,
            state: SessionState::Locked,
            since: 1_700_000_000,
        };
        let w = WireSession::from(&r);
        assert_eq!(w.display, "");
        assert_eq!(w.class, "lock-screen");
        assert_eq!(SessionRecord::try_from(w).unwrap(), r);
    }
}
