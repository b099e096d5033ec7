//! What a caller may send: every string the agent stores or acts on is checked here, before it
//! reaches the table, the state file or PAM. Bounds follow the system's own limits, so a huge or
//! odd value is refused with InvalidArgs instead of being kept (or logged) forever.

use vestibule_core::record::SessionClass;

/// LOGIN_NAME_MAX on Linux, with its NUL.
pub const MAX_USER: usize = 255;
/// A tty name relative to /dev (`tty1`, `pts/12`).
pub const MAX_TTY: usize = 64;
/// An X display (`:0`, `host:10.0`) or a Wayland socket name.
pub const MAX_DISPLAY: usize = 255;
/// NI_MAXHOST.
pub const MAX_HOST: usize = 1025;
/// Session ids are decimal counters.
pub const MAX_ID: usize = 20;

/// The PAM services a registered session may name: the core's hard-wired ones.
pub const SERVICES: [&str; 4] = [
    "vestibule",
    "vestibule-lock",
    "vestibule-greeter",
    "vestibule-autologin",
];

/// Why an argument was refused; the text goes back to the caller as InvalidArgs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("{what} is {len} bytes long; at most {max} are accepted")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} contains a control character or a '/' where none is allowed")]
    BadCharacter { what: &'static str },
    #[error("session id is not a canonical decimal number (digits only, no sign, no leading zero)")]
    NotCanonical,
    #[error("{what} {value} is not a process id")]
    BadPid { what: &'static str, value: u32 },
    #[error("service {0:?} is not one of Vestibule's PAM services (vestibule, vestibule-lock, vestibule-greeter, vestibule-autologin)")]
    UnknownService(String),
    #[error(transparent)]
    Name(#[from] vestibule_core::record::UnknownName),
}

/// The registration arguments, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub user: String,
    pub uid: u32,
    pub tty: Option<String>,
    pub display: Option<String>,
    pub remote_host: Option<String>,
    pub service: String,
    pub leader: u32,
    pub supervisor: u32,
    pub class: SessionClass,
}

/// The raw arguments of `RegisterSession`, in wire order.
#[derive(Debug, Clone, Copy)]
pub struct RawRegistration<'a> {
    pub user: &'a str,
    pub uid: u32,
    pub tty: &'a str,
    pub display: &'a str,
    pub remote_host: &'a str,
    pub service: &'a str,
    pub leader: u32,
    pub supervisor: u32,
    pub class: &'a str,
}

/// Checks every field of a registration.
pub fn registration(raw: &RawRegistration<'_>) -> Result<Registration, Invalid> {
    let user = text("user", raw.user, MAX_USER, false)?;
    if user.contains(['/', ':']) {
        return Err(Invalid::BadCharacter { what: "user" });
    }
    let tty = optional("tty", raw.tty, MAX_TTY)?;
    if tty
        .as_deref()
        .is_some_and(|t| t.contains("..") || t.starts_with('/'))
    {
        return Err(Invalid::BadCharacter { what: "tty" });
    }
    let display = optional("display", raw.display, MAX_DISPLAY)?;
    let remote_host = optional("remote host", raw.remote_host, MAX_HOST)?;
    let service = text("service", raw.service, 64, false)?;
    if !SERVICES.contains(&service.as_str()) {
        return Err(Invalid::UnknownService(service.chars().take(64).collect()));
    }
    let class = text("class", raw.class, 32, false)?.parse()?;
    Ok(Registration {
        user,
        uid: raw.uid,
        tty,
        display,
        remote_host,
        service,
        leader: pid("leader pid", raw.leader)?,
        supervisor: pid("supervisor pid", raw.supervisor)?,
        class,
    })
}

/// Checks a session id argument: short and decimal, or the caller gets InvalidArgs.
pub fn session_id(id: &str) -> Result<u64, Invalid> {
    if id.len() > MAX_ID {
        return Err(Invalid::TooLong {
            what: "session id",
            len: id.len(),
            max: MAX_ID,
        });
    }
    if id.is_empty() {
        return Err(Invalid::Empty { what: "session id" });
    }
    // Canonical decimal only: `05` or `+5` would name session 5 under a second spelling, and the
    // spelling is echoed into signals and object paths. A well-formed id that names no session is
    // NoSuchSession, decided by the caller: here only the shape is checked.
    let canonical = id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
    if !canonical {
        return Err(Invalid::NotCanonical);
    }
    id.parse::<u64>().map_err(|_| Invalid::NotCanonical)
}

/// A pid argument: positive and within pid_max's hard limit (2^22).
pub fn pid(what: &'static str, value: u32) -> Result<u32, Invalid> {
    if value == 0 || value > 4_194_304 {
        return Err(Invalid::BadPid { what, value });
    }
    Ok(value)
}

fn text(what: &'static str, value: &str, max: usize, allow_empty: bool) -> Result<String, Invalid> {
    if value.len() > max {
        return Err(Invalid::TooLong {
            what,
            len: value.len(),
            max,
        });
    }
    if value.is_empty() && !allow_empty {
        return Err(Invalid::Empty { what });
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::BadCharacter { what });
    }
    Ok(value.to_owned())
}

fn optional(what: &'static str, value: &str, max: usize) -> Result<Option<String>, Invalid> {
    let v = text(what, value, max, true)?;
    Ok((!v.is_empty()).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawRegistration<'static> {
        RawRegistration {
            user: "alice",
            uid: 1000,
            tty: "tty3",
            display: "",
            remote_host: "",
            service: "vestibule",
            leader: 200,
            supervisor: 100,
            class: "user",
        }
    }

    #[test]
    fn a_plain_registration_passes() {
        let r = registration(&raw()).unwrap();
        assert_eq!(r.tty.as_deref(), Some("tty3"));
        assert_eq!(r.display, None);
        assert_eq!(r.class, SessionClass::User);
    }

    #[test]
    fn huge_and_odd_values_are_refused() {
        let big = "a".repeat(1 << 20);
        let cases = [
            RawRegistration { user: &big, ..raw() },
            RawRegistration {
                remote_host: &big,
                ..raw()
            },
            RawRegistration { user: "", ..raw() },
            RawRegistration {
                user: "a\nb",
                ..raw()
            },
            RawRegistration {
                user: "../x",
                ..raw()
            },
            RawRegistration {
                tty: "../../etc",
                ..raw()
            },
            RawRegistration {
                service: "login",
                ..raw()
            },
            RawRegistration {
                class: "root",
                ..raw()
            },
            RawRegistration { leader: 0, ..raw() },
            RawRegistration {
                supervisor: u32::MAX,
                ..raw()
            },
        ];
        for c in cases {
            assert!(registration(&c).is_err(), "{c:?}");
        }
        let e = registration(&RawRegistration { user: &big, ..raw() }).unwrap_err();
        assert_eq!(
            e.to_string(),
            "user is 1048576 bytes long; at most 255 are accepted"
        );
    }

    #[test]
    fn session_ids_are_short_decimals() {
        assert_eq!(session_id("17"), Ok(17));
        assert!(session_id("").is_err());
        assert!(session_id("c1").is_err());
        assert!(session_id(&"9".repeat(1000)).is_err());
        assert_eq!(session_id("0"), Ok(0));
        assert_eq!(session_id(&u64::MAX.to_string()), Ok(u64::MAX));
    }

    #[test]
    fn only_one_spelling_of_an_id_is_accepted() {
        for bad in [
            "05",
            "00",
            "+5",
            "-5",
            " 5",
            "5 ",
            "5\n",
            "٥",
            "0x5",
            "18446744073709551616",
        ] {
            assert!(session_id(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            session_id("+5").unwrap_err().to_string(),
            "session id is not a canonical decimal number (digits only, no sign, no leading zero)"
        );
    }
}
