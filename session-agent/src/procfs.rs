//! What the agent learns about processes from /proc: whether a registered pid is still the same
//! live process (its start time guards against pid reuse), and which processes are in a session's
//! process group. Reading /proc needs no unsafe code and works for processes that are not the
//! agent's children.

use std::fs;

/// The fields of `/proc/PID/stat` the agent uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `D`, `Z` (zombie: exited, not yet reaped), …
    pub state: char,
    pub pgrp: u32,
    pub session: u32,
    /// Start time in clock ticks after boot: with the pid, identifies one process for good.
    pub start: u64,
}

/// Parses a `/proc/PID/stat` line. The command name is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) session(6) … starttime(22).
    Some(Stat {
        state: f.first()?.chars().next()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// The stat of a process, or None if there is no such process.
pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The real uid of a process.
pub fn uid(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether `pid` is still running (not a zombie) and, if `start` is known, still the process
/// that was registered.
pub fn alive(pid: u32, start: Option<u64>) -> bool {
    match stat(pid) {
        Some(s) => {
            let same = match start {
                Some(t) => t == s.start,
                None => true,
            };
            same && !matches!(s.state, 'Z' | 'X' | 'x')
        }
        None => false,
    }
}

/// The start time of a live process, recorded at registration.
pub fn start_time(pid: u32) -> Option<u64> {
    stat(pid)
        .filter(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
        .map(|s| s.start)
}

/// The variables named in `keep` from a process's initial environment (`/proc/PID/environ`:
/// `NAME=value` entries, each ended by a NUL). Entries that are not UTF-8 or longer than
/// `MAX_ENV_VALUE` bytes are left out.
pub fn parse_environ(raw: &[u8], keep: &[&str]) -> Vec<(String, String)> {
    raw.split(|&b| b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok()?.split_once('='))
        .filter(|(name, value)| keep.contains(name) && value.len() <= MAX_ENV_VALUE)
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Longest environment value taken from another process.
pub const MAX_ENV_VALUE: usize = 4096;

/// [`parse_environ`] of a running process (empty if it cannot be read).
pub fn environ(pid: u32, keep: &[&str]) -> Vec<(String, String)> {
    fs::read(format!("/proc/{pid}/environ"))
        .map(|raw| parse_environ(&raw, keep))
        .unwrap_or_default()
}

/// Live processes in process group `pgrp` that run as `uid`.
pub fn group_members(pgrp: u32, uid_filter: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat(pid).is_some_and(|s| s.pgrp == pgrp && !matches!(s.state, 'Z' | 'X' | 'x'))
                && uid(pid) == Some(uid_filter)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_spaces_and_parentheses() {
        let line = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.pgrp, 4242);
        assert_eq!(s.session, 4242);
        assert_eq!(s.start, 987654);
        assert_eq!(parse_stat("12 (x"), None);
        assert_eq!(parse_stat("12 (x) S 1"), None);
    }

    #[test]
    fn only_the_named_variables_are_taken_from_an_environment() {
        let long = format!("XAUTHORITY={}", "a".repeat(MAX_ENV_VALUE + 1));
        let mut raw = b"DISPLAY=:1\0LD_PRELOAD=/tmp/x.so\0XAUTHORITY=/run/user/1000/xauth\0".to_vec();
        raw.extend_from_slice(b"WAYLAND_DISPLAY=\xff\0broken\0");
        raw.extend_from_slice(long.as_bytes());
        let keep = ["DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY"];
        assert_eq!(
            parse_environ(&raw, &keep),
            [
                ("DISPLAY".to_owned(), ":1".to_owned()),
                ("XAUTHORITY".to_owned(), "/run/user/1000/xauth".to_owned()),
            ]
        );
        assert!(parse_environ(b"", &keep).is_empty());
    }

    #[test]
    fn this_process_is_alive_and_recognised() {
        let me = std::process::id();
        let start = start_time(me).unwrap();
        assert!(alive(me, Some(start)));
        assert!(alive(me, None));
        assert!(
            !alive(me, Some(start + 1)),
            "another start time is another process"
        );
        assert_eq!(uid(me), Some(nix::unistd::getuid().as_raw()));
        assert!(!alive(0, None));
    }
}
