//! Ending a session's processes: SIGTERM to the leader's process group, a bounded wait until the
//! leader is gone, SIGKILL after the grace period. The wait polls /proc (a pid that is not our
//! child cannot be waited for) without blocking the bus: it is an async timer loop.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::procfs;
use crate::table::Entry;

/// How often the wait looks at /proc: each period is latency a close may add, and only sessions
/// being closed are polled.
const POLL: Duration = Duration::from_millis(2);
/// How long to wait after SIGKILL before giving up (a process in uninterruptible sleep).
const AFTER_KILL: Duration = Duration::from_secs(3);

/// What it took to end the session's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Nothing of the session was running any more.
    AlreadyGone,
    /// The processes left after SIGTERM.
    Terminated,
    /// They ignored SIGTERM for the grace period and were killed.
    Killed,
}

#[derive(Debug, thiserror::Error)]
pub enum TerminateError {
    #[error("session leader {pid} is still running {waited:?} after SIGKILL")]
    Unkillable { pid: u32, waited: Duration },
}

/// Ends the processes of `entry`'s session and returns once they are gone.
///
/// While the leader is the registered process (pid and start time), the whole process group is
/// signalled at once, which no fork can escape. If the leader is already gone, its group id may
/// be reused, so only the group's processes that run as the session's user are signalled, one
/// by one.
pub async fn end_session(entry: &Entry, grace: Duration) -> Result<Ended, TerminateError> {
    let leader = entry.record.leader;
    let uid = entry.record.uid;
    if procfs::alive(leader, entry.leader_start) {
        signal_group(leader, Signal::SIGTERM);
        if wait_until(grace, || !procfs::alive(leader, entry.leader_start)).await {
            return Ok(Ended::Terminated);
        }
        tracing::info!(leader, ?grace, "session ignored SIGTERM: SIGKILL");
        signal_group(leader, Signal::SIGKILL);
        if wait_until(AFTER_KILL, || !procfs::alive(leader, entry.leader_start)).await {
            return Ok(Ended::Killed);
        }
        return Err(TerminateError::Unkillable {
            pid: leader,
            waited: AFTER_KILL,
        });
    }
    let members = procfs::group_members(leader, uid);
    if members.is_empty() {
        return Ok(Ended::AlreadyGone);
    }
    tracing::info!(
        leader,
        ?members,
        "leader gone; ending the rest of its process group"
    );
    signal_each(&members, Signal::SIGTERM);
    if wait_until(grace, || procfs::group_members(leader, uid).is_empty()).await {
        return Ok(Ended::Terminated);
    }
    signal_each(&procfs::group_members(leader, uid), Signal::SIGKILL);
    wait_until(AFTER_KILL, || procfs::group_members(leader, uid).is_empty()).await;
    Ok(Ended::Killed)
}

/// Which processes of a session a signal goes to (login1's `KillSession` `who`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whom {
    Leader,
    All,
}

/// Sends `sig` to the session's leader or all its processes (the leader's process group while
/// the leader is the registered process; else the group's processes of the session's user).
/// Returns how many processes (or groups) were signalled; nothing is waited for.
pub fn signal_session(entry: &Entry, whom: Whom, sig: Signal) -> usize {
    let leader = entry.record.leader;
    let alive = procfs::alive(leader, entry.leader_start);
    match (whom, alive) {
        (Whom::Leader, true) => usize::from(kill(Pid::from_raw(leader as i32), sig).is_ok()),
        (Whom::Leader, false) => 0,
        (Whom::All, true) => usize::from(killpg(Pid::from_raw(leader as i32), sig).is_ok()),
        (Whom::All, false) => {
            let members = procfs::group_members(leader, entry.record.uid);
            signal_each(&members, sig);
            members.len()
        }
    }
}

fn signal_group(pgrp: u32, sig: Signal) {
    if let Err(e) = killpg(Pid::from_raw(pgrp as i32), sig) {
        tracing::debug!(pgrp, ?sig, error = %e, "killpg");
    }
}

fn signal_each(pids: &[u32], sig: Signal) {
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid as i32), sig);
    }
}

/// Polls `done` until it holds or `limit` passes; returns whether it held.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        async_io::Timer::after(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Registration;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use vestibule_core::record::SessionClass;

    fn entry_for(child: &std::process::Child) -> Entry {
        let pid = child.id();
        let mut t = crate::table::Table::new();
        t.insert(
            Registration {
                user: "me".into(),
                uid: nix::unistd::getuid().as_raw(),
                tty: None,
                display: None,
                remote_host: None,
                service: "vestibule".into(),
                leader: pid,
                supervisor: std::process::id(),
                class: SessionClass::User,
            },
            0,
            procfs::start_time(pid),
            None,
        )
        .unwrap();
        t.get(1).unwrap().clone()
    }

    #[test]
    fn sigterm_ends_a_cooperative_session() {
        let mut child = Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
        let e = entry_for(&child);
        let r = async_io::block_on(end_session(&e, Duration::from_secs(5))).unwrap();
        assert_eq!(r, Ended::Terminated);
        assert!(child.wait().unwrap().code().is_none());
    }

    #[test]
    fn sigkill_after_the_grace_period() {
        let mut child = Command::new("sh")
            .args(["-c", "trap '' TERM; while :; do sleep 0.05; done"])
            .process_group(0)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let e = entry_for(&child);
        let r = async_io::block_on(end_session(&e, Duration::from_millis(200))).unwrap();
        assert_eq!(r, Ended::Killed);
        let _ = child.wait();
    }

    #[test]
    fn a_gone_leader_is_already_gone() {
        let mut child = Command::new("true").process_group(0).spawn().unwrap();
        let e = entry_for(&child);
        child.wait().unwrap();
        let r = async_io::block_on(end_session(&e, Duration::from_millis(100))).unwrap();
        assert_eq!(r, Ended::AlreadyGone);
    }
}
