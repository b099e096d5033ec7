//! Reads a program's `--help` text in clap's layout (about, `Usage:`, `Arguments:`, `Options:`,
//! `Commands:`, a trailing paragraph). `vestibuled` and `vestibule-login` parse their flags by
//! hand but print their help in the same layout, so one reader serves all programs. Pure.

/// One line of a section: `--user <NAME>` and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub term: String,
    pub desc: String,
}

impl Entry {
    /// The long flag (`--user`), if this is an option.
    pub fn long(&self) -> Option<&str> {
        self.term
            .split([',', ' '])
            .find(|w| w.starts_with("--") && w.len() > 2)
    }

    /// The short flag (`-h`), if any.
    pub fn short(&self) -> Option<&str> {
        self.term
            .split([',', ' '])
            .find(|w| w.len() == 2 && w.starts_with('-') && w != &"--")
    }

    /// The value's name (`NAME` of `<NAME>`), if the option takes one.
    pub fn value(&self) -> Option<&str> {
        let start = self.term.find('<')?;
        let end = self.term[start..].find('>')? + start;
        Some(&self.term[start + 1..end])
    }
}

/// A titled list (`Options`, `Arguments`, `Commands`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub entries: Vec<Entry>,
}

/// The whole help text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Help {
    pub about: String,
    /// What follows `Usage:` (the program name first).
    pub usage: String,
    pub sections: Vec<Section>,
    /// Paragraphs after the last section (clap's `after_help`).
    pub trailer: String,
}

impl Help {
    pub fn section(&self, title: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.title == title)
    }

    /// Every option entry.
    pub fn options(&self) -> &[Entry] {
        self.section("Options").map_or(&[], |s| &s.entries)
    }
}

/// Why a help text cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub struct HelpError(pub String);

impl std::fmt::Display for HelpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Splits `  --user <NAME>   Log in as…` into term and description (two or more spaces apart).
fn split_entry(line: &str) -> (usize, String, String) {
    let start = indent(line);
    let body = &line[start..];
    match body.find("  ") {
        Some(gap) => {
            let desc = body[gap..].trim_start();
            let col = line.len() - desc.len();
            (col, body[..gap].to_owned(), desc.trim_end().to_owned())
        }
        None => (0, body.trim_end().to_owned(), String::new()),
    }
}

pub fn parse(text: &str) -> Result<Help, HelpError> {
    let mut help = Help::default();
    let mut about = Vec::new();
    let mut trailer = Vec::new();
    let mut current: Option<Section> = None;
    // The column where the current entry's description starts: deeper lines continue it.
    let mut desc_col = 0;
    let mut seen_usage = false;
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("usage:") {
            help.usage = line[6..].trim().to_owned();
            seen_usage = true;
            continue;
        }
        if !line.starts_with(' ') && line.ends_with(':') && seen_usage {
            if let Some(s) = current.take() {
                help.sections.push(s);
            }
            current = Some(Section {
                title: line.trim_end_matches(':').to_owned(),
                entries: Vec::new(),
            });
            continue;
        }
        if line.trim().is_empty() {
            if current.is_none() && seen_usage && !trailer.is_empty() {
                trailer.push(String::new());
            }
            if let Some(s) = current.take() {
                help.sections.push(s);
            }
            continue;
        }
        match current.as_mut() {
            Some(section) if line.starts_with("  ") => {
                if desc_col > 0 && indent(line) >= desc_col && !section.entries.is_empty() {
                    let last = section.entries.last_mut().expect("checked");
                    if !last.desc.is_empty() {
                        last.desc.push(' ');
                    }
                    last.desc.push_str(line.trim());
                } else {
                    let (col, term, desc) = split_entry(line);
                    desc_col = col;
                    section.entries.push(Entry { term, desc });
                }
            }
            Some(section) => {
                return Err(HelpError(format!(
                    "unexpected line in section {}: {line:?}",
                    section.title
                )))
            }
            None if !seen_usage => about.push(line.trim().to_owned()),
            None => trailer.push(line.trim().to_owned()),
        }
    }
    if let Some(s) = current.take() {
        help.sections.push(s);
    }
    if !seen_usage {
        return Err(HelpError("no usage line".into()));
    }
    help.about = about.join(" ");
    help.trailer = trailer.join("\n").trim().to_owned();
    Ok(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = "\
Console login, line by line

Usage: vestibule-login [OPTIONS] [-- <COMMAND>...]

Arguments:
  [COMMAND]...  Run this instead of the user's login shell

Options:
      --user <NAME>         Log in as this user
      --tty <NAME>          Terminal name given to PAM (default: the terminal on standard
                            input)
  -h, --help                Print help

--plain [FLAGS]: the line mode.
";

    #[test]
    fn reads_sections_entries_and_continuations() {
        let h = parse(LOGIN).unwrap();
        assert_eq!(h.about, "Console login, line by line");
        assert_eq!(h.usage, "vestibule-login [OPTIONS] [-- <COMMAND>...]");
        assert_eq!(h.sections.len(), 2);
        let opts = h.options();
        assert_eq!(opts.len(), 3);
        assert_eq!(
            opts[1].desc,
            "Terminal name given to PAM (default: the terminal on standard input)"
        );
        assert_eq!(opts[0].long(), Some("--user"));
        assert_eq!(opts[0].value(), Some("NAME"));
        assert_eq!(opts[2].short(), Some("-h"));
        assert_eq!(opts[2].long(), Some("--help"));
        assert_eq!(opts[2].value(), None);
        assert_eq!(h.section("Arguments").unwrap().entries[0].term, "[COMMAND]...");
        assert_eq!(h.trailer, "--plain [FLAGS]: the line mode.");
    }

    #[test]
    fn a_bare_usage_line_is_enough() {
        let h = parse("usage: vestibule-worker login|greeter --fd N (started by vestibuled)\n").unwrap();
        assert_eq!(
            h.usage,
            "vestibule-worker login|greeter --fd N (started by vestibuled)"
        );
        assert!(h.sections.is_empty());
    }

    #[test]
    fn an_argument_without_description() {
        let h = parse("x\n\nUsage: c show <ID>\n\nArguments:\n  <ID>  \n").unwrap();
        assert_eq!(h.section("Arguments").unwrap().entries[0].term, "<ID>");
        assert_eq!(h.section("Arguments").unwrap().entries[0].desc, "");
    }

    #[test]
    fn no_usage_is_an_error() {
        assert!(parse("just words\n").is_err());
    }
}
