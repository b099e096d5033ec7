//! The sessions a user can choose from: Wayland and X11 Desktop Entry files, the login shell and
//! commands from the configuration; and how a choice becomes the core's [`SessionSpec`] with
//! XDG_SESSION_TYPE, XDG_SESSION_DESKTOP and XDG_CURRENT_DESKTOP set, so what runs in the session
//! (portals, toolkits, systemd user units) knows what it is in.

use std::path::{Path, PathBuf};

use vestibule_core::{SessionCommand, SessionSpec};

use crate::config;
use crate::desktop_entry;

/// What kind of session a choice starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Wayland,
    /// Started through the configured X wrapper (startx).
    X11,
    /// The account's login shell.
    Shell,
    /// A command from the configuration or the command line.
    Command,
}

/// One entry of the session chooser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Stable name for the state file: the Desktop Entry file name without `.desktop`, or the
    /// shown name for the others.
    pub id: String,
    /// What the chooser shows.
    pub name: String,
    pub kind: Kind,
    /// Program and arguments (empty for the shell).
    pub exec: Vec<String>,
    pub desktop_names: Vec<String>,
}

impl Choice {
    pub fn shell() -> Choice {
        Choice {
            id: "shell".into(),
            name: "Shell".into(),
            kind: Kind::Shell,
            exec: Vec::new(),
            desktop_names: Vec::new(),
        }
    }

    pub fn command(name: &str, exec: Vec<String>) -> Choice {
        Choice {
            id: name.to_owned(),
            name: name.to_owned(),
            kind: Kind::Command,
            exec,
            desktop_names: Vec::new(),
        }
    }

    /// The core's session description for this choice (terminal settings are the caller's).
    pub fn spec(&self, xsession_wrapper: &[String]) -> SessionSpec {
        let mut spec = SessionSpec::default();
        let desktop = self
            .desktop_names
            .first()
            .cloned()
            .unwrap_or_else(|| self.id.clone());
        match self.kind {
            Kind::Shell => spec.command = SessionCommand::LoginShell,
            Kind::Command => spec.command = SessionCommand::Program(self.exec.clone()),
            Kind::Wayland => {
                spec.command = SessionCommand::Program(self.exec.clone());
                spec.session_type = "wayland".into();
                spec.desktop = Some(desktop);
            }
            Kind::X11 => {
                let mut argv = xsession_wrapper.to_vec();
                argv.extend(self.exec.iter().cloned());
                spec.command = SessionCommand::Program(argv);
                spec.session_type = "x11".into();
                spec.desktop = Some(desktop);
            }
        }
        if !self.desktop_names.is_empty() {
            spec.extra_env
                .push(("XDG_CURRENT_DESKTOP".into(), self.desktop_names.join(":")));
        }
        spec
    }
}

/// What a greeter sends in `start_session` for a choice: the command line for the daemon's
/// `sh -c "exec CMD"` (each argument quoted so the shell splits it back exactly as the Desktop
/// Entry's Exec or the configured argv had it) and the session's `KEY=VALUE` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCommand {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
}

impl Choice {
    /// The `start_session` request's contents. The login shell is `$SHELL -l`: the daemon sets
    /// SHELL to the account's shell, which the greeter (another user) does not know.
    pub fn start_command(&self, xsession_wrapper: &[String]) -> StartCommand {
        let spec = self.spec(xsession_wrapper);
        let cmd = match spec.command {
            SessionCommand::LoginShell => vec!["\"$SHELL\"".into(), "-l".into()],
            SessionCommand::Program(argv) => argv.iter().map(|a| shell_quote(a)).collect(),
        };
        let mut env = vec![format!("XDG_SESSION_TYPE={}", spec.session_type)];
        if let Some(desktop) = spec.desktop {
            env.push(format!("XDG_SESSION_DESKTOP={desktop}"));
        }
        env.extend(spec.extra_env.iter().map(|(k, v)| format!("{k}={v}")));
        StartCommand { cmd, env }
    }
}

/// `word` as one word for sh: unchanged if it has nothing special, else in single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Builds the chooser's list: a command given on the command line first, then Wayland sessions,
/// X11 sessions, configured commands and the shell.
pub fn discover(config: &config::Sessions, cli_command: &[String]) -> Vec<Choice> {
    let mut list = Vec::new();
    if !cli_command.is_empty() {
        list.push(Choice::command("Command", cli_command.to_vec()));
    }
    list.extend(from_dirs(&config.wayland_dirs, Kind::Wayland, &program_exists));
    list.extend(from_dirs(&config.xsession_dirs, Kind::X11, &program_exists));
    for c in &config.commands {
        list.push(Choice::command(&c.name, c.exec.clone()));
    }
    if config.include_shell || list.is_empty() {
        list.push(Choice::shell());
    }
    list
}

/// Reads every `*.desktop` file of `dirs`; a file name seen in an earlier directory wins.
/// Unreadable or broken files are skipped with a log line.
pub fn from_dirs(dirs: &[PathBuf], kind: Kind, exists: &dyn Fn(&str) -> bool) -> Vec<Choice> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(read) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "desktop"))
            .collect();
        files.sort();
        for path in files {
            let Some(id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            if seen.contains(&id) {
                continue;
            }
            seen.push(id.clone());
            let entry = match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| desktop_entry::parse(&t).map_err(|e| e.to_string()))
            {
                Ok(e) => e,
                Err(reason) => {
                    tracing::warn!(file = %path.display(), %reason, "session file skipped");
                    continue;
                }
            };
            let found = entry.try_exec.as_deref().is_some_and(exists);
            if entry.offered(found) {
                out.push(Choice {
                    id,
                    name: entry.name,
                    kind: kind.clone(),
                    exec: entry.exec,
                    desktop_names: entry.desktop_names,
                });
            }
        }
    }
    out
}

/// TryExec's test: an absolute path that exists, or a name found executable on PATH.
pub fn program_exists(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(Path::new(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).any(|d| executable(&d.join(program)))
}

/// Index of the session to preselect: the user's remembered one, else the configured default,
/// else the first.
pub fn preselect(list: &[Choice], remembered: Option<&str>, default: Option<&str>) -> usize {
    let find = |key: &str| list.iter().position(|c| c.id == key || c.name == key);
    remembered
        .and_then(find)
        .or_else(|| default.and_then(find))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn directories_are_read_in_order_with_rules_applied() {
        let a = tempdir("a");
        let b = tempdir("b");
        write(
            &a,
            "sway.desktop",
            "[Desktop Entry]\nName=Sway\nExec=sway\nDesktopNames=sway\n",
        );
        write(&b, "sway.desktop", "[Desktop Entry]\nName=Shadowed\nExec=x\n");
        write(
            &b,
            "gone.desktop",
            "[Desktop Entry]\nName=Gone\nExec=x\nHidden=true\n",
        );
        write(
            &b,
            "absent.desktop",
            "[Desktop Entry]\nName=Absent\nExec=x\nTryExec=nope\n",
        );
        write(
            &b,
            "here.desktop",
            "[Desktop Entry]\nName=Here\nExec=x\nTryExec=yes\n",
        );
        write(&b, "broken.desktop", "garbage");
        write(&b, "notes.txt", "[Desktop Entry]\nName=Txt\nExec=x\n");
        let list = from_dirs(&[a.clone(), b.clone()], Kind::Wayland, &|p| p == "yes");
        let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Sway", "Here"]);
        let _ = std::fs::remove_dir_all(a);
        let _ = std::fs::remove_dir_all(b);
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vestibule-sessions-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn specs_carry_the_xdg_variables() {
        let sway = Choice {
            id: "sway".into(),
            name: "Sway".into(),
            kind: Kind::Wayland,
            exec: vec!["sway".into()],
            desktop_names: vec!["sway".into(), "wlroots".into()],
        };
        let spec = sway.spec(&[]);
        assert_eq!(spec.session_type, "wayland");
        assert_eq!(spec.desktop.as_deref(), Some("sway"));
        assert_eq!(
            spec.extra_env,
            [("XDG_CURRENT_DESKTOP".to_owned(), "sway:wlroots".to_owned())]
        );
        let xfce = Choice {
            kind: Kind::X11,
            id: "xfce".into(),
            desktop_names: vec![],
            exec: vec!["startxfce4".into()],
            name: "Xfce".into(),
        };
        let spec = xfce.spec(&["startx".into(), "/usr/bin/env".into()]);
        assert_eq!(spec.session_type, "x11");
        assert_eq!(spec.desktop.as_deref(), Some("xfce"));
        assert_eq!(
            spec.command,
            SessionCommand::Program(vec!["startx".into(), "/usr/bin/env".into(), "startxfce4".into()])
        );
        let shell = Choice::shell().spec(&[]);
        assert_eq!(
            (shell.command, shell.session_type.as_str()),
            (SessionCommand::LoginShell, "tty")
        );
    }

    #[test]
    fn start_commands_survive_the_daemons_shell() {
        let cmd = Choice::command(
            "Test",
            vec!["sh".into(), "-c".into(), "echo \"$HOME\" it's; exit 7".into()],
        );
        let start = cmd.start_command(&[]);
        assert_eq!(start.env, ["XDG_SESSION_TYPE=tty"]);
        // What the daemon runs: sh -c "exec CMD" with the words joined by spaces.
        let line = format!("exec {}", start.cmd.join(" "));
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("set -- {}; printf '%s|' \"$@\"", &line[5..])])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "sh|-c|echo \"$HOME\" it's; exit 7|"
        );
        let shell = Choice::shell().start_command(&[]);
        assert_eq!(shell.cmd, ["\"$SHELL\"", "-l"]);
        let sway = Choice {
            id: "sway".into(),
            name: "Sway".into(),
            kind: Kind::Wayland,
            exec: vec!["sway".into(), "--unsupported-gpu".into()],
            desktop_names: vec!["sway".into(), "wlroots".into()],
        };
        let start = sway.start_command(&[]);
        assert_eq!(start.cmd, ["sway", "--unsupported-gpu"]);
        assert_eq!(
            start.env,
            [
                "XDG_SESSION_TYPE=wayland",
                "XDG_SESSION_DESKTOP=sway",
                "XDG_CURRENT_DESKTOP=sway:wlroots"
            ]
        );
        let x = Choice {
            kind: Kind::X11,
            id: "xfce".into(),
            name: "Xfce".into(),
            exec: vec!["startxfce4".into()],
            desktop_names: vec![],
        };
        let start = x.start_command(&["startx".into(), "/usr/bin/env".into()]);
        assert_eq!(start.cmd, ["startx", "/usr/bin/env", "startxfce4"]);
        assert_eq!(start.env, ["XDG_SESSION_TYPE=x11", "XDG_SESSION_DESKTOP=xfce"]);
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn preselection_prefers_the_remembered_session() {
        let list = vec![Choice::command("A", vec!["a".into()]), Choice::shell()];
        assert_eq!(preselect(&list, Some("shell"), Some("A")), 1);
        assert_eq!(preselect(&list, Some("gone"), Some("Shell")), 1);
        assert_eq!(preselect(&list, None, None), 0);
    }
}
