//! What the greeter remembers between logins: the last user and each user's last session.
//!
//! Names only, never a secret. The file is replaced atomically (written to a temporary file in the
//! same directory, synced, renamed over), so a power cut leaves the old or the new file, never half
//! of one. Format: one `user NAME` line and `session USER ID` lines; names with whitespace or
//! control characters are not stored.

use std::io::Write;
use std::path::Path;

/// The remembered choices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remembered {
    pub last_user: Option<String>,
    /// (user, session id), one per user.
    pub sessions: Vec<(String, String)>,
}

impl Remembered {
    /// Parses the file's text; lines it does not understand are ignored.
    pub fn parse(text: &str) -> Remembered {
        let mut r = Remembered::default();
        for line in text.lines() {
            let mut words = line.split(' ');
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("user"), Some(u), None, None) if storable(u) => r.last_user = Some(u.into()),
                (Some("session"), Some(u), Some(s), None) if storable(u) && storable(s) => {
                    r.set_session(u, s)
                }
                _ => {}
            }
        }
        r
    }

    /// Reads the file; a missing or unreadable file remembers nothing.
    pub fn load(path: &Path) -> Remembered {
        std::fs::read_to_string(path)
            .map(|t| Remembered::parse(&t))
            .unwrap_or_default()
    }

    pub fn session_of(&self, user: &str) -> Option<&str> {
        self.sessions
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, s)| s.as_str())
    }

    pub fn set_session(&mut self, user: &str, session: &str) {
        self.sessions.retain(|(u, _)| u != user);
        self.sessions.push((user.to_owned(), session.to_owned()));
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(u) = self.last_user.as_deref().filter(|u| storable(u)) {
            out.push_str(&format!("user {u}\n"));
        }
        for (u, s) in &self.sessions {
            if storable(u) && storable(s) {
                out.push_str(&format!("session {u} {s}\n"));
            }
        }
        out
    }

    /// Writes the file atomically (mode 0600), creating its directory if needed.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// A name that fits the line format and is plausible as a user or session name.
fn storable(name: &str) -> bool {
    !name.is_empty() && name.len() <= 256 && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_one_session_per_user() {
        let mut r = Remembered {
            last_user: Some("alice".into()),
            ..Remembered::default()
        };
        r.set_session("alice", "sway");
        r.set_session("bob", "shell");
        r.set_session("alice", "gnome");
        let text = r.render();
        assert_eq!(text, "user alice\nsession bob shell\nsession alice gnome\n");
        assert_eq!(Remembered::parse(&text), r);
        assert_eq!(r.session_of("alice"), Some("gnome"));
    }

    #[test]
    fn odd_names_are_never_stored_or_read() {
        let mut r = Remembered {
            last_user: Some("two words".into()),
            ..Remembered::default()
        };
        r.set_session("eve", "x\ny");
        assert_eq!(r.render(), "");
        assert_eq!(
            Remembered::parse("user a b\nsession x\ngarbage\n"),
            Remembered::default()
        );
    }

    #[test]
    fn saving_replaces_the_file_atomically() {
        let dir = std::env::temp_dir().join(format!("vestibule-state-{}", std::process::id()));
        let path = dir.join("sub/state");
        let r = Remembered {
            last_user: Some("carol".into()),
            sessions: vec![("carol".into(), "shell".into())],
        };
        r.save(&path).unwrap();
        r.save(&path).unwrap();
        assert_eq!(Remembered::load(&path), r);
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
