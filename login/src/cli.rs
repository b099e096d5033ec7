//! `vestibule-login`'s command line, read by hand.
//!
//! The flags are those of `vestibule-tui --plain`, with the same meaning and defaults. They are
//! few and fixed, and clap's parser and its help machinery were the largest part of this binary
//! (about 300 KiB of its 1.2 MB, all of it mapped at every login); so they are read here, the way
//! clap reads them: `--flag VALUE` or `--flag=VALUE`, each at most once, and the command only
//! after `--`. Errors go to stderr with the usage and exit status 2, as clap does.

use std::ffi::OsString;
use std::path::PathBuf;

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub user: Option<String>,
    pub tty: Option<String>,
    pub pam_confdir: Option<PathBuf>,
    pub max_tries: u32,
    pub fail_delay_ms: u64,
    pub agent_bus: Option<String>,
    pub command: Vec<String>,
}

/// Why no login runs: help or version was asked for (stdout, status 0), or the command line is
/// wrong (stderr, status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Help,
    Version,
    Usage(String),
}

impl Stop {
    /// Prints what the caller must see and returns the exit status.
    pub fn report(&self) -> i32 {
        match self {
            Stop::Help => {
                print!("{HELP}");
                0
            }
            Stop::Version => {
                println!("vestibule-login {}", env!("CARGO_PKG_VERSION"));
                0
            }
            Stop::Usage(reason) => {
                eprintln!("error: {reason}\n\n{USAGE}\n\nFor more information, try '--help'.");
                2
            }
        }
    }
}

const USAGE: &str = "Usage: vestibule-login [OPTIONS] [-- <COMMAND>...]";

const HELP: &str = "\
Console login for Vestibule, line by line: for serial consoles, screen readers and scripts

Usage: vestibule-login [OPTIONS] [-- <COMMAND>...]

Arguments:
  [COMMAND]...  Run this instead of the user's login shell

Options:
      --user <NAME>         Log in as this user instead of asking for a name
      --tty <NAME>          Terminal name given to PAM as PAM_TTY (default: the terminal on standard
                            input)
      --pam-confdir <DIR>   Read the `vestibule` PAM service from DIR instead of /etc/pam.d (tests
                            and the demo)
      --max-tries <N>       Authentication attempts before giving up (1-100) [default: 3]
      --fail-delay-ms <MS>  Minimum wait after a failed attempt, in milliseconds (passed to
                            pam_fail_delay) [default: 2000]
      --agent-bus <ADDR>    Register the session with the session agent on this bus instead of the
                            system bus (default: $VESTIBULE_AGENT_BUS, else the system bus if there
                            is one)
  -h, --help                Print help
  -V, --version             Print version
";

/// The flags that take a value.
const FLAGS: [&str; 6] = [
    "user",
    "tty",
    "pam-confdir",
    "max-tries",
    "fail-delay-ms",
    "agent-bus",
];

/// Reads the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, Stop> {
    let mut values: [Option<OsString>; FLAGS.len()] = Default::default();
    let mut command = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            return Err(Stop::Usage(format!(
                "unexpected argument '{}' found",
                arg.to_string_lossy()
            )));
        };
        match text {
            "--" => {
                for word in args.by_ref() {
                    command.push(utf8("COMMAND", word)?);
                }
                break;
            }
            "-h" | "--help" => return Err(Stop::Help),
            "-V" | "--version" => return Err(Stop::Version),
            _ => {}
        }
        let Some(long) = text.strip_prefix("--") else {
            return Err(Stop::Usage(format!(
                "unexpected argument '{text}' found\n\n  tip: to pass '{text}' as a value, use '-- {text}'"
            )));
        };
        let (name, inline) = match long.split_once('=') {
            Some((name, value)) => (name, Some(OsString::from(value))),
            None => (long, None),
        };
        let Some(slot) = FLAGS.iter().position(|f| *f == name) else {
            return Err(Stop::Usage(format!("unexpected argument '--{name}' found")));
        };
        if values[slot].is_some() {
            return Err(Stop::Usage(format!(
                "the argument '--{name} <{}>' cannot be used multiple times",
                placeholder(name)
            )));
        }
        // As clap does, a following flag is not taken as the value (`--user --tty x`).
        let value = match inline {
            Some(v) => Some(v),
            None => args.next_if(|next| next.len() < 2 || !next.as_encoded_bytes().starts_with(b"-")),
        };
        let Some(value) = value else {
            return Err(Stop::Usage(format!(
                "a value is required for '--{name} <{}>' but none was supplied",
                placeholder(name)
            )));
        };
        values[slot] = Some(value);
    }
    let [user, tty, pam_confdir, max_tries, fail_delay_ms, agent_bus] = values;
    Ok(Cli {
        user: user.map(|v| utf8("--user <NAME>", v)).transpose()?,
        tty: tty.map(|v| utf8("--tty <NAME>", v)).transpose()?,
        pam_confdir: pam_confdir.map(PathBuf::from),
        max_tries: match max_tries {
            Some(v) => number("--max-tries <N>", v, 1, 100)?,
            None => 3,
        },
        fail_delay_ms: match fail_delay_ms {
            Some(v) => number("--fail-delay-ms <MS>", v, 0, u64::MAX)?,
            None => 2000,
        },
        agent_bus: agent_bus.map(|v| utf8("--agent-bus <ADDR>", v)).transpose()?,
        command,
    })
}

fn placeholder(flag: &str) -> &'static str {
    match flag {
        "user" | "tty" => "NAME",
        "pam-confdir" => "DIR",
        "max-tries" => "N",
        "fail-delay-ms" => "MS",
        _ => "ADDR",
    }
}

fn utf8(what: &str, value: OsString) -> Result<String, Stop> {
    value.into_string().map_err(|v| {
        Stop::Usage(format!(
            "invalid UTF-8 was detected in one or more arguments: '{}' for '{what}'",
            v.to_string_lossy()
        ))
    })
}

fn number<T>(what: &str, value: OsString, min: T, max: T) -> Result<T, Stop>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let text = utf8(what, value)?;
    match text.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        Ok(_) => Err(Stop::Usage(format!(
            "invalid value '{text}' for '{what}': {text} is not in {min}..={max}"
        ))),
        Err(_) => Err(Stop::Usage(format!(
            "invalid value '{text}' for '{what}': not a whole number"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Cli, Stop> {
        parse(args.iter().map(OsString::from))
    }

    fn usage(args: &[&str]) -> String {
        match cli(args) {
            Err(Stop::Usage(reason)) => reason,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = cli(&[]).unwrap();
        assert_eq!(
            (c.user, c.tty, c.pam_confdir, c.agent_bus),
            (None, None, None, None)
        );
        assert_eq!((c.max_tries, c.fail_delay_ms), (3, 2000));
        assert!(c.command.is_empty());
    }

    #[test]
    fn every_flag_in_both_forms() {
        let c = cli(&[
            "--user",
            "alice",
            "--tty=tty9",
            "--pam-confdir",
            "/x",
            "--max-tries=5",
            "--fail-delay-ms",
            "10",
            "--agent-bus=unix:path=/b,guid=1",
            "--",
            "sh",
            "-c",
            "--user",
        ])
        .unwrap();
        assert_eq!(c.user.as_deref(), Some("alice"));
        assert_eq!(c.tty.as_deref(), Some("tty9"));
        assert_eq!(c.pam_confdir, Some(PathBuf::from("/x")));
        assert_eq!((c.max_tries, c.fail_delay_ms), (5, 10));
        assert_eq!(c.agent_bus.as_deref(), Some("unix:path=/b,guid=1"));
        assert_eq!(c.command, ["sh", "-c", "--user"]);
    }

    #[test]
    fn wrong_command_lines_are_refused() {
        assert!(usage(&["true"]).contains("unexpected argument 'true'"));
        assert!(usage(&["--plain"]).contains("'--plain'"));
        assert!(usage(&["--user"]).contains("a value is required"));
        assert!(usage(&["--user", "a", "--user=b"]).contains("cannot be used multiple times"));
        assert!(usage(&["--max-tries", "0"]).contains("not in 1..=100"));
        assert!(usage(&["--max-tries", "101"]).contains("not in 1..=100"));
        assert!(usage(&["--fail-delay-ms=-1"]).contains("not a whole number"));
        assert!(usage(&["--user", "--tty", "x"]).contains("a value is required for '--user <NAME>'"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(cli(&["--user", "a", "--help"]), Err(Stop::Help));
        assert_eq!(cli(&["-V"]), Err(Stop::Version));
        assert_eq!(cli(&["--", "--help"]).unwrap().command, ["--help"]);
    }
}
