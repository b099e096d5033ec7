//! The state on disk: a snapshot of the session table plus a journal of the changes made since.
//!
//! Rewriting the whole table on every change made each change cost O(sessions) (2.5 MiB of JSON,
//! fsync'd, at 10,000 sessions), so registering N sessions cost O(N²). Instead:
//!
//! - **Snapshot** (`sessions.json`, `--state`): `{"version":1,"table":{"next_id":N,"sessions":{…}}}`,
//!   replaced atomically (a temporary file in the same directory, fsync, rename, fsync of the
//!   directory), so a crash leaves either the old snapshot or the new one, never half of one.
//! - **Journal** (`sessions.json.journal`, next to it): one JSON object per line, appended and
//!   fsync'd (`fdatasync`) before the change is acknowledged on the bus:
//!   `{"op":"add","id":7,"entry":{…}}`, `{"op":"remove","id":7}`,
//!   `{"op":"state","id":7,"state":"locked"}`. Each line is O(1) to write.
//! - **Compaction**: when the journal grows past the snapshot's size (at least
//!   [`COMPACT_MIN_BYTES`]), and at every start, the table is written as a new snapshot and the
//!   journal truncated. Amortized, a change stays O(1).
//! - **Reload** = snapshot + journal replay. Every line sets an absolute value (an entry, its
//!   absence, a state), so replaying a journal over a snapshot that already contains some of it
//!   (a crash between the snapshot's rename and the journal's truncation) gives the same table.
//!   A torn last line (a crash in the middle of an append) is ignored: that change was never
//!   acknowledged. A damaged line before the last one is refused rather than guessed around.
//!
//! Both files live under /run by default: sessions do not survive a reboot, and neither should
//! their records. They are 0600, root's alone: every user's sessions are in them, and the D-Bus API
//! shows a user only their own. Files an older agent left readable are made 0600 at start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vestibule_core::record::SessionState;

use crate::table::{Entry, Process, Table};

/// Where the agent keeps its snapshot unless told otherwise (`--state`); the journal is this
/// path with `.journal` appended.
pub const DEFAULT_PATH: &str = "/run/vestibule/sessions.json";

/// The journal is compacted once it is larger than the snapshot, but never below this size, so
/// a small table is not rewritten after every few changes.
pub const COMPACT_MIN_BYTES: u64 = 256 * 1024;

/// The snapshot's format version; a different one is refused rather than misread.
const VERSION: u32 = 1;

#[derive(Deserialize)]
struct StateFile {
    version: u32,
    table: Table,
}

/// What [`save`] writes: the same shape as [`StateFile`], borrowing the table, so a compaction
/// does not copy 10,000 entries before serializing them.
#[derive(Serialize)]
struct StateFileRef<'a> {
    version: u32,
    table: &'a Table,
}

/// One change to the table, as a journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    /// A session was registered (the whole entry, with its id).
    Add { id: u64, entry: Entry },
    /// A session was unregistered or closed.
    Remove { id: u64 },
    /// A session was locked, unlocked, marked closing, or made active again.
    State { id: u64, state: SessionState },
    /// A process registered as the session's lock screen.
    Locker { id: u64, locker: Option<Process> },
}

impl Change {
    fn apply(self, table: &mut Table) {
        match self {
            Change::Add { id, entry } => table.restore(id, entry),
            Change::Remove { id } => {
                let _ = table.remove(id);
            }
            Change::State { id, state } => {
                table.set_state(id, state);
            }
            Change::Locker { id, locker } => {
                table.set_locker(id, locker);
            }
        }
    }
}

/// Errors reading or writing the state, with the path they concern.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a session table: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: line {line} is damaged (only a torn last line is skipped): {source}")]
    Journal {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: state file version {found}, this agent reads version {VERSION}")]
    Version { path: PathBuf, found: u32 },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PersistError + '_ {
    move |source| PersistError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What reloading found, for the agent's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Journal lines replayed on top of the snapshot.
    pub replayed: usize,
    /// Whether a torn last line was skipped.
    pub torn: bool,
}

/// The journal's path for a snapshot path.
pub fn journal_path(snapshot: &Path) -> PathBuf {
    let mut name = snapshot.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Reads the snapshot alone; a missing file is an empty table (the first start after boot).
fn read_snapshot(path: &Path) -> Result<(Table, u64), PersistError> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Table::new(), 0)),
        Err(e) => return Err(io(path)(e)),
    };
    let file: StateFile = serde_json::from_slice(&text).map_err(|source| PersistError::Parse {
        path: path.to_owned(),
        source,
    })?;
    if file.version != VERSION {
        return Err(PersistError::Version {
            path: path.to_owned(),
            found: file.version,
        });
    }
    Ok((file.table, text.len() as u64))
}

/// Replays the journal at `path` onto `table`.
fn replay(path: &Path, table: &mut Table) -> Result<Loaded, PersistError> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(e) => return Err(io(path)(e)),
    };
    let mut loaded = Loaded::default();
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    // After the last newline comes either nothing or a line whose append was cut short.
    let last = lines.len() - 1;
    for (i, line) in lines.into_iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Change>(line) {
            Ok(change) => {
                change.apply(table);
                loaded.replayed += 1;
            }
            // Unterminated, or the last terminated line of a file cut off right after it.
            Err(_) if i == last || (i + 1 == last && text.ends_with(b"\n")) => loaded.torn = true,
            Err(source) => {
                return Err(PersistError::Journal {
                    path: path.to_owned(),
                    line: i + 1,
                    source,
                })
            }
        }
    }
    Ok(loaded)
}

/// Reads the table: the snapshot, then the journal replayed onto it. Missing files are an empty
/// table. Reads only; [`Store::open`] is what the agent uses.
pub fn load(path: &Path) -> Result<(Table, Loaded), PersistError> {
    let (mut table, _) = read_snapshot(path)?;
    let loaded = replay(&journal_path(path), &mut table)?;
    Ok((table, loaded))
}

/// The snapshot's and the journal's mode: root's alone, since they hold every user's sessions.
pub const STATE_MODE: u32 = 0o600;

/// Writes `table` as the snapshot at `path`, atomically; returns its size. The directory is
/// created (0755) if missing.
pub fn save(path: &Path, table: &Table) -> Result<u64, PersistError> {
    let dir = dir_of(path);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(io(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let json = serde_json::to_vec(&StateFileRef {
        version: VERSION,
        table,
    })
    .expect("a table always serializes");
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(STATE_MODE)
            .open(&tmp)?;
        // A stale temporary file keeps its old mode through `create`: set it on the open file.
        f.set_permissions(fs::Permissions::from_mode(STATE_MODE))?;
        f.write_all(&json)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(path)(e)
    })?;
    Ok(json.len() as u64)
}

/// The open state: where the snapshot is, and the journal, open for appending.
#[derive(Debug)]
pub struct Store {
    snapshot: PathBuf,
    journal_path: PathBuf,
    journal: fs::File,
    /// Bytes in the journal (what a failed append is cut back to).
    journal_len: u64,
    /// Size of the last snapshot written, which sets when the journal is compacted.
    snapshot_len: u64,
}

impl Store {
    /// Reloads the table (snapshot + journal) and compacts at once: the new snapshot holds
    /// everything and the journal starts empty, so a torn line is never followed by new ones.
    pub fn open(snapshot: &Path) -> Result<(Store, Table, Loaded), PersistError> {
        let (table, _) = read_snapshot(snapshot)?;
        let mut table = table;
        let journal_path = journal_path(snapshot);
        let loaded = replay(&journal_path, &mut table)?;
        let snapshot_len = save(snapshot, &table)?;
        let journal = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(STATE_MODE)
            .open(&journal_path)
            .map_err(io(&journal_path))?;
        // An existing journal keeps the mode it was created with (0644 before).
        journal
            .set_permissions(fs::Permissions::from_mode(STATE_MODE))
            .map_err(io(&journal_path))?;
        let mut store = Store {
            snapshot: snapshot.to_owned(),
            journal_path,
            journal,
            journal_len: 0,
            snapshot_len,
        };
        store.truncate_journal()?;
        Ok((store, table, loaded))
    }

    fn truncate_journal(&mut self) -> Result<(), PersistError> {
        let p = &self.journal_path;
        self.journal.set_len(0).map_err(io(p))?;
        self.journal.sync_data().map_err(io(p))?;
        self.journal_len = 0;
        Ok(())
    }

    /// Appends `change` (already applied to `table`) and fsyncs it; compacts when the journal has
    /// grown past the threshold. On a failed append the journal is cut back to its last whole
    /// line and the error returned: the change is not on disk.
    pub fn append(&mut self, change: &Change, table: &Table) -> Result<(), PersistError> {
        let mut line = serde_json::to_vec(change).expect("a change always serializes");
        line.push(b'\n');
        let p = &self.journal_path;
        let written = self
            .journal
            .write_all(&line)
            .and_then(|()| self.journal.sync_data());
        if let Err(e) = written {
            let _ = self.journal.set_len(self.journal_len);
            return Err(io(p)(e));
        }
        self.journal_len += line.len() as u64;
        if self.journal_len > self.snapshot_len.max(COMPACT_MIN_BYTES) {
            // The change is safely in the journal; a failed compaction only delays the next one.
            if let Err(e) = self.compact(table) {
                tracing::error!(error = %e, "could not compact the session journal");
            }
        }
        Ok(())
    }

    /// Writes `table` as the new snapshot and empties the journal.
    pub fn compact(&mut self, table: &Table) -> Result<(), PersistError> {
        self.snapshot_len = save(&self.snapshot, table)?;
        self.truncate_journal()
    }

    /// Bytes in the journal now (tests, logs).
    pub fn journal_len(&self) -> u64 {
        self.journal_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Registration;
    use vestibule_core::record::SessionClass;

    fn reg(user: &str, leader: u32) -> Registration {
        Registration {
            user: user.into(),
            uid: 1000,
            tty: Some("tty2".into()),
            display: None,
            remote_host: Some("example.org".into()),
            service: "vestibule".into(),
            leader,
            supervisor: 9,
            class: SessionClass::User,
        }
    }

    fn table() -> Table {
        let mut t = Table::new();
        for leader in [10, 20] {
            t.insert(reg("alice", leader), 1_700_000_000, Some(123), None)
                .unwrap();
        }
        t.remove(1).unwrap();
        t
    }

    /// Inserts into `t` and journals it, as the service does.
    fn add(store: &mut Store, t: &mut Table, user: &str, leader: u32) -> u64 {
        let id: u64 = t
            .insert(reg(user, leader), 5, None, None)
            .unwrap()
            .parse()
            .unwrap();
        let entry = t.get(id).unwrap().clone();
        store.append(&Change::Add { id, entry }, t).unwrap();
        id
    }

    /// Locks session `lock` and removes session `remove`, journalling both as the agent does.
    fn lock_and_remove(store: &mut Store, t: &mut Table, lock: u64, remove: u64) {
        t.set_lock(lock, true).unwrap();
        let state = SessionState::Locked;
        store.append(&Change::State { id: lock, state }, t).unwrap();
        t.remove(remove).unwrap();
        store.append(&Change::Remove { id: remove }, t).unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn state_files_are_private_and_readable_ones_are_made_private_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let (mut store, mut t, _) = Store::open(&path).unwrap();
        add(&mut store, &mut t, "alice", 10);
        assert_eq!(mode(&path), STATE_MODE);
        assert_eq!(mode(&journal_path(&path)), STATE_MODE);
        drop(store);
        // As an older agent left them: readable by everyone.
        for p in [path.clone(), journal_path(&path)] {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        }
        let stale = dir
            .path()
            .join(format!(".sessions.json.{}.tmp", std::process::id()));
        fs::write(&stale, b"").unwrap();
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o644)).unwrap();
        let (_store, t2, _) = Store::open(&path).unwrap();
        assert_eq!(t2.len(), 1);
        assert_eq!(mode(&path), STATE_MODE);
        assert_eq!(mode(&journal_path(&path)), STATE_MODE);
    }

    #[test]
    fn a_sessions_lock_screen_is_journalled_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let (mut store, mut t, _) = Store::open(&path).unwrap();
        let id = add(&mut store, &mut t, "alice", 10);
        let locker = Some(Process {
            pid: 77,
            start: 12345,
        });
        assert!(t.set_locker(id, locker));
        assert!(!t.set_locker(id, locker), "no change, nothing to journal");
        store.append(&Change::Locker { id, locker }, &t).unwrap();
        drop(store);
        let (reloaded, _) = load(&path).unwrap();
        assert_eq!(reloaded.get(id).unwrap().locker, locker);
        // And in the snapshot written at the next start.
        let (_store, t2, _) = Store::open(&path).unwrap();
        assert_eq!(t2.get(id).unwrap().locker, locker);
        assert_eq!(fs::metadata(journal_path(&path)).unwrap().len(), 0);
    }

    #[test]
    fn snapshot_round_trip_keeps_sessions_and_the_next_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/vestibule/sessions.json");
        assert_eq!(load(&path).unwrap().0, Table::new(), "missing file: empty table");
        let t = table();
        save(&path, &t).unwrap();
        let (mut back, loaded) = load(&path).unwrap();
        assert_eq!(back, t);
        assert_eq!(loaded, Loaded::default());
        let reg = back.get(2).unwrap().record.clone();
        assert_eq!(reg.remote_host.as_deref(), Some("example.org"));
        // The next id continues after a reload.
        assert_eq!(
            back.insert(super::tests::reg("bob", 5), 0, None, None).unwrap(),
            "3"
        );
        // No temporary file is left behind.
        assert_eq!(names(path.parent().unwrap()), vec!["sessions.json"]);
    }

    #[test]
    fn journal_replay_restores_adds_removes_and_states() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let (mut store, mut t, loaded) = Store::open(&path).unwrap();
        assert_eq!((t.clone(), loaded), (Table::new(), Loaded::default()));
        let a = add(&mut store, &mut t, "alice", 11);
        let b = add(&mut store, &mut t, "bob", 21);
        let c = add(&mut store, &mut t, "carol", 31);
        lock_and_remove(&mut store, &mut t, a, b);
        assert!(store.journal_len() > 0);
        // Only the empty snapshot of the start and the journal are on disk.
        assert_eq!(names(dir.path()), vec!["sessions.json", "sessions.json.journal"]);
        let (back, loaded) = load(&path).unwrap();
        assert_eq!(back, t);
        assert_eq!(
            loaded,
            Loaded {
                replayed: 5,
                torn: false
            }
        );
        assert_eq!(back.get(a).unwrap().record.state, SessionState::Locked);
        assert!(back.get(b).is_err());
        assert_eq!(back.get(c).unwrap().record.user, "carol");
        // Reopening compacts: everything in the snapshot, the journal empty, ids go on.
        drop(store);
        let (mut store, mut again, _) = Store::open(&path).unwrap();
        assert_eq!(again, t);
        assert_eq!(fs::metadata(journal_path(&path)).unwrap().len(), 0);
        assert_eq!(add(&mut store, &mut again, "dave", 41), 4);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_a_damaged_middle_line_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let (mut store, mut t, _) = Store::open(&path).unwrap();
        add(&mut store, &mut t, "alice", 11);
        let whole = t.clone();
        add(&mut store, &mut t, "bob", 21);
        drop(store);
        // A crash in the middle of the second append: cut its line short.
        let jp = journal_path(&path);
        let text = fs::read(&jp).unwrap();
        let first_end = text.iter().position(|&b| b == b'\n').unwrap() + 1;
        fs::write(&jp, &text[..first_end + 30]).unwrap();
        let (back, loaded) = load(&path).unwrap();
        assert_eq!(back, whole, "only the first, acknowledged registration");
        assert_eq!(
            loaded,
            Loaded {
                replayed: 1,
                torn: true
            }
        );
        // Cut at a line end with garbage after it, newline-terminated: also a torn last line.
        fs::write(&jp, [&text[..first_end], b"{\"op\":\"add\",\"id\n"].concat()).unwrap();
        assert_eq!(
            load(&path).unwrap().1,
            Loaded {
                replayed: 1,
                torn: true
            }
        );
        // Opening compacts the torn line away; new changes follow whole lines only.
        let (mut store, mut t, _) = Store::open(&path).unwrap();
        assert_eq!(t, whole);
        add(&mut store, &mut t, "carol", 31);
        assert_eq!(
            load(&path).unwrap(),
            (
                t.clone(),
                Loaded {
                    replayed: 1,
                    torn: false
                }
            )
        );
        // Damage before the last line is not a torn append: refused.
        drop(store);
        let good = fs::read(&jp).unwrap();
        fs::write(&jp, [b"garbage\n".as_slice(), &good].concat()).unwrap();
        let e = load(&path).unwrap_err();
        assert!(matches!(e, PersistError::Journal { line: 1, .. }), "{e}");
    }

    #[test]
    fn replaying_over_a_snapshot_that_already_has_the_changes_gives_the_same_table() {
        // A crash between the snapshot's rename and the journal's truncation.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let (mut store, mut t, _) = Store::open(&path).unwrap();
        let a = add(&mut store, &mut t, "alice", 11);
        let b = add(&mut store, &mut t, "bob", 21);
        lock_and_remove(&mut store, &mut t, a, b);
        save(&path, &t).unwrap();
        assert_eq!(load(&path).unwrap().0, t);
    }

    #[test]
    fn the_journal_is_compacted_once_it_outgrows_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let (mut store, mut t, _) = Store::open(&path).unwrap();
        let mut compactions = 0;
        let mut last = 0;
        for i in 0..3000 {
            add(&mut store, &mut t, "alice", 100 + i);
            if store.journal_len() < last {
                compactions += 1;
            }
            last = store.journal_len();
        }
        // Each line is a few hundred bytes: 3000 of them outgrow the 256 KiB floor more than
        // once, but the threshold grows with the snapshot, so only a few rewrites happen.
        assert!((1..=4).contains(&compactions), "{compactions}");
        assert!(store.journal_len() <= store.snapshot_len.max(COMPACT_MIN_BYTES));
        assert_eq!(load(&path).unwrap().0, t);
    }

    #[test]
    fn garbage_and_other_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(load(&path), Err(PersistError::Parse { .. })));
        assert!(matches!(Store::open(&path), Err(PersistError::Parse { .. })));
        fs::write(&path, r#"{"version":99,"table":{"next_id":1,"sessions":{}}}"#).unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.to_string().contains("version 99"), "{e}");
    }
}
