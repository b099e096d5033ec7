//! utmp and wtmp records of a session, so `who`, `w` and `last` show Vestibule's logins.
//!
//! As login(1) (util-linux `login_utmp`) writes them: a USER_PROCESS entry when the session
//! starts, with the session's pid, the line (`tty1`, `pts/3`), the id (the line's last four
//! bytes, agetty's choice, so the entry getty wrote for the line is replaced), the user and the
//! remote host; and a DEAD_PROCESS entry when it ends, with the user cleared, as init and
//! systemd-logind write it. Both go to utmp and are appended to wtmp. Building the fields is pure
//! (and tested here); writing them is one call in `sys`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sys;

/// The system's files (glibc's `_PATH_UTMP`, `_PATH_WTMP`).
pub const UTMP_PATH: &str = "/var/run/utmp";
pub const WTMP_PATH: &str = "/var/log/wtmp";

/// glibc's `USER_PROCESS` and `DEAD_PROCESS`.
const USER_PROCESS: i16 = 7;
const DEAD_PROCESS: i16 = 8;

/// Which end of a session a record marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Login,
    Logout,
}

/// Where the records go (tests point these at files of their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub utmp: PathBuf,
    pub wtmp: PathBuf,
}

impl Default for Files {
    fn default() -> Self {
        Files {
            utmp: PathBuf::from(UTMP_PATH),
            wtmp: PathBuf::from(WTMP_PATH),
        }
    }
}

/// One record's fields, truncated to utmpx's sizes (not NUL-terminated when full, as in C).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub kind: i16,
    pub pid: i32,
    pub line: Vec<u8>,
    pub id: Vec<u8>,
    pub user: Vec<u8>,
    pub host: Vec<u8>,
    pub seconds: i64,
    pub micros: i64,
}

const LINE_SIZE: usize = 32;
const ID_SIZE: usize = 4;
const USER_SIZE: usize = 32;
const HOST_SIZE: usize = 256;

/// The terminal line of a tty path: `/dev/tty1` → `tty1`, `/dev/pts/3` → `pts/3`.
pub fn line_of(tty: &str) -> &str {
    tty.strip_prefix("/dev/").unwrap_or(tty)
}

/// Builds a record for the session whose leader is `pid`, on `tty`, for `user`, at `when`.
pub fn fields(kind: Kind, pid: i32, tty: &str, user: &str, host: Option<&str>, when: SystemTime) -> Fields {
    let line = line_of(tty).as_bytes();
    let id = &line[line.len().saturating_sub(ID_SIZE)..];
    let since = when.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (user, host) = match kind {
        Kind::Login => (user.as_bytes(), host.unwrap_or("").as_bytes()),
        Kind::Logout => (&b""[..], &b""[..]),
    };
    Fields {
        kind: match kind {
            Kind::Login => USER_PROCESS,
            Kind::Logout => DEAD_PROCESS,
        },
        pid,
        line: line[..line.len().min(LINE_SIZE)].to_vec(),
        id: id.to_vec(),
        user: user[..user.len().min(USER_SIZE)].to_vec(),
        host: host[..host.len().min(HOST_SIZE)].to_vec(),
        seconds: since.as_secs() as i64,
        micros: i64::from(since.subsec_micros()),
    }
}

/// Writes `fields` to the utmp file and appends them to the wtmp file.
pub fn write(fields: &Fields, files: &Files) -> std::io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    sys::write_utmpx(fields, &c(&files.utmp)?, &c(&files.wtmp)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_login_record_is_what_login_writes() {
        let when = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let f = fields(Kind::Login, 4242, "/dev/tty1", "alice", None, when);
        assert_eq!(f.kind, USER_PROCESS);
        assert_eq!(f.pid, 4242);
        assert_eq!(f.line, b"tty1");
        assert_eq!(f.id, b"tty1");
        assert_eq!(f.user, b"alice");
        assert_eq!(f.host, b"");
        assert_eq!((f.seconds, f.micros), (1_700_000_000, 123_456));
    }

    #[test]
    fn the_id_is_the_last_four_bytes_of_the_line() {
        assert_eq!(
            fields(Kind::Login, 1, "/dev/pts/12", "a", None, UNIX_EPOCH).id,
            b"s/12"
        );
        assert_eq!(fields(Kind::Login, 1, "tty63", "a", None, UNIX_EPOCH).id, b"ty63");
        assert_eq!(fields(Kind::Login, 1, "ab", "a", None, UNIX_EPOCH).id, b"ab");
    }

    #[test]
    fn a_logout_record_clears_the_user_and_keeps_the_line() {
        let f = fields(Kind::Logout, 4242, "tty1", "alice", Some("far"), UNIX_EPOCH);
        assert_eq!(f.kind, DEAD_PROCESS);
        assert_eq!(f.line, b"tty1");
        assert!(f.user.is_empty() && f.host.is_empty());
    }

    #[test]
    fn long_values_are_truncated_to_the_record_sizes() {
        let name = "u".repeat(100);
        let f = fields(
            Kind::Login,
            1,
            &"l".repeat(100),
            &name,
            Some(&"h".repeat(300)),
            UNIX_EPOCH,
        );
        assert_eq!((f.line.len(), f.user.len(), f.host.len()), (32, 32, 256));
    }
}
