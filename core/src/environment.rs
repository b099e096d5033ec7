//! The environment a session starts with: login(1)'s basics, overridden by what PAM modules set.
//!
//! Pure logic over byte strings so it can be tested without a login. Entries are split at the
//! first `=`, so values containing `=` survive intact.

use std::ffi::{CStr, CString};

/// Debian's `ENV_PATH` / `ENV_SUPATH` from login.defs.
pub const USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/games";
pub const ROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the session's environment is made from.
#[derive(Debug, Clone, Default)]
pub struct EnvSpec<'a> {
    pub user: &'a str,
    pub home: &'a str,
    pub shell: &'a str,
    /// Whether the session runs as uid 0 (for PATH).
    pub root: bool,
    /// TERM of the terminal the session runs on, if any.
    pub term: Option<&'a str>,
    /// XDG_SESSION_TYPE: `tty`, `x11` or `wayland`.
    pub session_type: &'a str,
    /// XDG_SESSION_CLASS: `user` for logins, `greeter` for greeters.
    pub session_class: &'a str,
    /// XDG_SESSION_DESKTOP and XDG_CURRENT_DESKTOP, for graphical sessions.
    pub desktop: Option<&'a str>,
    /// Entries from `pam_getenvlist`; they override the basics (login(1) order).
    pub pam_env: &'a [CString],
    /// Explicit choices of the front end (the chosen session); they override everything.
    pub extra: &'a [(String, String)],
}

/// An ordered set of `NAME=value` entries where a later set of a name replaces the earlier one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Environment {
    entries: Vec<Vec<u8>>,
}

impl Environment {
    pub fn set(&mut self, name: &str, value: &str) {
        let mut entry = Vec::with_capacity(name.len() + value.len() + 1);
        entry.extend_from_slice(name.as_bytes());
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        self.put(entry);
    }

    /// Adds a raw `NAME=value` entry; entries without `=` or with an empty name are ignored.
    pub fn put(&mut self, entry: Vec<u8>) {
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            return;
        };
        if eq == 0 {
            return;
        }
        let name = &entry[..=eq];
        match self.entries.iter_mut().find(|e| e.starts_with(name)) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries.iter().find_map(|e| {
            e.strip_prefix(name.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
        })
    }

    /// Entries in order, ready for execve.
    pub fn to_c_strings(&self) -> Vec<CString> {
        self.entries
            .iter()
            .filter_map(|e| CString::new(e.clone()).ok())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Builds the session environment: basics, then PAM's, then the front end's explicit choices.
pub fn build(spec: &EnvSpec<'_>) -> Environment {
    let mut env = Environment::default();
    env.set("HOME", spec.home);
    env.set("USER", spec.user);
    env.set("LOGNAME", spec.user);
    env.set("SHELL", spec.shell);
    env.set("PATH", if spec.root { ROOT_PATH } else { USER_PATH });
    if let Some(term) = spec.term {
        env.set("TERM", term);
    }
    env.set("XDG_SESSION_TYPE", spec.session_type);
    env.set("XDG_SESSION_CLASS", spec.session_class);
    if let Some(desktop) = spec.desktop {
        env.set("XDG_SESSION_DESKTOP", desktop);
        env.set("XDG_CURRENT_DESKTOP", desktop);
    }
    for entry in spec.pam_env {
        env.put(CStr::to_bytes(entry).to_vec());
    }
    for (name, value) in spec.extra {
        env.set(name, value);
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(pam: &'a [CString], extra: &'a [(String, String)]) -> EnvSpec<'a> {
        EnvSpec {
            user: "alice",
            home: "/home/alice",
            shell: "/bin/bash",
            root: false,
            term: Some("linux"),
            session_type: "tty",
            session_class: "user",
            desktop: None,
            pam_env: pam,
            extra,
        }
    }

    #[test]
    fn basics_are_set() {
        let env = build(&spec(&[], &[]));
        assert_eq!(env.get("HOME"), Some(&b"/home/alice"[..]));
        assert_eq!(env.get("LOGNAME"), Some(&b"alice"[..]));
        assert_eq!(env.get("PATH"), Some(USER_PATH.as_bytes()));
        assert_eq!(env.get("TERM"), Some(&b"linux"[..]));
        assert_eq!(env.get("XDG_SESSION_TYPE"), Some(&b"tty"[..]));
        assert_eq!(env.get("XDG_CURRENT_DESKTOP"), None);
    }

    #[test]
    fn pam_values_with_equals_signs_survive_and_override() {
        let pam = [
            CString::new("VESTIBULE_TEST=a=b=c").unwrap(),
            CString::new("PATH=/opt/bin").unwrap(),
            CString::new("=nameless").unwrap(),
            CString::new("NOEQUALS").unwrap(),
        ];
        let env = build(&spec(&pam, &[]));
        assert_eq!(env.get("VESTIBULE_TEST"), Some(&b"a=b=c"[..]));
        assert_eq!(env.get("PATH"), Some(&b"/opt/bin"[..]));
        assert!(env.to_c_strings().iter().all(|e| e.to_bytes().contains(&b'=')));
        assert!(!env.to_c_strings().iter().any(|e| e.to_bytes().starts_with(b"=")));
    }

    #[test]
    fn names_are_matched_whole() {
        let mut env = Environment::default();
        env.set("PATH", "/a");
        env.set("PATHX", "/b");
        env.set("PATH", "/c");
        assert_eq!(env.get("PATH"), Some(&b"/c"[..]));
        assert_eq!(env.get("PATHX"), Some(&b"/b"[..]));
        assert_eq!(env.len(), 2);
    }

    #[test]
    fn front_end_choices_win() {
        let extra = [("XDG_SESSION_TYPE".to_string(), "wayland".to_string())];
        let pam = [CString::new("XDG_SESSION_TYPE=x11").unwrap()];
        let mut s = spec(&pam, &extra);
        s.desktop = Some("sway");
        s.root = true;
        let env = build(&s);
        assert_eq!(env.get("XDG_SESSION_TYPE"), Some(&b"wayland"[..]));
        assert_eq!(env.get("XDG_CURRENT_DESKTOP"), Some(&b"sway"[..]));
        assert_eq!(env.get("PATH"), Some(ROOT_PATH.as_bytes()));
    }
}
