//! `XDG_RUNTIME_DIR` where no PAM module provides one (no pam_systemd, no elogind): the directory
//! `/run/user/UID`, created for the user's first session and removed after the last, as
//! pam_rundir and elogind do.
//!
//! Which sessions hold the directory is kept in a small file per uid under the daemon's state
//! directory, as a list of the pids of the processes supervising them, read and rewritten under
//! an exclusive `flock`. Pids that no longer exist are dropped on every change, so a supervisor
//! that was killed does not keep the directory alive for ever.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Gid, Pid, Uid};

/// Where the directories live.
pub const BASE: &str = "/run/user";

/// Why the runtime directory could not be set up or removed.
#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {source}")]
pub struct RuntimeDirError {
    what: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

fn err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeDirError {
    let path = path.to_owned();
    move |source| RuntimeDirError { what, path, source }
}

/// The holders file's contents: one pid per line. Unparseable lines are dropped.
pub fn parse_holders(text: &str) -> Vec<i32> {
    text.lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|&p| p > 0)
        .collect()
}

/// The holders file's text for `pids`.
pub fn format_holders(pids: &[i32]) -> String {
    pids.iter().map(|p| format!("{p}\n")).collect()
}

/// `holders` with dead pids dropped, `pid` added (`add`) or removed, and no duplicates.
pub fn update_holders(holders: &[i32], pid: i32, add: bool, alive: impl Fn(i32) -> bool) -> Vec<i32> {
    let mut out: Vec<i32> = Vec::new();
    for &p in holders {
        if p != pid && alive(p) && !out.contains(&p) {
            out.push(p);
        }
    }
    if add {
        out.push(pid);
    }
    out
}

fn alive(pid: i32) -> bool {
    // EPERM means it exists but is not ours to signal.
    !matches!(
        nix::sys::signal::kill(Pid::from_raw(pid), None),
        Err(nix::Error::ESRCH)
    )
}

/// A runtime directory held by this process for one session.
#[derive(Debug)]
pub struct RuntimeDir {
    pub path: PathBuf,
    holders: PathBuf,
    uid: Uid,
}

/// Holds `base/UID` for this process (creating it, 0700 and owned by `uid`:`gid`, if it does
/// not exist), recording the holder in `state_dir/runtime-UID`.
pub fn acquire(base: &Path, state_dir: &Path, uid: Uid, gid: Gid) -> Result<RuntimeDir, RuntimeDirError> {
    let path = base.join(uid.to_string());
    let holders = state_dir.join(format!("runtime-{uid}"));
    change(&holders, true, |_| {
        if !base.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(base)
                .map_err(err("cannot create", base))?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err("cannot create", &path)(e)),
        }
        std::os::unix::fs::chown(&path, Some(uid.as_raw()), Some(gid.as_raw()))
            .map_err(err("cannot chown", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .map_err(err("cannot chmod", &path))
    })?;
    Ok(RuntimeDir { path, holders, uid })
}

impl RuntimeDir {
    /// Gives the directory up; removes it (and everything in it) when no live holder is left.
    /// Returns whether it was removed.
    pub fn release(self) -> Result<bool, RuntimeDirError> {
        let mut removed = false;
        let path = self.path.clone();
        change(&self.holders, false, |left| {
            if left.is_empty() {
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => removed = true,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(err("cannot remove", &path)(e)),
                }
            }
            Ok(())
        })?;
        tracing::debug!(uid = %self.uid, removed, "runtime directory released");
        Ok(removed)
    }
}

/// Updates the holders file under its lock and runs `then` with the new list, still locked.
fn change(
    holders: &Path,
    add: bool,
    then: impl FnOnce(&[i32]) -> Result<(), RuntimeDirError>,
) -> Result<(), RuntimeDirError> {
    if let Some(dir) = holders.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(err("cannot create", dir))?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(holders)
        .map_err(err("cannot open", holders))?;
    let mut file =
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| err("cannot lock", holders)(e.into()))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(err("cannot read", holders))?;
    let now = update_holders(&parse_holders(&text), std::process::id() as i32, add, alive);
    then(&now)?;
    file.set_len(0).map_err(err("cannot write", holders))?;
    file.rewind().map_err(err("cannot write", holders))?;
    file.write_all(format_holders(&now).as_bytes())
        .map_err(err("cannot write", holders))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_round_trip_and_skip_garbage() {
        assert_eq!(parse_holders(&format_holders(&[3, 14, 15])), vec![3, 14, 15]);
        assert_eq!(parse_holders("12\nxx\n-4\n0\n 7 \n"), vec![12, 7]);
    }

    #[test]
    fn dead_holders_do_not_keep_the_directory() {
        let all = |_| true;
        assert_eq!(update_holders(&[10, 20], 30, true, all), vec![10, 20, 30]);
        assert_eq!(update_holders(&[10, 30, 30], 30, false, all), vec![10]);
        assert_eq!(
            update_holders(&[10, 20], 30, false, |p| p != 10 && p != 20),
            Vec::<i32>::new()
        );
        assert_eq!(update_holders(&[30], 30, true, all), vec![30]);
    }

    #[test]
    fn the_directory_is_made_and_removed() {
        let root = std::env::temp_dir().join(format!("vestibule-rundir-test-{}", std::process::id()));
        let base = root.join("user");
        let state = root.join("state");
        let dir = acquire(&base, &state, Uid::effective(), Gid::effective()).unwrap();
        let meta = std::fs::metadata(&dir.path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        std::fs::write(dir.path.join("bus"), b"x").unwrap();
        let path = dir.path.clone();
        assert!(dir.release().unwrap());
        assert!(!path.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
