//! The operations on sessions, the same whichever D-Bus interface asks (the agent's manager, its
//! session objects, login1): find, show, lock, unlock, close, and the clean-ups that need no
//! caller (orphaned sessions, lock screens that died). Each checks the caller's right
//! ([`crate::authz`]) on the uid the interface got from the bus, changes the table, journals the
//! change and announces it ([`crate::signals`]).

use std::sync::Arc;
use std::time::Duration;

use vestibule_core::record::{SessionRecord, SessionState};
use zbus::Connection;

use crate::authz::{self, Action};
use crate::error::{AgentError, Reply};
use crate::persist::Change;
use crate::signals;
use crate::state::Shared;
use crate::table::Entry;
use crate::wire::WireSession;
use crate::{pam_close, procfs, terminate, validate};

/// GetSession and GetSessionPath: session `id`, if `caller` may see it.
pub fn by_id(shared: &Shared, caller: u32, id: &str) -> Reply<WireSession> {
    let n = validate::session_id(id)?;
    let state = shared.lock();
    shown(caller, &state.table.get(n)?.record)
}

/// GetSessionByPid and GetSessionPathByPid: the session of `pid`, if `caller` may see it.
pub fn by_pid(shared: &Shared, caller: u32, pid: u32) -> Reply<WireSession> {
    let pid = validate::pid("pid", pid)?;
    let stat = procfs::stat(pid);
    let state = shared.lock();
    let (_, e) = state
        .table
        .by_process(pid, stat.map(|s| s.pgrp), stat.map(|s| s.session))
        .ok_or_else(|| AgentError::NoSuchSession(format!("no session has process {pid}")))?;
    shown(caller, &e.record)
}

/// The record as the bus sends it, if `caller` may see it.
pub fn shown(caller: u32, record: &SessionRecord) -> Reply<WireSession> {
    authz::check(
        caller,
        Action::Show {
            id: &record.id,
            owner: record.uid,
        },
    )?;
    Ok(WireSession::from(record))
}

/// LockSession and UnlockSession (on the manager or a session object): checks the caller may,
/// records the state, and sends `Lock` or `Unlock` and the session object's `PropertiesChanged`
/// only when the state changed.
pub async fn set_locked(
    shared: &Shared,
    caller: u32,
    conn: &Connection,
    id: &str,
    locked: bool,
) -> Reply<()> {
    let n = validate::session_id(id)?;
    if locked {
        let (owner, state_now) = {
            let state = shared.lock();
            let e = state.table.get(n)?;
            (e.record.uid, e.record.state)
        };
        authz::check(caller, Action::Lock { id, owner })?;
        if state_now == SessionState::Locked {
            return Ok(());
        }
        cover(shared, conn, n, id).await?;
    }
    let changed = {
        let mut state = shared.lock();
        let owner = state.table.get(n)?.record.uid;
        let action = match locked {
            true => Action::Lock { id, owner },
            false => Action::Unlock { id, owner },
        };
        authz::check(caller, action)?;
        let changed = state.table.set_lock(n, locked)?;
        if !locked {
            // Unlocking clears what the session's own locker said too (login1's LockedHint).
            state.hints.entry(n).or_default().locked = false;
        }
        if changed {
            state.record_state(n);
        }
        changed
    };
    if !changed {
        return Ok(());
    }
    if !locked {
        signals::unlock(shared, conn, n).await;
    }
    let new = if locked {
        SessionState::Locked
    } else {
        SessionState::Active
    };
    signals::state_changed(conn, n, new).await;
    Ok(())
}

/// "Locked" means covered: sends `Lock(id)` to session `n`'s lock screen and returns once it has
/// reported the screen covered and its input held (`ReportLocked`). No lock screen registered:
/// NoLockScreen at once; no report within [`Settings::lock_timeout`](crate::state::Settings::lock_timeout): NotCovered. Either way the
/// session is not marked locked.
async fn cover(shared: &Shared, conn: &Connection, n: u64, id: &str) -> Reply<()> {
    if !shared.lockers.has_locker(n) {
        return Err(AgentError::NoLockScreen(format!(
            "session {id} has no lock screen to cover it (none registered with SetLocker)"
        )));
    }
    shared.lockers.expect_cover(n);
    signals::lock(shared, conn, n).await;
    let limit = shared.settings.lock_timeout;
    let start = std::time::Instant::now();
    while !shared.lockers.is_covered(n) {
        if start.elapsed() >= limit {
            tracing::warn!(id, ?limit, "the lock screen did not report the screen covered");
            return Err(AgentError::NotCovered(format!(
                "session {id}: the lock screen did not report the screen covered and its input held within {} ms",
                limit.as_millis()
            )));
        }
        async_io::Timer::after(std::time::Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Closes session `n` and returns once it is gone: marks it closing (so nobody closes it twice),
/// ends its processes, waits for a live supervisor to close the PAM session and unregister it,
/// or closes the PAM session itself if the supervisor is gone, forgets it and sends
/// `SessionRemoved`. A second caller for the same session waits for the first one to finish.
pub async fn close(shared: &Arc<Shared>, conn: &Connection, n: u64) -> Reply<()> {
    let mine: Option<Entry> = {
        let mut state = shared.lock();
        if state.table.mark_closing(n)? {
            state.record_state(n);
            Some(state.table.get(n)?.clone())
        } else {
            None
        }
    };
    let Some(entry) = mine else {
        return wait_removed(shared, n).await;
    };
    signals::state_changed(conn, n, SessionState::Closing).await;
    let id = entry.record.id.clone();
    let ended = terminate::end_session(&entry, shared.settings.grace).await;
    let ended = match ended {
        Ok(e) => e,
        Err(e) => {
            // Back to active: the next ask, or the supervisor watch, tries again.
            reopen(shared, conn, n).await;
            return Err(AgentError::Failed(format!("session {id}: {e}")));
        }
    };
    tracing::info!(id, ?ended, "session processes ended");
    match wait_for_supervisor(shared, &entry).await {
        Supervisor::Unregistered => {
            // Its supervisor closed the PAM session in its own transaction and said so (and
            // `UnregisterSession` announced the removal).
            tracing::info!(id, "PAM session closed by its supervisor");
            return Ok(());
        }
        Supervisor::Gone => {}
        Supervisor::Stuck(waited) => {
            // Not known to be closed: active again, so its unregistering, a later close or the
            // supervisor watch (once it dies) finishes it.
            reopen(shared, conn, n).await;
            return Err(AgentError::Failed(format!(
                "session {id}: its processes ended, but its supervisor (pid {}) did not close the PAM \
                 session within {waited:?}",
                entry.record.supervisor
            )));
        }
    }
    if !procfs::alive(entry.record.supervisor, entry.supervisor_start) {
        // Nobody holds the PAM transaction any more: close it here, in a fresh one.
        let record = entry.record.clone();
        let pam = shared.settings.pam.clone();
        let outcome = blocking::unblock(move || pam_close::close(&record, &pam)).await;
        match outcome {
            Ok(()) => tracing::info!(id, user = entry.record.user, "PAM session closed by the agent"),
            // The session is over either way; the module's failure is logged, not retried forever.
            Err(e) => tracing::error!(error = %e, "closing the PAM session failed"),
        }
    }
    // The supervisor may have unregistered it meanwhile (and announced it): only one signal.
    let removed = {
        let mut state = shared.lock();
        let removed = state.table.remove(n).is_ok();
        state.hints.remove(&n);
        if removed {
            state.record(Change::Remove { id: n });
        }
        removed
    };
    if removed {
        shared.lockers.forget(n);
        shared.exits.forget(n);
        signals::session_removed(shared, conn, n, entry.record.uid).await;
    }
    Ok(())
}

/// A close that did not finish: the session is active again (journalled and announced).
async fn reopen(shared: &Shared, conn: &Connection, n: u64) {
    {
        let mut state = shared.lock();
        state.table.unmark_closing(n);
        state.record_state(n);
    }
    signals::state_changed(conn, n, SessionState::Active).await;
}

/// How often a close looks for its session's supervisor having unregistered it: short, because
/// every poll period is latency added to CloseSession's reply, and only sessions being closed poll.
const POLL: Duration = Duration::from_millis(2);

/// What the supervisor of a session being closed did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Supervisor {
    /// It unregistered the session: its PAM session is closed.
    Unregistered,
    /// It is gone (or was already): closing the PAM session is the agent's job.
    Gone,
    /// It lives but did not unregister within the wait.
    Stuck(Duration),
}

/// Once the session's processes are gone, its supervisor (the core's, which sees its leader
/// exit) closes the PAM session and unregisters it; waits for that, or for it to die, without
/// blocking the bus (an async timer loop).
async fn wait_for_supervisor(shared: &Arc<Shared>, entry: &Entry) -> Supervisor {
    let n: u64 = entry.record.id.parse().expect("decimal id");
    let start = std::time::Instant::now();
    loop {
        if shared.lock().table.get(n).is_err() {
            return Supervisor::Unregistered;
        }
        if !procfs::alive(entry.record.supervisor, entry.supervisor_start) {
            // It may have unregistered just before it went.
            if shared.lock().table.get(n).is_err() {
                return Supervisor::Unregistered;
            }
            return Supervisor::Gone;
        }
        let limit = shared.settings.supervisor_wait;
        if start.elapsed() >= limit {
            return Supervisor::Stuck(limit);
        }
        async_io::Timer::after(POLL).await;
    }
}

/// Waits until another close of session `n` finishes; fails if that close failed.
async fn wait_removed(shared: &Arc<Shared>, n: u64) -> Reply<()> {
    let limit = shared.settings.grace + shared.settings.supervisor_wait + Duration::from_secs(30);
    let start = std::time::Instant::now();
    loop {
        let closing = match shared.lock().table.get(n) {
            Err(_) => return Ok(()),
            Ok(e) => e.record.state == SessionState::Closing,
        };
        if !closing {
            return Err(AgentError::Failed(format!(
                "session {n}: a concurrent close failed; the session is still open"
            )));
        }
        if start.elapsed() > limit {
            return Err(AgentError::Failed(format!(
                "session {n} is still closing after {limit:?}"
            )));
        }
        async_io::Timer::after(Duration::from_millis(10)).await;
    }
}

/// Closes every session whose supervisor is gone (crashed, killed, or gone while the agent was
/// not running) and is not watched by pidfd ([`Exits`]): the agent runs this at start, once the
/// watches are set up, and then every `--watch-interval-ms`.
///
/// [`Exits`]: crate::exits::Exits
pub async fn close_orphans(shared: &Arc<Shared>, conn: &Connection) {
    // The pids are read under the lock, /proc outside it: the scan never holds up a call.
    let mut unwatched: Vec<(u64, (u32, Option<u64>))> = shared
        .lock()
        .table
        .iter()
        .filter(|(_, e)| e.record.state != SessionState::Closing)
        .map(|(n, e)| (n, (e.record.supervisor, e.supervisor_start)))
        .collect();
    shared.exits.retain_unwatched(&mut unwatched);
    for (n, (pid, start)) in unwatched {
        if !procfs::alive(pid, start) {
            close_orphan(shared, conn, n).await;
        }
    }
}

/// Closes session `n` if its supervisor is gone (and nobody is closing it already).
pub async fn close_orphan(shared: &Arc<Shared>, conn: &Connection, n: u64) {
    let orphaned = shared.lock().table.get(n).is_ok_and(|e| {
        e.record.state != SessionState::Closing && !procfs::alive(e.record.supervisor, e.supervisor_start)
    });
    if !orphaned {
        return;
    }
    tracing::warn!(id = n, "supervisor gone: the agent closes the session");
    if let Err(e) = close(shared, conn, n).await {
        tracing::error!(id = n, error = %e, "could not close an orphaned session");
    }
}

/// At start: every locked session whose lock screen (as the state file names it) is not running
/// any more gets a new one, so a lock screen that died while the agent was down is replaced once
/// it is back. A live one is left alone: it registers again when it sees the agent return.
pub fn restore_lockers(shared: &Shared) {
    let orphaned: Vec<(u64, SessionRecord)> = {
        let state = shared.lock();
        state
            .table
            .iter()
            .filter(|(_, e)| e.record.state == SessionState::Locked)
            .filter(|(_, e)| !e.locker.is_some_and(|p| procfs::alive(p.pid, Some(p.start))))
            .map(|(n, e)| (n, e.record.clone()))
            .collect()
    };
    for (n, record) in orphaned {
        match shared.lockers.spawn(n, &record) {
            Ok(pid) => tracing::warn!(
                session = n,
                pid,
                "a locked session had no live lock screen at start: started a new one"
            ),
            Err(e) => {
                tracing::error!(session = n, error = %e, "a locked session has no lock screen and no new one could be started")
            }
        }
    }
}

/// A lock screen's bus name vanished: if its session is still locked, start a new one at once.
pub fn locker_gone(shared: &Shared, name: &str) {
    let Some(n) = shared.lockers.vanished(name) else {
        return;
    };
    let record = {
        let state = shared.lock();
        match state.table.get(n) {
            Ok(e) if e.record.state == SessionState::Locked => e.record.clone(),
            _ => return,
        }
    };
    match shared.lockers.spawn(n, &record) {
        Ok(pid) => tracing::warn!(
            session = n,
            pid,
            "the lock screen died while locked: started a new one"
        ),
        Err(e) => {
            tracing::error!(session = n, error = %e, "the lock screen died while locked and no new one could be started")
        }
    }
}
