//! The session table: every session the agent knows, as plain data. No bus, no files, no
//! processes here — the service decides, the table only keeps — so every rule about ids and
//! states is unit-tested.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vestibule_core::record::{SessionRecord, SessionState};

use crate::validate::Registration;

/// A cap on the table so a misbehaving (root) client cannot grow the agent without bound.
pub const MAX_SESSIONS: usize = 100_000;

/// One session and what the agent needs to recognise its processes again: a pid alone can be
/// reused after the process is gone, its start time (in clock ticks since boot) cannot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub record: SessionRecord,
    pub leader_start: Option<u64>,
    pub supervisor_start: Option<u64>,
    /// The process that last registered as the session's lock screen. Kept on disk so an agent
    /// that restarts while the session is locked recognises it when it registers again (and
    /// refuses any other process of the user), and starts a new one if it died meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locker: Option<Process>,
}

/// A process, recognisable across pid reuse: its pid and start time (clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub start: u64,
}

/// Errors of table operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("no session with id {0}")]
    NoSuchSession(String),
    #[error("session {0} is being closed")]
    Closing(String),
    #[error("the agent already holds {MAX_SESSIONS} sessions")]
    Full,
}

/// The sessions, by numeric id, and the next id to hand out (ids are never reused while the
/// state file lives, so a stale id can never name a newer session).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    next_id: u64,
    /// Boxed: a B-tree node holds eleven values, and ids only grow, so each leaf is left a little
    /// over half full; with the entries (about 230 bytes each) in the nodes that wasted about
    /// 1.5 MB at 10,000 sessions, with pointers in them about a tenth of it. Serialized the same.
    sessions: BTreeMap<u64, Box<Entry>>,
}

impl Table {
    pub fn new() -> Table {
        Table {
            next_id: 1,
            sessions: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Adds a session registered at `since` (Unix seconds); returns its id.
    pub fn insert(
        &mut self,
        reg: Registration,
        since: u64,
        leader_start: Option<u64>,
        supervisor_start: Option<u64>,
    ) -> Result<String, TableError> {
        if self.sessions.len() >= MAX_SESSIONS {
            return Err(TableError::Full);
        }
        let n = self.next_id.max(1);
        self.next_id = n + 1;
        let id = n.to_string();
        let record = SessionRecord {
            id: id.clone(),
            user: reg.user,
            uid: reg.uid,
            tty: reg.tty,
            display: reg.display,
            remote_host: reg.remote_host,
            service: reg.service,
            leader: reg.leader,
            supervisor: reg.supervisor,
            class: reg.class,
            state: SessionState::Active,
            since,
        };
        self.sessions.insert(
            n,
            Box::new(Entry {
                record,
                leader_start,
                supervisor_start,
                locker: None,
            }),
        );
        Ok(id)
    }

    pub fn get(&self, id: u64) -> Result<&Entry, TableError> {
        self.sessions
            .get(&id)
            .map(|e| &**e)
            .ok_or_else(|| TableError::NoSuchSession(id.to_string()))
    }

    pub fn remove(&mut self, id: u64) -> Result<Entry, TableError> {
        self.sessions
            .remove(&id)
            .map(|e| *e)
            .ok_or_else(|| TableError::NoSuchSession(id.to_string()))
    }

    /// Every session, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Entry)> {
        self.sessions.iter().map(|(k, v)| (*k, &**v))
    }

    /// The ids of `uid`'s sessions.
    pub fn ids_of(&self, uid: u32) -> Vec<u64> {
        self.iter()
            .filter(|(_, e)| e.record.uid == uid)
            .map(|(id, _)| id)
            .collect()
    }

    /// The session a process belongs to: its leader or supervisor, or a process whose process
    /// group or session (as /proc reports them) is a session's leader.
    pub fn by_process(&self, pid: u32, pgrp: Option<u32>, sid: Option<u32>) -> Option<(u64, &Entry)> {
        self.iter()
            .find(|(_, e)| e.record.leader == pid || e.record.supervisor == pid)
            .or_else(|| {
                self.iter()
                    .find(|(_, e)| Some(e.record.leader) == pgrp || Some(e.record.leader) == sid)
            })
    }

    /// Moves a session between active and locked (a closing session stays closing). Returns
    /// whether the state changed, so signals are sent only for real transitions.
    pub fn set_lock(&mut self, id: u64, locked: bool) -> Result<bool, TableError> {
        let e = self
            .sessions
            .get_mut(&id)
            .ok_or_else(|| TableError::NoSuchSession(id.to_string()))?;
        let want = if locked {
            SessionState::Locked
        } else {
            SessionState::Active
        };
        match e.record.state {
            SessionState::Closing => Err(TableError::Closing(id.to_string())),
            s if s == want => Ok(false),
            _ => {
                e.record.state = want;
                Ok(true)
            }
        }
    }

    /// Records session `n`'s lock screen process; `false` if the id is unknown or nothing changed.
    pub fn set_locker(&mut self, n: u64, locker: Option<Process>) -> bool {
        match self.sessions.get_mut(&n) {
            Some(e) if e.locker != locker => {
                e.locker = locker;
                true
            }
            _ => false,
        }
    }

    /// Marks a session closing; `Ok(false)` if it already was (someone else is closing it).
    pub fn mark_closing(&mut self, id: u64) -> Result<bool, TableError> {
        let e = self
            .sessions
            .get_mut(&id)
            .ok_or_else(|| TableError::NoSuchSession(id.to_string()))?;
        if e.record.state == SessionState::Closing {
            return Ok(false);
        }
        e.record.state = SessionState::Closing;
        Ok(true)
    }

    /// A close that failed (processes that would not die): the session is active again, so the
    /// next close or the supervisor watch tries again.
    pub fn unmark_closing(&mut self, id: u64) {
        if let Some(e) = self.sessions.get_mut(&id) {
            if e.record.state == SessionState::Closing {
                e.record.state = SessionState::Active;
            }
        }
    }

    /// Puts `entry` back under id `n` as the journal recorded it (replacing what was there), and
    /// keeps the id counter past it, so replaying a journal never hands out an id twice.
    pub fn restore(&mut self, n: u64, entry: Entry) {
        self.next_id = self.next_id.max(1).max(n.saturating_add(1));
        self.sessions.insert(n, Box::new(entry));
    }

    /// Sets a session's state as the journal recorded it; `false` if the id is unknown (a line
    /// about a session removed later in the same journal is harmless).
    pub fn set_state(&mut self, n: u64, state: SessionState) -> bool {
        match self.sessions.get_mut(&n) {
            Some(e) => {
                e.record.state = state;
                true
            }
            None => false,
        }
    }

    /// After a restart: a session left "closing" by an agent that stopped mid-close is closed
    /// again from the start, so no close is lost.
    pub fn reopen_closing(&mut self) -> Vec<u64> {
        let mut ids = Vec::new();
        for (id, e) in self.sessions.iter_mut() {
            if e.record.state == SessionState::Closing {
                e.record.state = SessionState::Active;
                ids.push(*id);
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_core::record::SessionClass;

    fn reg(uid: u32, leader: u32) -> Registration {
        Registration {
            user: format!("u{uid}"),
            uid,
            tty: Some("tty1".into()),
            display: None,
            remote_host: None,
            service: "vestibule".into(),
            leader,
            supervisor: leader - 1,
            class: SessionClass::User,
        }
    }

    #[test]
    fn ids_count_up_and_are_never_reused() {
        let mut t = Table::new();
        assert_eq!(t.insert(reg(1000, 11), 5, None, None).unwrap(), "1");
        assert_eq!(t.insert(reg(1000, 21), 5, None, None).unwrap(), "2");
        t.remove(2).unwrap();
        assert_eq!(t.insert(reg(1000, 31), 5, None, None).unwrap(), "3");
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(1).unwrap().record.state, SessionState::Active);
        assert_eq!(t.get(2), Err(TableError::NoSuchSession("2".into())));
        assert_eq!(t.remove(2), Err(TableError::NoSuchSession("2".into())));
    }

    #[test]
    fn a_default_table_starts_at_one() {
        let mut t = Table::default();
        assert_eq!(t.insert(reg(1, 11), 0, None, None).unwrap(), "1");
    }

    #[test]
    fn lookups_by_user_and_process() {
        let mut t = Table::new();
        t.insert(reg(1000, 11), 0, None, None).unwrap();
        t.insert(reg(1001, 21), 0, None, None).unwrap();
        t.insert(reg(1000, 31), 0, None, None).unwrap();
        assert_eq!(t.ids_of(1000), vec![1, 3]);
        assert_eq!(t.ids_of(7), Vec::<u64>::new());
        assert_eq!(t.by_process(21, None, None).unwrap().0, 2);
        assert_eq!(t.by_process(30, None, None).unwrap().0, 3, "the supervisor");
        assert_eq!(
            t.by_process(999, Some(31), Some(1)).unwrap().0,
            3,
            "a member of the group"
        );
        assert!(t.by_process(999, Some(5), Some(5)).is_none());
    }

    #[test]
    fn lock_transitions() {
        let mut t = Table::new();
        t.insert(reg(1000, 11), 0, None, None).unwrap();
        assert_eq!(t.set_lock(1, true), Ok(true));
        assert_eq!(t.set_lock(1, true), Ok(false), "already locked: no second signal");
        assert_eq!(t.get(1).unwrap().record.state, SessionState::Locked);
        assert_eq!(t.set_lock(1, false), Ok(true));
        assert_eq!(t.mark_closing(1), Ok(true));
        assert_eq!(t.mark_closing(1), Ok(false));
        assert_eq!(t.set_lock(1, true), Err(TableError::Closing("1".into())));
        assert_eq!(t.set_lock(9, true), Err(TableError::NoSuchSession("9".into())));
        t.unmark_closing(1);
        assert_eq!(t.mark_closing(1), Ok(true));
        assert_eq!(t.reopen_closing(), vec![1]);
        assert_eq!(t.get(1).unwrap().record.state, SessionState::Active);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = Table::new();
        for i in 0..MAX_SESSIONS as u32 {
            t.insert(reg(1, i + 2), 0, None, None).unwrap();
        }
        assert_eq!(t.insert(reg(1, 5), 0, None, None), Err(TableError::Full));
    }
}
