//! Desktop Entry files (freedesktop.org Desktop Entry Specification 1.5), as session managers
//! install them in /usr/share/wayland-sessions and /usr/share/xsessions.
//!
//! Pure parsing, no file access, so every rule is unit-tested: only the `[Desktop Entry]` group
//! counts, the unlocalized `Name` is used, `Exec` is split with the spec's quoting rules and its
//! field codes (`%f`, `%U`, …) dropped (a session gets no files or URLs), `%%` becomes `%`.

/// The keys of a session file the greeter uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesktopEntry {
    pub name: String,
    /// The command line, split into program and arguments.
    pub exec: Vec<String>,
    /// A program that must exist for the entry to be offered.
    pub try_exec: Option<String>,
    /// `Hidden=true`: the entry was deleted; never offer it.
    pub hidden: bool,
    /// `NoDisplay=true`: installed but not meant to be shown.
    pub no_display: bool,
    /// `DesktopNames`: what XDG_CURRENT_DESKTOP should say.
    pub desktop_names: Vec<String>,
}

impl DesktopEntry {
    /// Whether the entry should be offered, given whether its TryExec program exists.
    pub fn offered(&self, try_exec_found: bool) -> bool {
        !self.hidden && !self.no_display && (self.try_exec.is_none() || try_exec_found)
    }
}

/// Why a file is not a usable session entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("no [Desktop Entry] group")]
    NoGroup,
    #[error("no {0} key")]
    Missing(&'static str),
    #[error("type {0:?} is not Application")]
    NotApplication(String),
    #[error("bad Exec line: {0}")]
    BadExec(&'static str),
}

/// Parses the text of a Desktop Entry file.
pub fn parse(text: &str) -> Result<DesktopEntry, EntryError> {
    let mut in_group = false;
    let mut seen_group = false;
    let mut entry = DesktopEntry::default();
    let mut exec_line = None;
    let mut kind = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            in_group = line == "[Desktop Entry]";
            seen_group |= in_group;
            continue;
        }
        if !in_group {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), unescape(value.trim()));
        match key {
            "Name" => entry.name = value,
            "Exec" => exec_line = Some(value),
            "TryExec" => entry.try_exec = Some(value).filter(|v| !v.is_empty()),
            "Hidden" => entry.hidden = value == "true",
            "NoDisplay" => entry.no_display = value == "true",
            "Type" => kind = Some(value),
            "DesktopNames" => {
                entry.desktop_names = value
                    .split(';')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            _ => {}
        }
    }
    if !seen_group {
        return Err(EntryError::NoGroup);
    }
    if let Some(k) = kind.filter(|k| k != "Application") {
        return Err(EntryError::NotApplication(k));
    }
    if entry.name.is_empty() {
        return Err(EntryError::Missing("Name"));
    }
    let exec = exec_line.ok_or(EntryError::Missing("Exec"))?;
    entry.exec = split_exec(&exec)?;
    if entry.exec.is_empty() {
        return Err(EntryError::Missing("Exec"));
    }
    Ok(entry)
}

/// The escapes of string values: `\s` space, `\n`, `\t`, `\r`, `\\`.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Splits an Exec value: arguments separated by spaces, double-quoted arguments with `\"`, `` \` ``,
/// `\$` and `\\` escapes, field codes removed.
fn split_exec(exec: &str) -> Result<Vec<String>, EntryError> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut has_arg = false;
    let mut chars = exec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if has_arg {
                    args.push(std::mem::take(&mut current));
                    has_arg = false;
                }
            }
            '"' => {
                has_arg = true;
                loop {
                    match chars.next() {
                        None => return Err(EntryError::BadExec("unterminated quote")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '`' | '$' | '\\')) => current.push(e),
                            _ => return Err(EntryError::BadExec("bad escape in quotes")),
                        },
                        Some(q) => current.push(q),
                    }
                }
            }
            '%' => match chars.next() {
                Some('%') => {
                    current.push('%');
                    has_arg = true;
                }
                Some(_) => {}
                None => return Err(EntryError::BadExec("lone % at the end")),
            },
            other => {
                current.push(other);
                has_arg = true;
            }
        }
    }
    if has_arg {
        args.push(current);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWAY: &str = "[Desktop Entry]\nName=Sway\nComment=An i3-compatible Wayland compositor\n\
                        Exec=sway\nType=Application\nDesktopNames=sway;\n";

    #[test]
    fn a_typical_session_file() {
        let e = parse(SWAY).unwrap();
        assert_eq!(e.name, "Sway");
        assert_eq!(e.exec, ["sway"]);
        assert_eq!(e.desktop_names, ["sway"]);
        assert!(e.offered(false));
    }

    #[test]
    fn other_groups_and_localized_names_are_ignored() {
        let text = "# comment\n[Desktop Entry]\nName=GNOME\nName[de]=GNOM\nExec=gnome-session\n\
                    [Desktop Action x]\nName=Other\nExec=evil\n";
        let e = parse(text).unwrap();
        assert_eq!(
            (e.name.as_str(), e.exec.as_slice()),
            ("GNOME", &["gnome-session".to_owned()][..])
        );
    }

    #[test]
    fn exec_quoting_and_field_codes() {
        let e =
            parse("[Desktop Entry]\nName=X\nExec=\"/opt/my app/run\" --flag %U 100%% \"a\\\"b\"\n").unwrap();
        assert_eq!(e.exec, ["/opt/my app/run", "--flag", "100%", "a\"b"]);
        assert!(matches!(
            parse("[Desktop Entry]\nName=X\nExec=\"open\n"),
            Err(EntryError::BadExec(_))
        ));
    }

    #[test]
    fn hidden_nodisplay_and_tryexec_are_honoured() {
        let hidden = parse(&format!("{SWAY}Hidden=true\n")).unwrap();
        assert!(!hidden.offered(true));
        let nodisplay = parse(&format!("{SWAY}NoDisplay=true\n")).unwrap();
        assert!(!nodisplay.offered(true));
        let tryexec = parse(&format!("{SWAY}TryExec=/usr/bin/sway\n")).unwrap();
        assert_eq!(tryexec.try_exec.as_deref(), Some("/usr/bin/sway"));
        assert!(tryexec.offered(true));
        assert!(!tryexec.offered(false));
    }

    #[test]
    fn broken_files_are_refused() {
        assert_eq!(parse("Name=x\nExec=y\n"), Err(EntryError::NoGroup));
        assert_eq!(
            parse("[Desktop Entry]\nExec=y\n"),
            Err(EntryError::Missing("Name"))
        );
        assert_eq!(
            parse("[Desktop Entry]\nName=x\n"),
            Err(EntryError::Missing("Exec"))
        );
        assert_eq!(
            parse("[Desktop Entry]\nName=x\nExec=y\nType=Link\n"),
            Err(EntryError::NotApplication("Link".into()))
        );
    }
}
