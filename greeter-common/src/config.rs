//! The greeter's configuration file (`/etc/vestibule/config.toml`, `--config` to override).
//!
//! A login screen with a silently ignored typo in its configuration is a login screen that does
//! not do what its administrator thinks, so every key is known (`deny_unknown_fields`) and every
//! bad value is refused with the file, the line and the reason. Every key is documented in
//! `data/config.example.toml`; a missing default file means the defaults below.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// Where the configuration lives unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/vestibule/config.toml";

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub greeter: Greeter,
    pub sessions: Sessions,
    pub power: Power,
    /// Keys only the desktop greeter and lock screen read.
    pub desktop: Desktop,
}

/// How the login card looks and behaves.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Greeter {
    /// Shown above the card after escape expansion; empty: none.
    pub issue_file: PathBuf,
    /// Label of the user field, also given to PAM as PAM_USER_PROMPT.
    pub user_prompt: String,
    /// Character shown per typed character in hidden fields; `None` shows nothing at all.
    #[serde(deserialize_with = "mask")]
    pub mask: Option<char>,
    /// strftime-style format of the clock (chrono syntax).
    #[serde(deserialize_with = "clock_format")]
    pub clock_format: String,
    /// Pre-fill the user field with the last user who logged in (false: the name is not stored).
    pub remember_last_user: bool,
    /// Never show or store the last user's name (shared or public consoles).
    pub hide_user_names: bool,
    /// Where the last user and each user's last session are kept (names only).
    pub state_file: PathBuf,
    /// Authentication attempts per login before going back to a fresh card.
    #[serde(deserialize_with = "max_tries")]
    pub max_tries: u32,
    /// Minimum wait after a failed attempt (pam_fail_delay), in milliseconds.
    pub fail_delay_ms: u64,
}

impl Default for Greeter {
    fn default() -> Self {
        Greeter {
            issue_file: PathBuf::from("/etc/issue"),
            user_prompt: "login: ".into(),
            mask: Some('*'),
            clock_format: "%a %d %b %H:%M".into(),
            remember_last_user: true,
            hide_user_names: false,
            state_file: PathBuf::from("/var/lib/vestibule/tui-state"),
            max_tries: 3,
            fail_delay_ms: 2000,
        }
    }
}

/// Where sessions come from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sessions {
    /// Directories of Wayland session Desktop Entry files, earlier ones win.
    pub wayland_dirs: Vec<PathBuf>,
    /// Directories of X11 session Desktop Entry files, earlier ones win.
    pub xsession_dirs: Vec<PathBuf>,
    /// Command that starts an X server and runs an X session's Exec line (which is appended).
    pub xsession_wrapper: Vec<String>,
    /// Offer the user's login shell.
    pub include_shell: bool,
    /// Extra sessions: a name and a command line.
    pub commands: Vec<CommandSession>,
    /// Session preselected for users without a remembered one (its name or file id).
    pub default: Option<String>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            wayland_dirs: vec![PathBuf::from("/usr/share/wayland-sessions")],
            xsession_dirs: vec![PathBuf::from("/usr/share/xsessions")],
            xsession_wrapper: vec!["startx".into(), "/usr/bin/env".into()],
            include_shell: true,
            commands: Vec::new(),
            default: None,
        }
    }
}

/// A session given as a command in the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSession {
    pub name: String,
    #[serde(deserialize_with = "command")]
    pub exec: Vec<String>,
}

/// Power actions: a key and a command each; an empty command disables the action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Power {
    pub poweroff: Vec<String>,
    pub reboot: Vec<String>,
    #[serde(deserialize_with = "function_key")]
    pub poweroff_key: u8,
    #[serde(deserialize_with = "function_key")]
    pub reboot_key: u8,
}

impl Default for Power {
    fn default() -> Self {
        Power {
            poweroff: vec!["systemctl".into(), "poweroff".into()],
            reboot: vec!["systemctl".into(), "reboot".into()],
            poweroff_key: 12,
            reboot_key: 11,
        }
    }
}

/// The desktop greeter's own keys; the rest of the file means the same to both greeters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Desktop {
    /// A GTK CSS file loaded over the built-in style (greeter and lock screen); empty: none.
    pub css: PathBuf,
    /// Offer a list of the accounts that can log in instead of a bare name field.
    pub user_list: bool,
    /// Accounts listed: uid in this range and a login shell (not nologin/false).
    pub min_uid: u32,
    pub max_uid: u32,
}

impl Default for Desktop {
    fn default() -> Self {
        Desktop {
            css: PathBuf::new(),
            user_list: true,
            min_uid: 1000,
            max_uid: 59999,
        }
    }
}

fn mask<'de, D: Deserializer<'de>>(d: D) -> Result<Option<char>, D::Error> {
    let s = String::deserialize(d)?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(c), None) if !c.is_control() => Ok(Some(c)),
        _ => Err(serde::de::Error::custom(
            "mask must be one printable character, or \"\" for no feedback",
        )),
    }
}

fn clock_format<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use chrono::format::{Item, StrftimeItems};
    let s = String::deserialize(d)?;
    if StrftimeItems::new(&s).any(|i| matches!(i, Item::Error)) {
        return Err(serde::de::Error::custom(format!(
            "clock_format {s:?} is not a valid strftime format"
        )));
    }
    Ok(s)
}

fn max_tries<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if !(1..=100).contains(&n) {
        return Err(serde::de::Error::custom("max_tries must be between 1 and 100"));
    }
    Ok(n)
}

fn command<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    if v.first().is_none_or(|p| p.is_empty()) || v.iter().any(|a| a.contains('\0')) {
        return Err(serde::de::Error::custom(
            "exec must be a non-empty list: the program, then its arguments",
        ));
    }
    Ok(v)
}

fn function_key<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let s = String::deserialize(d)?;
    s.strip_prefix('F')
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| (1..=12).contains(n))
        .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a function key F1 to F12")))
}

impl Config {
    /// Parses configuration text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_column(text, s.start)).unwrap_or((1, 1));
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                reason: e.message().trim_end().to_owned(),
            }
        })?;
        config.check(text, path)?;
        Ok(config)
    }

    /// Loads `path`; a missing file is only an error when the caller named it explicitly.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Rules that span several keys.
    fn check(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        if self.desktop.min_uid > self.desktop.max_uid {
            let (line, column) = line_column(text, text.find("min_uid").unwrap_or(0));
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                reason: "min_uid must not be greater than max_uid".into(),
            });
        }
        let p = &self.power;
        if p.poweroff_key == p.reboot_key && !p.poweroff.is_empty() && !p.reboot.is_empty() {
            let at = text
                .find("reboot_key")
                .or_else(|| text.find("poweroff_key"))
                .unwrap_or(0);
            let (line, column) = line_column(text, at);
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                reason: "poweroff_key and reboot_key must differ".into(),
            });
        }
        Ok(())
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/vestibule/config.toml"))
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../data/config.example.toml");
        let config = parse(text).unwrap();
        assert_eq!(config.greeter.mask, Some('*'));
    }

    #[test]
    fn values_are_read() {
        let c = parse(
            "[greeter]\nmask = \"\"\nhide_user_names = true\n[power]\npoweroff_key = \"F10\"\n\
             [[sessions.commands]]\nname = \"Top\"\nexec = [\"top\", \"-d\", \"1\"]\n",
        )
        .unwrap();
        assert_eq!(c.greeter.mask, None);
        assert!(c.greeter.hide_user_names);
        assert_eq!(c.power.poweroff_key, 10);
        assert_eq!(c.sessions.commands[0].exec, ["top", "-d", "1"]);
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_are_refused_with_file_and_line() {
        let e = error("[greeter]\nmask = \"*\"\nmaks = \"#\"\n");
        assert!(
            e.starts_with("/etc/vestibule/config.toml:3:1: unknown field `maks`"),
            "{e}"
        );
        let e = error("[grreter]\n");
        assert!(e.starts_with("/etc/vestibule/config.toml:1:"), "{e}");
        assert!(e.contains("unknown field `grreter`"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let e = error("[greeter]\n\nmask = \"**\"\n");
        assert!(e.starts_with("/etc/vestibule/config.toml:3:8:"), "{e}");
        assert!(e.contains("one printable character"), "{e}");
        assert!(error("[greeter]\nmax_tries = 0\n").contains(":2:13: max_tries must be"));
        assert!(error("[greeter]\nclock_format = \"%Q\"\n").contains("not a valid strftime"));
        assert!(error("[greeter]\nfail_delay_ms = \"2s\"\n").contains(":2:17: invalid type"));
        assert!(error("[power]\nreboot_key = \"F13\"\n").contains("not a function key"));
        assert!(error("[[sessions.commands]]\nname = \"x\"\nexec = []\n").contains(":3:8: exec must be"));
        assert!(error("[power]\nreboot_key = \"F12\"\n").contains(":2:1: poweroff_key and reboot_key"));
    }

    #[test]
    fn a_missing_default_file_is_fine_but_a_named_one_is_not() {
        let missing = Path::new("/nonexistent/vestibule.toml");
        assert_eq!(Config::load(missing, false).unwrap(), Config::default());
        assert!(Config::load(missing, true)
            .unwrap_err()
            .to_string()
            .contains("cannot read"));
    }
}
