//! The properties of login1's objects, name → value with logind's exact D-Bus types (sd-bus
//! clients read them with fixed signatures: a `u` where logind has `u`, `(so)` for a seat). Built
//! from a session record and the session's hints, pure, so the table is tested without a bus.
//!
//! What the agent does not have is given as logind gives it for "none": `Scope` and `Slice` are
//! `""` (no systemd units here), `Audit` is 0, the seat of a session without VT or display is
//! `("", "/")`, `Linger` is false.

use vestibule_core::record::{SessionClass, SessionRecord, SessionState};
use zbus::zvariant::{ObjectPath, Value};

use super::path;

/// What login1 knows of a session beyond its record: the hints its processes set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// Set by the session's own locker (`SetLockedHint`); cleared by an unlock.
    pub locked: bool,
    pub idle: bool,
    /// When `idle` last changed, in µs (realtime, monotonic); 0 if never.
    pub idle_since: (u64, u64),
}

/// The two clocks logind's timestamps are in, at the time of the call (µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub realtime: u64,
    pub monotonic: u64,
}

impl Clock {
    pub fn now() -> Clock {
        use rustix::time::{clock_gettime, ClockId};
        let us = |id| {
            let t = clock_gettime(id);
            t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1_000
        };
        Clock {
            realtime: us(ClockId::Realtime),
            monotonic: us(ClockId::Monotonic),
        }
    }

    /// A realtime timestamp (µs) on the monotonic clock, as far as the clocks tell now.
    pub fn monotonic_of(&self, realtime: u64) -> u64 {
        self.monotonic
            .saturating_sub(self.realtime.saturating_sub(realtime))
    }
}

pub use crate::bus::props::{signature, Props};

/// The VT number of `tty1` … `tty63`; 0 for anything else (a pty, none).
pub fn vt_number(tty: Option<&str>) -> u32 {
    tty.and_then(|t| t.strip_prefix("tty"))
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..64).contains(n))
        .unwrap_or(0)
}

/// The seat a session is on: `seat0` when it has a VT or a display, none otherwise.
pub fn seat(record: &SessionRecord) -> (&'static str, &'static str) {
    if vt_number(record.tty.as_deref()) > 0 || record.display.is_some() {
        ("seat0", path::SEAT0)
    } else {
        ("", "/")
    }
}

/// logind's session type from what the record has.
pub fn session_type(record: &SessionRecord) -> &'static str {
    if record.display.is_some() {
        "x11"
    } else if record.tty.is_some() {
        "tty"
    } else {
        "unspecified"
    }
}

/// logind's session class names.
pub fn class(class: SessionClass) -> &'static str {
    match class {
        SessionClass::User => "user",
        SessionClass::Greeter => "greeter",
        SessionClass::LockScreen => "lock-screen",
    }
}

/// logind's session states: a locked session is still `active` (locking is a hint there).
pub fn state(state: SessionState) -> &'static str {
    match state {
        SessionState::Closing => "closing",
        _ => "active",
    }
}

/// `LockedHint`: what the session's locker said, or Vestibule's lock screen covering it.
pub fn locked_hint(record: &SessionRecord, hints: &Hints) -> bool {
    hints.locked || record.state == SessionState::Locked
}

/// Every property of `org.freedesktop.login1.Session` for `record`.
pub fn session(record: &SessionRecord, hints: &Hints, clock: &Clock) -> Props {
    let since = record.since.saturating_mul(1_000_000);
    let (seat_id, seat_path) = seat(record);
    vec![
        ("Id", Value::from(record.id.clone())),
        (
            "User",
            Value::from((
                record.uid,
                ObjectPath::try_from(path::user(record.uid)).expect("valid"),
            )),
        ),
        ("Name", Value::from(record.user.clone())),
        ("Timestamp", Value::from(since)),
        ("TimestampMonotonic", Value::from(clock.monotonic_of(since))),
        ("VTNr", Value::from(vt_number(record.tty.as_deref()))),
        (
            "Seat",
            Value::from((seat_id, ObjectPath::from_static_str_unchecked(seat_path))),
        ),
        ("TTY", Value::from(record.tty.clone().unwrap_or_default())),
        ("Display", Value::from(record.display.clone().unwrap_or_default())),
        ("Remote", Value::from(record.remote_host.is_some())),
        (
            "RemoteHost",
            Value::from(record.remote_host.clone().unwrap_or_default()),
        ),
        ("RemoteUser", Value::from(String::new())),
        ("Service", Value::from(record.service.clone())),
        ("Desktop", Value::from(String::new())),
        ("Scope", Value::from(String::new())),
        ("Leader", Value::from(record.leader)),
        ("Audit", Value::from(0u32)),
        ("Type", Value::from(session_type(record))),
        ("Class", Value::from(class(record.class))),
        ("Active", Value::from(record.state != SessionState::Closing)),
        ("State", Value::from(state(record.state))),
        ("IdleHint", Value::from(hints.idle)),
        ("IdleSinceHint", Value::from(hints.idle_since.0)),
        ("IdleSinceHintMonotonic", Value::from(hints.idle_since.1)),
        ("LockedHint", Value::from(locked_hint(record, hints))),
    ]
}

/// What a user object is made of: the user's sessions in the table (at least one).
pub struct UserView<'a> {
    pub uid: u32,
    pub gid: u32,
    pub sessions: Vec<(&'a SessionRecord, Hints)>,
}

/// logind's user state: `active` while a session is, `closing` when all are closing.
pub fn user_state(sessions: &[(&SessionRecord, Hints)]) -> &'static str {
    if sessions.iter().any(|(r, _)| r.state != SessionState::Closing) {
        "active"
    } else {
        "closing"
    }
}

/// Every property of `org.freedesktop.login1.User`.
pub fn user(view: &UserView<'_>, clock: &Clock) -> Props {
    let name = view
        .sessions
        .first()
        .map(|(r, _)| r.user.clone())
        .unwrap_or_default();
    let since = view
        .sessions
        .iter()
        .map(|(r, _)| r.since)
        .min()
        .unwrap_or(0)
        .saturating_mul(1_000_000);
    let sessions: Vec<(String, ObjectPath<'static>)> = view
        .sessions
        .iter()
        .map(|(r, _)| {
            (
                r.id.clone(),
                ObjectPath::try_from(path::session(&r.id)).expect("valid"),
            )
        })
        .collect();
    let display = view
        .sessions
        .iter()
        .find(|(r, _)| r.display.is_some() && r.class == SessionClass::User)
        .map(|(r, _)| (r.id.clone(), path::session(&r.id)))
        .unwrap_or_else(|| (String::new(), "/".to_owned()));
    let idle = view.sessions.iter().all(|(_, h)| h.idle);
    let idle_since = view
        .sessions
        .iter()
        .map(|(_, h)| h.idle_since)
        .max()
        .unwrap_or((0, 0));
    vec![
        ("UID", Value::from(view.uid)),
        ("GID", Value::from(view.gid)),
        ("Name", Value::from(name)),
        ("Timestamp", Value::from(since)),
        ("TimestampMonotonic", Value::from(clock.monotonic_of(since))),
        ("RuntimePath", Value::from(format!("/run/user/{}", view.uid))),
        ("Service", Value::from(String::new())),
        ("Slice", Value::from(String::new())),
        (
            "Display",
            Value::from((display.0, ObjectPath::try_from(display.1).expect("valid"))),
        ),
        ("State", Value::from(user_state(&view.sessions))),
        ("Sessions", Value::from(sessions)),
        ("IdleHint", Value::from(idle)),
        ("IdleSinceHint", Value::from(idle_since.0)),
        ("IdleSinceHintMonotonic", Value::from(idle_since.1)),
        ("Linger", Value::from(false)),
    ]
}

/// The manager's properties: the inhibitors' whats, and the idle and power state of a machine
/// the agent never suspends.
pub fn manager(block: String, delay: String) -> Props {
    vec![
        ("BlockInhibited", Value::from(block)),
        ("DelayInhibited", Value::from(delay)),
        ("IdleHint", Value::from(false)),
        ("IdleSinceHint", Value::from(0u64)),
        ("IdleSinceHintMonotonic", Value::from(0u64)),
        ("InhibitDelayMaxUSec", Value::from(5_000_000u64)),
        ("PreparingForShutdown", Value::from(false)),
        ("PreparingForSleep", Value::from(false)),
        ("Docked", Value::from(false)),
        ("LidClosed", Value::from(false)),
        ("OnExternalPower", Value::from(true)),
        ("KillUserProcesses", Value::from(false)),
        ("NAutoVTs", Value::from(0u32)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SessionRecord {
        SessionRecord {
            id: "12".into(),
            user: "alice".into(),
            uid: 1000,
            tty: Some("tty2".into()),
            display: None,
            remote_host: None,
            service: "vestibule".into(),
            leader: 4242,
            supervisor: 4241,
            class: SessionClass::User,
            state: SessionState::Active,
            since: 1_700_000_000,
        }
    }

    fn get<'a>(props: &'a Props, name: &str) -> &'a Value<'static> {
        &props
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    }

    #[test]
    fn session_properties_have_logind_s_types() {
        let clock = Clock {
            realtime: 1_700_000_100_000_000,
            monotonic: 500_000_000,
        };
        let props = session(&record(), &Hints::default(), &clock);
        let types: Vec<(&str, String)> = props.iter().map(|(n, v)| (*n, signature(v))).collect();
        let want = [
            ("Id", "s"),
            ("User", "(uo)"),
            ("Name", "s"),
            ("Timestamp", "t"),
            ("TimestampMonotonic", "t"),
            ("VTNr", "u"),
            ("Seat", "(so)"),
            ("TTY", "s"),
            ("Display", "s"),
            ("Remote", "b"),
            ("RemoteHost", "s"),
            ("RemoteUser", "s"),
            ("Service", "s"),
            ("Desktop", "s"),
            ("Scope", "s"),
            ("Leader", "u"),
            ("Audit", "u"),
            ("Type", "s"),
            ("Class", "s"),
            ("Active", "b"),
            ("State", "s"),
            ("IdleHint", "b"),
            ("IdleSinceHint", "t"),
            ("IdleSinceHintMonotonic", "t"),
            ("LockedHint", "b"),
        ];
        for (name, sig) in want {
            let got = types.iter().find(|(n, _)| *n == name).map(|(_, s)| s.as_str());
            assert_eq!(got, Some(sig), "{name}");
        }
        assert_eq!(get(&props, "VTNr"), &Value::from(2u32));
        assert_eq!(get(&props, "Timestamp"), &Value::from(1_700_000_000_000_000u64));
        assert_eq!(get(&props, "TimestampMonotonic"), &Value::from(400_000_000u64));
        assert_eq!(get(&props, "Type"), &Value::from("tty"));
        assert_eq!(get(&props, "Scope"), &Value::from(""));
        let seat = get(&props, "Seat");
        assert_eq!(
            seat,
            &Value::from(("seat0", ObjectPath::from_static_str_unchecked(path::SEAT0)))
        );
    }

    #[test]
    fn a_pty_session_has_no_seat_and_locked_hint_follows_both_sources() {
        let mut r = record();
        r.tty = Some("pts/3".into());
        assert_eq!(seat(&r), ("", "/"));
        assert_eq!(vt_number(r.tty.as_deref()), 0);
        assert!(!locked_hint(&r, &Hints::default()));
        assert!(locked_hint(
            &r,
            &Hints {
                locked: true,
                ..Hints::default()
            }
        ));
        r.state = SessionState::Locked;
        assert!(locked_hint(&r, &Hints::default()));
        r.state = SessionState::Closing;
        assert_eq!(state(r.state), "closing");
    }

    #[test]
    fn user_properties_list_the_user_s_sessions() {
        let a = record();
        let mut b = record();
        b.id = "13".into();
        b.display = Some(":1".into());
        b.since = 1_600_000_000;
        let view = UserView {
            uid: 1000,
            gid: 1000,
            sessions: vec![(&a, Hints::default()), (&b, Hints::default())],
        };
        let clock = Clock {
            realtime: 1_700_000_100_000_000,
            monotonic: 500_000_000,
        };
        let props = user(&view, &clock);
        assert_eq!(signature(get(&props, "Sessions")), "a(so)");
        assert_eq!(signature(get(&props, "Display")), "(so)");
        assert_eq!(get(&props, "Timestamp"), &Value::from(1_600_000_000_000_000u64));
        assert_eq!(get(&props, "State"), &Value::from("active"));
        assert_eq!(get(&props, "Linger"), &Value::from(false));
        let display = get(&props, "Display");
        assert_eq!(
            display,
            &Value::from((
                "13",
                ObjectPath::try_from("/org/freedesktop/login1/session/_313").unwrap()
            ))
        );
    }
}
