//! What a greeter may put into the session's environment (`start_session`'s `env`).
//!
//! The greeter runs as an unprivileged user and is not trusted with the session: it may say what
//! kind of session it chose and the user's language, nothing that changes how programs load or
//! where they look. The rule: `XDG_*` names (the session type, desktop and the like), except the
//! ones the daemon or PAM own (`XDG_RUNTIME_DIR`, `XDG_SEAT`, `XDG_VTNR`, `XDG_SESSION_ID`,
//! `XDG_SESSION_CLASS`); the locale (`LANG`, `LANGUAGE`, `LC_*`); `TZ`; `DESKTOP_SESSION`.
//! Everything else (`LD_PRELOAD`, `PATH`, `HOME`, `SHELL`, …) is dropped and logged by name.

/// XDG names the greeter may not set: the daemon, the worker or PAM set them.
const RESERVED_XDG: [&str; 5] = [
    "XDG_RUNTIME_DIR",
    "XDG_SEAT",
    "XDG_VTNR",
    "XDG_SESSION_ID",
    "XDG_SESSION_CLASS",
];

/// Whether a greeter may set `name`.
pub fn allowed(name: &str) -> bool {
    if name.starts_with("XDG_") {
        return !RESERVED_XDG.contains(&name);
    }
    matches!(name, "LANG" | "LANGUAGE" | "TZ" | "DESKTOP_SESSION") || name.starts_with("LC_")
}

/// Splits `KEY=VALUE` entries (already checked by `Request::validate`) into those kept and the
/// names of those dropped.
pub fn filter(entries: &[String]) -> (Vec<String>, Vec<String>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for e in entries {
        let name = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        if allowed(name) {
            kept.push(e.clone());
        } else {
            dropped.push(name.to_owned());
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_kind_and_locale_pass() {
        let (kept, dropped) = filter(&[
            "XDG_SESSION_TYPE=wayland".into(),
            "XDG_SESSION_DESKTOP=sway".into(),
            "XDG_CURRENT_DESKTOP=sway".into(),
            "LANG=de_DE.UTF-8".into(),
            "LC_TIME=C".into(),
            "TZ=Europe/Berlin".into(),
        ]);
        assert_eq!(kept.len(), 6);
        assert!(dropped.is_empty());
    }

    #[test]
    fn what_changes_loading_or_identity_is_dropped() {
        let (kept, dropped) = filter(&[
            "LD_PRELOAD=/tmp/evil.so".into(),
            "PATH=/tmp".into(),
            "HOME=/root".into(),
            "XDG_RUNTIME_DIR=/tmp".into(),
            "XDG_SESSION_CLASS=greeter".into(),
            "XDG_SEAT=seat1".into(),
            "GREETD_SOCK=/x".into(),
        ]);
        assert!(kept.is_empty());
        assert_eq!(dropped[0], "LD_PRELOAD");
        assert_eq!(dropped.len(), 7);
    }
}
