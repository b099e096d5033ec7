//! Man pages from a program's parsed help plus its prose (pages.rs), and from a documented
//! configuration file. Pure.

use crate::config_doc::ConfigDoc;
use crate::help::Help;
use crate::pages::{ConfigFile, Program};
use crate::roff::{self, Page};

fn manual(section: u8) -> &'static str {
    match section {
        1 => "User Commands",
        5 => "File Formats",
        _ => "System Administration",
    }
}

/// The usage line as a synopsis: the program in bold, flags bold, values italic.
fn synopsis(page: &mut Page, usage: &str) {
    let (name, rest) = usage.split_once(' ').unwrap_or((usage, ""));
    page.raw(&format!(".B {}", roff::literal(name)));
    if !rest.is_empty() {
        page.raw(&roff::term(rest));
    }
}

fn see_also(page: &mut Page, list: &str) {
    page.section("See also");
    let items: Vec<String> = list
        .split(", ")
        .map(|item| match item.split_once('(') {
            Some((n, s)) => format!("\\fB{}\\fR({s}", roff::literal(n)),
            None => roff::text(item),
        })
        .collect();
    page.raw(&items.join(",\n"));
}

pub fn program(p: &Program, h: &Help, subs: &[(String, Help)], source: &str) -> String {
    let mut page = Page::new(p.name, p.section, source, manual(p.section));
    page.section("Name");
    page.raw(&format!(
        "{} \\- {}",
        roff::literal(p.name),
        roff::text(p.summary)
    ));
    page.section("Synopsis");
    synopsis(&mut page, &h.usage);
    if !subs.is_empty() {
        for (_, sh) in subs {
            page.raw(".br");
            synopsis(&mut page, &sh.usage);
        }
    }
    page.section("Description");
    if !h.about.is_empty() {
        page.paragraph(&h.about);
        page.new_paragraph();
    }
    page.paragraph(p.description);
    if !h.trailer.is_empty() {
        page.new_paragraph();
        page.paragraph(&h.trailer);
    }
    for (title, heading) in [("Arguments", "Arguments"), ("Options", "Options")] {
        if let Some(s) = h.section(title) {
            page.section(heading);
            for e in &s.entries {
                page.tagged(&roff::term(&e.term), &e.desc);
            }
        }
    }
    if !subs.is_empty() {
        page.section("Commands");
        for (name, sh) in subs {
            let args = sh
                .usage
                .split_once(name.as_str())
                .map(|(_, r)| r.replace("[OPTIONS]", "").trim().to_owned())
                .unwrap_or_default();
            let term = format!("\\fB{}\\fR {}", roff::literal(name), roff::term(&args));
            page.tagged(term.trim_end(), &sh.about);
        }
    }
    if !p.environment.is_empty() {
        page.section("Environment");
        for (name, desc) in p.environment {
            page.tagged(&format!("\\fB{}\\fR", roff::literal(name)), desc);
        }
    }
    if !p.files.is_empty() {
        page.section("Files");
        for (name, desc) in p.files {
            page.tagged(&format!("\\fI{}\\fR", roff::literal(name)), desc);
        }
    }
    page.section("Exit status");
    page.paragraph(p.exit_status);
    see_also(&mut page, p.see_also);
    page.finish()
}

pub fn config(c: &ConfigFile, doc: &ConfigDoc, source: &str) -> String {
    let mut page = Page::new(c.name, 5, source, manual(5));
    page.section("Name");
    page.raw(&format!(
        "{} \\- {}",
        roff::literal(c.name),
        roff::text(c.summary)
    ));
    page.section("Synopsis");
    page.raw(&format!("\\fI{}\\fR", roff::literal(c.path)));
    page.section("Description");
    page.paragraph(&doc.intro);
    for t in &doc.tables {
        let kind = if t.name.contains('.') { "[[{}]]" } else { "[{}]" };
        page.section(&format!(
            "{}{}",
            kind.replace("{}", &t.name),
            if t.optional { " (optional)" } else { "" }
        ));
        if !t.doc.is_empty() {
            page.paragraph(&t.doc);
        }
        if !t.example.is_empty() {
            page.example(&t.example);
        }
        for k in &t.keys {
            let term = match &k.default {
                Some(d) => format!("\\fB{}\\fR = {}", roff::literal(&k.name), roff::literal(d)),
                None => format!("\\fB{}\\fR (not set by default)", roff::literal(&k.name)),
            };
            page.tagged(&term, &k.doc);
            if !k.example.is_empty() {
                page.raw(".RS");
                page.example(&k.example);
                page.raw(".RE");
            }
        }
    }
    page.section("Files");
    page.tagged(
        &format!("\\fI{}\\fR", roff::literal(c.path)),
        "Read at start-up; a file with an error is refused with FILE:LINE:COLUMN and the reason.",
    );
    see_also(&mut page, c.see_also);
    page.finish()
}
