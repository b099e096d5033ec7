//! Lock screens ("lockers"): which bus connection is a session's locker, and a new locker when
//! the old one dies while its session is locked, so a crash of the lock screen never shows the
//! desktop.
//!
//! A locker registers with `SetLocker(id)` (the session's owner, or root). Its unique bus name
//! then may also report the session unlocked (`UnlockSession`), which is otherwise root's: the
//! locker is what authenticated the user. While the session is locked nobody else may take the
//! locker's place — only a locker the agent itself started for that session (matched by the
//! caller's pid) — and while another live locker holds it, a second one is refused. When the bus
//! announces a locker's name gone and its session is locked, the agent starts the configured
//! locker command (`--locker-command`, `{id}` replaced by the session id) as the session's user,
//! with the agent's bus in `VESTIBULE_AGENT_BUS` when it is not the system bus, and the display
//! the old locker had: its `DISPLAY`, `XAUTHORITY` (an X server that asks for a cookie refuses a
//! client without one), `WAYLAND_DISPLAY` and `XDG_RUNTIME_DIR`, read from its environment when it
//! registered (when it ran as the session's user), else the session's recorded DISPLAY.
//!
//! What a process running as the session's own user can do against its own lock screen (read its
//! memory, draw over it) is not something an agent can prevent; this keeps the state honest
//! against everyone else and keeps the screen covered through crashes.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use vestibule_core::record::SessionRecord;

/// The locker command used when none is configured.
pub const DEFAULT_COMMAND: &str = "/usr/bin/vestibule-gtk --lock-daemon --session {id}";

/// What a lock screen needs to reach the session's display, taken over from the old locker.
pub const DISPLAY_VARS: [&str; 4] = ["DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR"];

/// Why a locker registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("session {0} is locked: only the lock screen the agent started for it may take over")]
    Locked(String),
    #[error("session {0} already has a lock screen")]
    Taken(String),
}

#[derive(Debug, Default)]
struct Inner {
    /// Session number by locker's unique bus name.
    by_name: HashMap<String, u64>,
    /// The pid of the locker the agent started last, per session.
    spawned: HashMap<u64, u32>,
    /// The display environment of the session's last locker ([`DISPLAY_VARS`]).
    display_env: HashMap<u64, Vec<(String, String)>>,
    /// Sessions whose locker reported the screen covered and input held since the last Lock.
    covered: std::collections::HashSet<u64>,
}

/// The registry, and how to start a locker.
#[derive(Debug)]
pub struct Lockers {
    inner: Mutex<Inner>,
    command: Vec<String>,
    bus_address: Option<String>,
}

impl Lockers {
    pub fn new(command: Vec<String>, bus_address: Option<String>) -> Lockers {
        Lockers {
            inner: Mutex::new(Inner::default()),
            command,
            bus_address,
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `name` as session `n`'s locker. `locked`: the session's state now; `pid`: the
    /// caller's process (None if the bus did not say); `root`: the caller is root; `recorded`:
    /// the caller is the very process (pid and start time) that was the session's locker before,
    /// as the state file says — a lock screen registering again with an agent that restarted
    /// while the session was locked.
    pub fn register(
        &self,
        name: &str,
        n: u64,
        locked: bool,
        pid: Option<u32>,
        root: bool,
        recorded: bool,
    ) -> Result<(), Refused> {
        let mut inner = self.inner();
        if !root {
            let spawned = pid.is_some() && inner.spawned.get(&n).copied() == pid;
            if locked && !spawned && !recorded {
                return Err(Refused::Locked(n.to_string()));
            }
            let other = inner.by_name.iter().any(|(k, &v)| v == n && k != name);
            if other && !locked {
                return Err(Refused::Taken(n.to_string()));
            }
        }
        inner.by_name.retain(|_, &mut v| v != n);
        inner.by_name.insert(name.to_owned(), n);
        Ok(())
    }

    /// How session `n`'s locker reached the display, for the next one the agent starts. Only
    /// variables in [`DISPLAY_VARS`] are kept, and paths must be absolute.
    pub fn remember_display(&self, n: u64, env: Vec<(String, String)>) {
        let env: Vec<_> = env
            .into_iter()
            .filter(|(k, v)| {
                DISPLAY_VARS.contains(&k.as_str())
                    && !v.is_empty()
                    && (matches!(k.as_str(), "DISPLAY" | "WAYLAND_DISPLAY") || v.starts_with('/'))
            })
            .collect();
        if !env.is_empty() {
            self.inner().display_env.insert(n, env);
        }
    }

    /// Whether session `n` has a registered locker (one that is on the bus now).
    pub fn has_locker(&self, n: u64) -> bool {
        self.inner().by_name.values().any(|&v| v == n)
    }

    /// A `Lock` is about to go out for session `n`: an earlier report does not count for it.
    pub fn expect_cover(&self, n: u64) {
        self.inner().covered.remove(&n);
    }

    /// Session `n`'s locker `name` says the screen is covered and input held; false if `name` is
    /// not its locker.
    pub fn report_covered(&self, name: &str, n: u64) -> bool {
        let mut inner = self.inner();
        if inner.by_name.get(name) != Some(&n) {
            return false;
        }
        inner.covered.insert(n);
        true
    }

    /// Whether session `n`'s locker reported it covered since [`Lockers::expect_cover`].
    pub fn is_covered(&self, n: u64) -> bool {
        self.inner().covered.contains(&n)
    }

    /// Whether `name` is session `n`'s registered locker.
    pub fn is_locker(&self, name: &str, n: u64) -> bool {
        self.inner().by_name.get(name) == Some(&n)
    }

    /// The bus says `name` is gone: the session it was the locker of, if any.
    pub fn vanished(&self, name: &str) -> Option<u64> {
        self.inner().by_name.remove(name)
    }

    /// The session is gone: forget its locker.
    pub fn forget(&self, n: u64) {
        let mut inner = self.inner();
        inner.by_name.retain(|_, &mut v| v != n);
        inner.spawned.remove(&n);
        inner.display_env.remove(&n);
        inner.covered.remove(&n);
    }

    /// The command line for `id`.
    fn argv(&self, id: &str) -> Vec<String> {
        self.command.iter().map(|a| a.replace("{id}", id)).collect()
    }

    /// Starts a new locker for `record`'s session as its user; returns its pid.
    pub fn spawn(&self, n: u64, record: &SessionRecord) -> Result<u32, String> {
        let argv = self.argv(&record.id);
        let Some((program, args)) = argv.split_first() else {
            return Err("no locker command is configured".into());
        };
        let account = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(record.uid))
            .map_err(|e| format!("cannot look up uid {}: {e}", record.uid))?
            .ok_or_else(|| format!("uid {} has no account", record.uid))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &account.dir)
            .env("USER", &account.name)
            .env("LOGNAME", &account.name)
            .current_dir(if account.dir.is_dir() {
                account.dir.as_path()
            } else {
                std::path::Path::new("/")
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some(display) = record.display.as_deref().filter(|d| !d.is_empty()) {
            cmd.env("DISPLAY", display);
        }
        if let Some(env) = self.inner().display_env.get(&n) {
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
        }
        if let Some(a) = &self.bus_address {
            cmd.env(crate::client::AGENT_BUS_ENV, a);
        }
        // Diagnostics settings pass through: the log level, and the lock screen's test probe.
        for var in ["VESTIBULE_LOG", "VESTIBULE_GTK_PROBE"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        if nix::unistd::geteuid().is_root() {
            // std also drops the supplementary groups when it changes the uid as root.
            cmd.uid(account.uid.as_raw()).gid(account.gid.as_raw());
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {program}: {e}"))?;
        let pid = child.id();
        self.inner().spawned.insert(n, pid);
        std::thread::Builder::new()
            .name("locker-reaper".into())
            .spawn(move || {
                let _ = child.wait();
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lockers() -> Lockers {
        Lockers::new(vec!["locker".into(), "--session".into(), "{id}".into()], None)
    }

    #[test]
    fn the_owner_registers_while_unlocked_and_the_locker_may_report_unlock() {
        let l = lockers();
        l.register(":1.5", 3, false, Some(100), false, false).unwrap();
        assert!(l.is_locker(":1.5", 3));
        assert!(!l.is_locker(":1.6", 3));
        assert!(!l.is_locker(":1.5", 4));
    }

    #[test]
    fn nobody_else_takes_over_a_locked_session_or_a_held_one() {
        let l = lockers();
        l.register(":1.5", 3, false, Some(100), false, false).unwrap();
        assert_eq!(
            l.register(":1.9", 3, false, Some(200), false, false),
            Err(Refused::Taken("3".into()))
        );
        assert_eq!(
            l.register(":1.9", 3, true, Some(200), false, false),
            Err(Refused::Locked("3".into()))
        );
        // Root may.
        l.register(":1.9", 3, true, None, true, false).unwrap();
        assert!(l.is_locker(":1.9", 3));
        assert!(!l.is_locker(":1.5", 3), "one locker per session");
    }

    #[test]
    fn after_a_restart_only_the_recorded_lock_screen_takes_a_locked_session_back() {
        let l = lockers();
        assert_eq!(
            l.register(":1.9", 3, true, Some(200), false, false),
            Err(Refused::Locked("3".into())),
            "another process of the user"
        );
        l.register(":1.5", 3, true, Some(100), false, true).unwrap();
        assert!(l.is_locker(":1.5", 3));
    }

    #[test]
    fn only_the_sessions_locker_reports_it_covered_and_only_after_the_lock() {
        let l = lockers();
        assert!(!l.has_locker(3));
        l.register(":1.5", 3, false, Some(100), false, false).unwrap();
        assert!(l.has_locker(3));
        l.expect_cover(3);
        assert!(!l.report_covered(":1.9", 3), "not its locker");
        assert!(!l.is_covered(3));
        assert!(l.report_covered(":1.5", 3));
        assert!(l.is_covered(3));
        l.expect_cover(3);
        assert!(!l.is_covered(3), "an old report does not count for the next lock");
        l.vanished(":1.5");
        assert!(!l.has_locker(3));
    }

    #[test]
    fn a_vanished_locker_names_its_session_once() {
        let l = lockers();
        l.register(":1.5", 3, false, Some(100), false, false).unwrap();
        assert_eq!(l.vanished(":1.5"), Some(3));
        assert_eq!(l.vanished(":1.5"), None);
        assert_eq!(l.vanished(":1.77"), None);
    }

    #[test]
    fn only_display_variables_with_sane_values_are_remembered_and_forgotten_with_the_session() {
        let l = lockers();
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        l.remember_display(
            3,
            vec![
                pair("DISPLAY", ":1"),
                pair("XAUTHORITY", "relative/cookie"),
                pair("XDG_RUNTIME_DIR", "/run/user/1000"),
                pair("LD_PRELOAD", "/tmp/evil.so"),
                pair("WAYLAND_DISPLAY", ""),
            ],
        );
        assert_eq!(
            l.inner().display_env[&3],
            [pair("DISPLAY", ":1"), pair("XDG_RUNTIME_DIR", "/run/user/1000")]
        );
        l.forget(3);
        assert!(l.inner().display_env.is_empty());
    }

    #[test]
    fn the_command_gets_the_session_id() {
        assert_eq!(lockers().argv("42"), ["locker", "--session", "42"]);
    }
}
