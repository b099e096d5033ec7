//! The supplementary groups a login gives its own process before `pam_setcred`, and takes back
//! if the login does not reach a session.
//!
//! `initgroups` runs in the supervising process (as login(1) does), so modules like pam_group can
//! add to the user's groups at setcred and the session child inherits them all. A long-running
//! front end (a greeter) that failed after that point would otherwise go on with the last user's
//! groups, and its next login would start from them.

use nix::unistd::{getgroups, setgroups, Gid};

use crate::session::Account;

/// The user's groups, set on this process; the groups it had before come back on drop unless
/// [`UserGroups::keep`] hands them to a session.
#[derive(Debug)]
pub(crate) struct UserGroups {
    original: Vec<Gid>,
    kept: bool,
}

impl UserGroups {
    /// `initgroups(account.name, account.gid)`, remembering the groups the process had.
    pub(crate) fn set_for(account: &Account) -> nix::Result<UserGroups> {
        let original = getgroups()?;
        let name = std::ffi::CString::new(account.name.as_bytes()).map_err(|_| nix::Error::EINVAL)?;
        let guard = UserGroups {
            original,
            kept: false,
        };
        // If initgroups fails half-way, the drop puts the original groups back.
        nix::unistd::initgroups(&name, account.gid)?;
        Ok(guard)
    }

    /// The session runs with these groups; it drops them itself when it ends.
    pub(crate) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for UserGroups {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if let Err(e) = setgroups(&self.original) {
            tracing::error!(error = %e, "could not give back the supplementary groups after a failed login");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a forked child (the groups are the whole process's); its exit status is the verdict.
    fn in_child(body: fn() -> bool) -> bool {
        match crate::sys::fork().unwrap() {
            nix::unistd::ForkResult::Child => crate::sys::exit_now(if body() { 0 } else { 1 }),
            nix::unistd::ForkResult::Parent { child } => matches!(
                nix::sys::wait::waitpid(child, None),
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0))
            ),
        }
    }

    fn daemon_account() -> Account {
        // "daemon" (uid 1, gid 1) exists on every Debian system.
        Account::from(nix::unistd::User::from_name("daemon").unwrap().unwrap())
    }

    #[test]
    fn groups_come_back_unless_a_session_keeps_them() {
        if !nix::unistd::Uid::effective().is_root() {
            panic!("this test sets supplementary groups: run it as root");
        }
        assert!(in_child(|| {
            let before = [Gid::from_raw(4321), Gid::from_raw(4322)];
            if setgroups(&before).is_err() {
                return false;
            }
            let guard = UserGroups::set_for(&daemon_account()).unwrap();
            let during = getgroups().unwrap();
            let set = during.contains(&Gid::from_raw(1)) && !during.contains(&Gid::from_raw(4321));
            drop(guard);
            let restored = getgroups().unwrap() == before;
            UserGroups::set_for(&daemon_account()).unwrap().keep();
            let kept = getgroups().unwrap().contains(&Gid::from_raw(1));
            set && restored && kept
        }));
    }
}
