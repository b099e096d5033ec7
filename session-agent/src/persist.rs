//! The state file: the session table as JSON, replaced atomically (a temporary file in the same
//! directory, fsync, rename, fsync of the directory) so a crash or power cut leaves either the old
//! table or the new one, never half of one. It lives under /run by default: sessions do not
//! survive a reboot, and neither should their records.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::table::Table;

/// Where the agent keeps its table unless told otherwise (`--state`).
pub const DEFAULT_PATH: &str = "/run/vestibule/sessions.json";

/// The file's format version; a different one is refused rather than misread.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    table: Table,
}

/// Errors reading or writing the state file, with the path they concern.
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
    #[error("{path}: state file version {found}, this agent reads version {VERSION}")]
    Version { path: PathBuf, found: u32 },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PersistError + '_ {
    move |source| PersistError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the table; a missing file is an empty table (the first start after boot).
pub fn load(path: &Path) -> Result<Table, PersistError> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Table::new()),
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
    Ok(file.table)
}

/// Replaces the file with `table`, atomically. The directory is created (0755) if missing; the
/// file is 0644: session records are what `vestibulectl list-sessions` shows anyway.
pub fn save(path: &Path, table: &Table) -> Result<(), PersistError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
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
    let json = serde_json::to_vec(&StateFile {
        version: VERSION,
        table: table.clone(),
    })
    .expect("a table always serializes");
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(path)(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Registration;
    use vestibule_core::record::SessionClass;

    fn table() -> Table {
        let mut t = Table::new();
        for leader in [10, 20] {
            t.insert(
                Registration {
                    user: "alice".into(),
                    uid: 1000,
                    tty: Some("tty2".into()),
                    display: None,
                    remote_host: Some("example.org".into()),
                    service: "vestibule".into(),
                    leader,
                    supervisor: 9,
                    class: SessionClass::User,
                },
                1_700_000_000,
                Some(123),
                None,
            )
            .unwrap();
        }
        t.remove(1).unwrap();
        t
    }

    #[test]
    fn round_trip_keeps_sessions_and_the_next_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/vestibule/sessions.json");
        assert_eq!(load(&path).unwrap(), Table::new(), "missing file: empty table");
        let t = table();
        save(&path, &t).unwrap();
        let mut back = load(&path).unwrap();
        assert_eq!(back, t);
        let reg = back.get(2).unwrap().record.clone();
        assert_eq!(reg.remote_host.as_deref(), Some("example.org"));
        // The next id continues after a reload.
        let next = back
            .insert(
                Registration {
                    user: "bob".into(),
                    uid: 1001,
                    tty: None,
                    display: None,
                    remote_host: None,
                    service: "vestibule".into(),
                    leader: 5,
                    supervisor: 4,
                    class: SessionClass::Greeter,
                },
                0,
                None,
                None,
            )
            .unwrap();
        assert_eq!(next, "3");
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("sessions.json")]);
    }

    #[test]
    fn garbage_and_other_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(load(&path), Err(PersistError::Parse { .. })));
        fs::write(&path, r#"{"version":99,"table":{"next_id":1,"sessions":{}}}"#).unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.to_string().contains("version 99"), "{e}");
    }
}
