//! `vestibuled`'s configuration file, in greetd's shape (greetd(5)), so an administrator's greetd
//! `config.toml` works unchanged: `[terminal]`, `[general]`, `[default_session]`,
//! `[initial_session]`, plus Vestibule's own keys in `[vestibule]`.
//!
//! Every key is known: an unknown key or section, a bad value, or a `service` key (greetd 0.10
//! lets the configuration choose PAM services; Vestibule's are hard-wired, so nobody can point a
//! login at a weaker stack) is refused with `FILE:LINE:COLUMN: reason`. Parsing is pure.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// Where the configuration lives unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/vestibule/vestibuled.toml";

/// The greeter user unless `[default_session] user` says otherwise (the package creates it).
pub const DEFAULT_GREETER_USER: &str = "_vestibule";

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

/// The terminal `vestibuled` runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vt {
    /// `/dev/ttyN`.
    Number(u32),
    /// The first free VT at start-up (`VT_OPENQRY`).
    Next,
    /// The terminal on standard input: a VT, or a pseudo-terminal (tmux) for demos and tests.
    Current,
    /// No terminal: greeters and sessions inherit standard input and output (greetd's mode).
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Terminal {
    #[serde(deserialize_with = "vt")]
    pub vt: Vt,
    /// Switch to the VT at start-up (`VT_ACTIVATE`).
    pub switch: bool,
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal {
            vt: Vt::Current,
            switch: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    /// Run commands through `. /etc/profile; . ~/.profile` first.
    pub source_profile: bool,
    /// Created when the initial session starts, so it runs once per boot (keep it on a tmpfs).
    pub runfile: PathBuf,
    #[serde(rename = "service")]
    pub(crate) service: Option<Spanned<toml::Value>>,
}

impl Default for General {
    fn default() -> Self {
        General {
            source_profile: true,
            runfile: PathBuf::from("/run/vestibule/vestibuled.run"),
            service: None,
        }
    }
}

/// `[default_session]`: the greeter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSession {
    /// Run by `/bin/sh -c "exec COMMAND"`.
    #[serde(deserialize_with = "command")]
    pub command: String,
    #[serde(default = "greeter_user")]
    pub user: String,
    #[serde(rename = "service", default)]
    pub(crate) service: Option<Spanned<toml::Value>>,
}

fn greeter_user() -> String {
    DEFAULT_GREETER_USER.into()
}

/// `[initial_session]`: autologin, once per boot.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialSession {
    #[serde(deserialize_with = "command")]
    pub command: String,
    pub user: String,
    #[serde(rename = "service", default)]
    pub(crate) service: Option<Spanned<toml::Value>>,
}

/// Vestibule's own keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Vestibule {
    /// Authentication attempts per login for greeters that speak the extension (plain greetd
    /// greeters get one, as under greetd, and start over).
    pub max_tries: u32,
    /// Minimum wait after a failed attempt (pam_fail_delay), in milliseconds.
    pub fail_delay_ms: u64,
    /// utmp and wtmp files (tests point these elsewhere).
    pub utmp_file: PathBuf,
    pub wtmp_file: PathBuf,
    #[serde(rename = "service")]
    pub(crate) service: Option<Spanned<toml::Value>>,
}

impl Default for Vestibule {
    fn default() -> Self {
        Vestibule {
            max_tries: 3,
            fail_delay_ms: 2000,
            utmp_file: PathBuf::from(vestibule_core::utmp::UTMP_PATH),
            wtmp_file: PathBuf::from(vestibule_core::utmp::WTMP_PATH),
            service: None,
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub terminal: Terminal,
    #[serde(default)]
    pub general: General,
    pub default_session: DefaultSession,
    #[serde(default)]
    pub initial_session: Option<InitialSession>,
    #[serde(default)]
    pub vestibule: Vestibule,
}

fn vt<'de, D: Deserializer<'de>>(d: D) -> Result<Vt, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    let bad = |what: &str| {
        serde::de::Error::custom(format!(
            "vt must be a VT number (1 to 63), \"next\", \"current\" or \"none\", not {what}"
        ))
    };
    match Raw::deserialize(d)? {
        Raw::Number(n) if (1..=63).contains(&n) => Ok(Vt::Number(n as u32)),
        Raw::Number(n) => Err(bad(&n.to_string())),
        Raw::Text(s) => match s.as_str() {
            "next" => Ok(Vt::Next),
            "current" => Ok(Vt::Current),
            "none" => Ok(Vt::None),
            other => match other.parse::<u32>() {
                Ok(n) if (1..=63).contains(&n) => Ok(Vt::Number(n)),
                _ => Err(bad(&format!("{other:?}"))),
            },
        },
    }
}

fn command<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() || s.contains('\0') {
        return Err(serde::de::Error::custom(
            "command must be a non-empty command line",
        ));
    }
    Ok(s)
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

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    fn check(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let invalid = |offset: usize, reason: String| {
            let (line, column) = line_column(text, offset);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                reason,
            }
        };
        let services = [
            self.general.service.as_ref(),
            self.default_session.service.as_ref(),
            self.initial_session.as_ref().and_then(|s| s.service.as_ref()),
            self.vestibule.service.as_ref(),
        ];
        if let Some(s) = services.into_iter().flatten().min_by_key(|s| s.span().start) {
            // The span is the value's; point at the key, which starts the line.
            let at = text[..s.span().start].rfind("service").unwrap_or(s.span().start);
            return Err(invalid(
                at,
                "`service` cannot be configured: Vestibule's PAM services are hard-wired \
                 (vestibule, vestibule-greeter, vestibule-autologin)"
                    .into(),
            ));
        }
        if self.vestibule.max_tries == 0 {
            let at = text.find("max_tries").unwrap_or(0);
            return Err(invalid(at, "max_tries must be at least 1".into()));
        }
        if self.default_session.user.is_empty() {
            let at = text.find("[default_session]").unwrap_or(0);
            return Err(invalid(at, "the greeter user must not be empty".into()));
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
        Config::parse(text, Path::new("/etc/vestibule/vestibuled.toml"))
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn greetds_documented_examples_work_unchanged() {
        let c = parse("[terminal]\nvt = 1\n\n[default_session]\ncommand = \"agreety -c sway\"\n").unwrap();
        assert_eq!(c.terminal.vt, Vt::Number(1));
        assert!(c.terminal.switch);
        assert_eq!(c.default_session.command, "agreety -c sway");
        assert_eq!(c.default_session.user, "_vestibule");
        assert!(c.general.source_profile);
        assert!(c.initial_session.is_none());
        let c = parse(
            "[terminal]\nvt = 1\n[default_session]\ncommand = \"agreety -c sway\"\n\
             [initial_session]\ncommand = \"sway\"\nuser = \"john\"\n",
        )
        .unwrap();
        let i = c.initial_session.unwrap();
        assert_eq!((i.command.as_str(), i.user.as_str()), ("sway", "john"));
    }

    #[test]
    fn every_greetd_key_is_understood() {
        let c = parse(
            "[terminal]\nvt = \"next\"\nswitch = false\n[general]\nsource_profile = false\n\
             runfile = \"/run/x.run\"\n[default_session]\ncommand = \"tuigreet\"\nuser = \"greeter\"\n\
             [vestibule]\nmax_tries = 5\nfail_delay_ms = 10\n",
        )
        .unwrap();
        assert_eq!(c.terminal.vt, Vt::Next);
        assert!(!c.terminal.switch && !c.general.source_profile);
        assert_eq!(c.general.runfile, PathBuf::from("/run/x.run"));
        assert_eq!(c.default_session.user, "greeter");
        assert_eq!((c.vestibule.max_tries, c.vestibule.fail_delay_ms), (5, 10));
        for (text, vt) in [
            ("\"current\"", Vt::Current),
            ("\"none\"", Vt::None),
            ("\"7\"", Vt::Number(7)),
        ] {
            let c = parse(&format!(
                "[terminal]\nvt = {text}\n[default_session]\ncommand = \"x\"\n"
            ))
            .unwrap();
            assert_eq!(c.terminal.vt, vt);
        }
    }

    #[test]
    fn a_service_key_is_refused_where_it_stands() {
        let e = error("[default_session]\ncommand = \"agreety\"\nservice = \"login\"\n");
        assert!(
            e.starts_with("/etc/vestibule/vestibuled.toml:3:1: `service` cannot be configured"),
            "{e}"
        );
        let e = error("[default_session]\ncommand = \"a\"\n[initial_session]\ncommand = \"b\"\nuser = \"c\"\n  service = \"su\"\n");
        assert!(e.contains(":6:3: `service`"), "{e}");
        let e = error("[general]\nservice = \"x\"\n[default_session]\ncommand = \"a\"\n");
        assert!(e.contains(":2:1: `service`"), "{e}");
    }

    #[test]
    fn unknown_keys_sections_and_bad_values_are_refused_with_their_place() {
        let e = error("[default_session]\ncommand = \"a\"\ncomand = \"b\"\n");
        assert!(e.contains(":3:1: unknown field `comand`"), "{e}");
        let e = error("[default_session]\ncommand = \"a\"\n[extra]\nx = 1\n");
        assert!(e.contains(":3:"), "{e}");
        let e = error("[terminal]\nvt = 99\n[default_session]\ncommand = \"a\"\n");
        assert!(e.contains(":2:6: vt must be"), "{e}");
        let e = error("[terminal]\nvt = \"later\"\n[default_session]\ncommand = \"a\"\n");
        assert!(e.contains("vt must be"), "{e}");
        let e = error("[default_session]\ncommand = \" \"\n");
        assert!(e.contains(":2:11: command must be"), "{e}");
        let e = error("[terminal]\nvt = 1\n");
        assert!(e.contains("missing field `default_session`"), "{e}");
        let e = error("[default_session]\ncommand = \"a\"\n[vestibule]\nmax_tries = 0\n");
        assert!(e.contains(":4:1: max_tries must be at least 1"), "{e}");
    }
}
