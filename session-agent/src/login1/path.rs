//! logind's object paths: `/org/freedesktop/login1/session/<label>` with the session id escaped
//! as sd-bus's `bus_label_escape` does (every byte that is not an ASCII letter, or a digit after
//! the first byte, becomes `_` and two lower-case hex digits; the empty id is `_`), and
//! `/org/freedesktop/login1/user/_<uid>` (logind writes `_` and the decimal uid, unescaped).
//! Clients build these paths themselves (`sd_bus_path_encode`), so they must match to the byte.

/// The manager's object path.
pub const MANAGER: &str = "/org/freedesktop/login1";
/// The parent of the session objects.
pub const SESSION_DIR: &str = "/org/freedesktop/login1/session";
/// The parent of the user objects.
pub const USER_DIR: &str = "/org/freedesktop/login1/user";
/// The seat every session with a VT or a display is on (the only seat the agent knows).
pub const SEAT0: &str = "/org/freedesktop/login1/seat/seat0";

/// `bus_label_escape`: `1` → `_31`, `12` → `_312`, `a.b` → `a_2eb`, `` → `_`.
pub fn escape(label: &str) -> String {
    if label.is_empty() {
        return "_".to_owned();
    }
    let mut out = String::with_capacity(label.len() * 3);
    for (i, b) in label.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push('_');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// `bus_label_unescape`: the inverse of [`escape`], leaving unescaped bytes as they are (as
/// sd-bus does); `None` for a `_` not followed by two hex digits, or bytes that are not UTF-8.
pub fn unescape(label: &str) -> Option<String> {
    if label == "_" {
        return Some(String::new());
    }
    let bytes = label.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let hex = label.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The object path of session `id` (`1` → `/org/freedesktop/login1/session/_31`).
pub fn session(id: &str) -> String {
    format!("{SESSION_DIR}/{}", escape(id))
}

/// The object path of user `uid` (`1000` → `/org/freedesktop/login1/user/_1000`).
pub fn user(uid: u32) -> String {
    format!("{USER_DIR}/_{uid}")
}

/// What a session path's last element names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionName {
    /// A session of the table, by number.
    Id(u64),
    /// `auto` or `self`: the caller's session, found from its pid.
    Caller,
    /// Anything else: no such object.
    Unknown,
}

/// The session a path element under [`SESSION_DIR`] names.
pub fn session_name(label: &str) -> SessionName {
    if label == "auto" || label == "self" {
        return SessionName::Caller;
    }
    match unescape(label) {
        Some(id) if is_decimal(&id) => id.parse().map_or(SessionName::Unknown, SessionName::Id),
        _ => SessionName::Unknown,
    }
}

/// What a user path's last element names: `_<uid>`, or `self`/`auto` (the caller's own user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserName {
    Uid(u32),
    Caller,
    Unknown,
}

/// The user a path element under [`USER_DIR`] names.
pub fn user_name(label: &str) -> UserName {
    if label == "auto" || label == "self" {
        return UserName::Caller;
    }
    match label.strip_prefix('_') {
        Some(d) if is_decimal(d) => d.parse().map_or(UserName::Unknown, UserName::Uid),
        _ => UserName::Unknown,
    }
}

/// A session id as the agent writes them: decimal digits, no sign, no leading zero.
fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_sd_bus_does() {
        assert_eq!(escape("1"), "_31");
        assert_eq!(escape("12"), "_312");
        assert_eq!(escape("c2"), "c2");
        assert_eq!(escape(""), "_");
        assert_eq!(escape("a_b.c"), "a_5fb_2ec");
        assert_eq!(escape("9z"), "_39z");
        assert_eq!(session("1"), "/org/freedesktop/login1/session/_31");
        assert_eq!(user(1000), "/org/freedesktop/login1/user/_1000");
    }

    #[test]
    fn unescape_inverts_escape() {
        for s in ["1", "12", "", "a_b.c", "9z", "ü/x", "0"] {
            assert_eq!(unescape(&escape(s)).as_deref(), Some(s), "{s}");
        }
        assert_eq!(unescape("_3"), None);
        assert_eq!(unescape("_zz"), None);
        assert_eq!(unescape("_ff"), None, "not UTF-8");
    }

    #[test]
    fn names_paths_of_sessions_and_users() {
        assert_eq!(session_name("_31"), SessionName::Id(1));
        assert_eq!(session_name("_3123"), SessionName::Id(123));
        assert_eq!(session_name("self"), SessionName::Caller);
        assert_eq!(session_name("auto"), SessionName::Caller);
        // sd-bus's unescape leaves unescaped bytes as they are, so logind finds `session/1` too.
        assert_eq!(session_name("1"), SessionName::Id(1));
        assert_eq!(session_name("_3012"), SessionName::Unknown, "leading zero");
        assert_eq!(session_name("c1"), SessionName::Unknown);
        assert_eq!(user_name("_1000"), UserName::Uid(1000));
        assert_eq!(user_name("self"), UserName::Caller);
        assert_eq!(user_name("1000"), UserName::Unknown);
        assert_eq!(user_name("_99999999999"), UserName::Unknown);
    }
}
