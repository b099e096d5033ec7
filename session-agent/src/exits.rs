//! Supervisors' exits as they happen: one pidfd per session's supervisor, readable once that
//! process has exited, all in one epoll set that a thread of its own waits on. An orphaned
//! session is closed at once, and an idle agent with thousands of sessions does no work at all —
//! where a periodic scan of /proc reads one file per session per interval (about 130 ms a second
//! at 10,000 sessions). A watch costs an open pidfd and a map entry.
//!
//! A session whose supervisor cannot be watched (a kernel before 5.3, the open-file limit
//! reached) is left to the periodic scan (`--watch-interval-ms`), which covers only those.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use rustix::event::epoll;

use crate::procfs;

/// The watched supervisors, and where their exits are announced.
#[derive(Debug)]
pub struct Exits {
    /// The epoll set, each pidfd in it with its session number as data (one-shot: an exited
    /// process stays readable).
    epoll: Arc<OwnedFd>,
    /// Each watched session's pidfd; dropping one closes it, which also takes it out of the set.
    pidfds: Mutex<HashMap<u64, OwnedFd>>,
    receiver: async_channel::Receiver<u64>,
}

/// Why the watches could not be set up at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch supervisors' exits: {0}")]
pub struct WatchError(#[from] std::io::Error);

/// A pidfd for `pid`, if it is still the process that started at `start` (clock ticks after
/// boot). Opened first and checked after, so a pid reused in between is not mistaken for it.
pub fn open(pid: u32, start: Option<u64>) -> std::io::Result<OwnedFd> {
    let gone = || std::io::Error::from_raw_os_error(libc::ESRCH);
    let raw = i32::try_from(pid).map_err(|_| gone())?;
    let pid_ = rustix::process::Pid::from_raw(raw).ok_or_else(gone)?;
    let fd = rustix::process::pidfd_open(pid_, rustix::process::PidfdFlags::empty())?;
    if !procfs::alive(pid, start) {
        return Err(gone());
    }
    Ok(fd)
}

impl Exits {
    /// Creates the epoll set and starts the thread that waits on it.
    pub fn new() -> Result<Exits, WatchError> {
        let epoll = Arc::new(epoll::create(epoll::CreateFlags::CLOEXEC).map_err(std::io::Error::from)?);
        let (sender, receiver) = async_channel::unbounded();
        let set = epoll.clone();
        std::thread::Builder::new()
            .name("supervisor-exits".into())
            .spawn(move || wait_loop(&set, &sender))?;
        Ok(Exits {
            epoll,
            pidfds: Mutex::new(HashMap::new()),
            receiver,
        })
    }

    fn pidfds(&self) -> std::sync::MutexGuard<'_, HashMap<u64, OwnedFd>> {
        self.pidfds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches session `n`'s supervisor, `pid` (started at `start`). Returns false when it cannot
    /// (gone already, or no pidfd): the periodic scan then covers the session.
    pub fn watch(&self, n: u64, pid: u32, start: Option<u64>) -> bool {
        let added = open(pid, start).and_then(|fd| {
            let flags = epoll::EventFlags::IN | epoll::EventFlags::ONESHOT;
            epoll::add(&*self.epoll, &fd, epoll::EventData::new_u64(n), flags)?;
            Ok(fd)
        });
        match added {
            Ok(fd) => {
                self.pidfds().insert(n, fd);
                true
            }
            Err(e) => {
                tracing::debug!(id = n, pid, error = %e, "supervisor not watched by pidfd");
                false
            }
        }
    }

    /// Whether session `n`'s supervisor is watched (not left to the scan).
    pub fn watched(&self, n: u64) -> bool {
        self.pidfds().contains_key(&n)
    }

    /// Keeps only the sessions (first of each tuple) whose supervisor is not watched.
    pub fn retain_unwatched<T>(&self, sessions: &mut Vec<(u64, T)>) {
        let pidfds = self.pidfds();
        sessions.retain(|(n, _)| !pidfds.contains_key(n));
    }

    /// Session `n` is gone: stop watching its supervisor.
    pub fn forget(&self, n: u64) {
        self.pidfds().remove(&n);
    }

    /// The next session whose supervisor exited. Never ends while the agent runs.
    pub async fn next(&self) -> u64 {
        match self.receiver.recv().await {
            Ok(n) => {
                self.forget(n);
                n
            }
            // The waiting thread is gone (it logged why): only the scan is left.
            Err(_) => std::future::pending().await,
        }
    }
}

/// The waiting thread: passes on the session number of every pidfd that becomes readable.
fn wait_loop(epoll: &OwnedFd, sender: &async_channel::Sender<u64>) {
    let mut events = Vec::with_capacity(64);
    loop {
        events.clear();
        match epoll::wait(epoll, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::error!(error = %e, "waiting for supervisors' exits failed: only the periodic scan is left");
                return;
            }
        }
        for event in &events {
            let data = event.data;
            if sender.send_blocking(data.u64()).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Duration;

    /// The next announced session, or None within `limit`.
    fn next_within(exits: &Exits, limit: Duration) -> Option<u64> {
        async_io::block_on(futures_lite::future::or(
            async { Some(exits.next().await) },
            async {
                async_io::Timer::after(limit).await;
                None
            },
        ))
    }

    #[test]
    fn an_exit_is_announced_once_with_its_session_and_a_forgotten_watch_is_silent() {
        let exits = Exits::new().unwrap();
        let mut a = Command::new("sleep").arg("100").spawn().unwrap();
        let mut b = Command::new("sleep").arg("100").spawn().unwrap();
        assert!(exits.watch(7, a.id(), procfs::start_time(a.id())));
        assert!(exits.watch(8, b.id(), procfs::start_time(b.id())));
        assert!(exits.watched(7) && exits.watched(8));
        assert_eq!(
            next_within(&exits, Duration::from_millis(100)),
            None,
            "nobody exited yet"
        );
        exits.forget(8);
        assert!(!exits.watched(8));
        b.kill().unwrap();
        b.wait().unwrap();
        a.kill().unwrap();
        a.wait().unwrap();
        assert_eq!(next_within(&exits, Duration::from_secs(5)), Some(7));
        assert!(!exits.watched(7), "announced sessions are no longer watched");
        assert_eq!(
            next_within(&exits, Duration::from_millis(200)),
            None,
            "announced once; the forgotten session's exit not at all"
        );
    }

    #[test]
    fn gone_and_reused_pids_are_not_watched() {
        let exits = Exits::new().unwrap();
        let me = std::process::id();
        let start = procfs::start_time(me).unwrap();
        assert!(open(me, Some(start)).is_ok());
        assert!(
            open(me, Some(start + 1)).is_err(),
            "another start time is another process"
        );
        assert!(open(0, None).is_err());
        assert!(open(u32::MAX, None).is_err());
        // A zombie has exited: not watched, left to the scan (which closes its session).
        let mut zombie = Command::new("true").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!exits.watch(9, zombie.id(), None));
        assert!(!exits.watched(9));
        zombie.wait().unwrap();
    }
}
