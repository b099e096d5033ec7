//! Writing man(7) source: escaping text so that groff prints it as written, and the few macros the
//! pages use. Pure.

/// Text for a roff line: backslashes and hyphens escaped, `code` in bold, and a leading `.` or `'`
/// (which roff would take for a request) guarded.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut bold = false;
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '`' => {
                out.push_str(if bold { "\\fR" } else { "\\fB" });
                bold = !bold;
            }
            _ => out.push(c),
        }
    }
    if bold {
        out.push_str("\\fR");
    }
    guard(out)
}

/// Text shown verbatim (inside `.EX`/`.EE`): only escapes, no markup.
pub fn literal(s: &str) -> String {
    guard(s.replace('\\', "\\e").replace('-', "\\-"))
}

fn guard(s: String) -> String {
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// An option or argument term: flags in bold, `<VALUE>` in italics.
pub fn term(s: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        if word.starts_with('-') {
            out.push_str(&format!("\\fB{}\\fR", literal(word)));
        } else {
            out.push_str(&italic_values(word));
        }
        word.clear();
    };
    for c in s.chars() {
        if c == ' ' || c == ',' {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    guard(out)
}

/// `<NAME>` and `[NAME]` → the name in italics, brackets of `[...]` kept.
fn italic_values(word: &str) -> String {
    let mut out = String::new();
    let mut name = String::new();
    for c in word.chars() {
        match c {
            '<' => {}
            '>' => {
                out.push_str(&format!("\\fI{}\\fR", literal(&name)));
                name.clear();
            }
            '[' | ']' | '.' | '|' if name.is_empty() => out.push(c),
            '[' | ']' | '|' => {
                out.push_str(&format!("\\fI{}\\fR", literal(&name)));
                name.clear();
                out.push(c);
            }
            _ => name.push(c),
        }
    }
    if !name.is_empty() {
        out.push_str(&format!("\\fI{}\\fR", literal(&name)));
    }
    out
}

/// A man page under construction.
pub struct Page {
    out: String,
}

impl Page {
    /// `.TH`: the title in capitals, the section, the source.
    pub fn new(name: &str, section: u8, source: &str, manual: &str) -> Page {
        Page {
            out: format!(
                ".TH {} {section} \"\" \"{source}\" \"{manual}\"\n",
                name.to_uppercase().replace('-', "\\-")
            ),
        }
    }

    /// `.SH`, in capitals as man-pages(7) has them; a configuration table (`[greeter]`) keeps
    /// its case, since that is what the file says.
    pub fn section(&mut self, title: &str) {
        let title = if title.starts_with('[') {
            literal(title)
        } else {
            title.to_uppercase()
        };
        self.out.push_str(&format!(".SH {title}\n"));
    }

    /// A paragraph of running text (blank lines start new paragraphs).
    pub fn paragraph(&mut self, s: &str) {
        for (i, para) in s.split("\n\n").enumerate() {
            if i > 0 {
                self.out.push_str(".PP\n");
            }
            for line in para.lines().filter(|l| !l.trim().is_empty()) {
                self.out.push_str(&text(line.trim()));
                self.out.push('\n');
            }
        }
    }

    pub fn new_paragraph(&mut self) {
        self.out.push_str(".PP\n");
    }

    /// A tagged paragraph: term on its own line, the description indented under it.
    pub fn tagged(&mut self, term_roff: &str, desc: &str) {
        self.out.push_str(".TP\n");
        self.out.push_str(term_roff);
        self.out.push('\n');
        if desc.trim().is_empty() {
            self.out.push_str("\\&\n");
        } else {
            self.paragraph(desc);
        }
    }

    /// Lines shown as they are (examples, synopses of configuration).
    pub fn example(&mut self, lines: &[String]) {
        self.out.push_str(".PP\n.nf\n.RS 4\n");
        for l in lines {
            self.out.push_str(&literal(l));
            self.out.push('\n');
        }
        self.out.push_str(".RE\n.fi\n");
    }

    /// A raw, already-escaped line.
    pub fn raw(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_and_guards() {
        assert_eq!(text(".hidden"), "\\&.hidden");
        assert_eq!(text("a\\b-c"), "a\\eb\\-c");
        assert_eq!(text("see `--check` now"), "see \\fB\\-\\-check\\fR now");
        assert_eq!(text("unclosed `x"), "unclosed \\fBx\\fR");
    }

    #[test]
    fn terms_bold_flags_and_italic_values() {
        assert_eq!(term("--user <NAME>"), "\\fB\\-\\-user\\fR \\fINAME\\fR");
        assert_eq!(term("-h, --help"), "\\fB\\-h\\fR, \\fB\\-\\-help\\fR");
        assert_eq!(term("[COMMAND]..."), "[\\fICOMMAND\\fR]...");
        assert_eq!(term("<ID>"), "\\fIID\\fR");
    }

    #[test]
    fn page_has_title_and_sections() {
        let mut p = Page::new("vestibule-tui", 1, "vestibule 0.1.0", "User Commands");
        p.section("Name");
        p.paragraph("one\ntwo\n\nthree");
        let s = p.finish();
        assert!(s.starts_with(".TH VESTIBULE\\-TUI 1 \"\" \"vestibule 0.1.0\" \"User Commands\"\n"));
        assert!(s.contains(".SH NAME\none\ntwo\n.PP\nthree\n"));
    }
}
