//! `vestibule-tui --plain`: the line mode is its own binary, `vestibule-login` (root, libpam, one
//! login), so this greeter's binary links no libpam. The flag is found and removed here and the
//! line mode executed with every other argument unchanged: its flags, messages and exit statuses
//! are vestibule-login's.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// The binary that runs the line mode.
pub const LINE_MODE: &str = "vestibule-login";

/// If `--plain` is among the options (before a `--`), the arguments for the line mode: all the
/// others, without `--config FILE` (the greeter's; the line mode has no config file).
pub fn plain_args(args: &[OsString]) -> Option<Vec<OsString>> {
    let options = args.iter().skip(1).take_while(|a| *a != "--");
    if !options.clone().any(|a| a == "--plain") {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        if a == "--" {
            out.push(a.clone());
            out.extend(rest.cloned());
            break;
        }
        if a == "--plain" || a.to_string_lossy().starts_with("--config=") {
            continue;
        }
        if a == "--config" {
            rest.next();
            continue;
        }
        out.push(a.clone());
    }
    Some(out)
}

/// Where `vestibule-login` is: next to this executable (an installed or built tree), else on PATH.
pub fn line_mode_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(LINE_MODE)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(LINE_MODE))
}

/// Replaces this process with the line mode; returns only the reason it could not.
pub fn exec(args: Vec<OsString>) -> std::io::Error {
    let program = line_mode_binary();
    std::process::Command::new(&program)
        .arg0(OsStr::new(LINE_MODE))
        .args(args)
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn plain_is_found_before_the_command_and_removed() {
        assert_eq!(plain_args(&args(&["tui", "--config", "x"])), None);
        assert_eq!(
            plain_args(&args(&["tui", "--", "--plain"])),
            None,
            "a command's own flag"
        );
        assert_eq!(
            plain_args(&args(&[
                "tui",
                "--max-tries",
                "2",
                "--plain",
                "--config",
                "c.toml",
                "--config=d",
                "--",
                "sh",
                "--plain"
            ])),
            Some(args(&["--max-tries", "2", "--", "sh", "--plain"]))
        );
    }
}
