//! bash and zsh completions from a program's parsed `--help` (and its subcommands'). Values are
//! completed by their name in the help: FILE and PATH as files, DIR as directories, USER and NAME
//! of `--user` as user names; anything else is left to the user. Pure.

use crate::help::{Entry, Help};

/// How a value is completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    User,
    Free,
}

fn kind(e: &Entry) -> Kind {
    match (e.value(), e.long()) {
        (Some("FILE" | "PATH"), _) => Kind::File,
        (Some("DIR"), _) => Kind::Dir,
        (Some("NAME"), Some("--user")) => Kind::User,
        _ => Kind::Free,
    }
}

fn flags(h: &Help) -> Vec<String> {
    let mut out = Vec::new();
    for e in h.options() {
        out.extend(e.long().map(str::to_owned));
        out.extend(e.short().map(str::to_owned));
    }
    out
}

/// Subcommands (`help` left out: clap's own) with their help.
pub type Subcommands<'a> = [(String, Help)];

fn fn_name(program: &str) -> String {
    format!("_{}", program.replace('-', "_"))
}

/// The bash case arms completing the values of `entries`' options.
fn bash_values(entries: &[Entry]) -> String {
    let mut arms = String::new();
    for (k, action) in [
        (Kind::File, "COMPREPLY=($(compgen -f -- \"$cur\")); return"),
        (Kind::Dir, "COMPREPLY=($(compgen -d -- \"$cur\")); return"),
        (Kind::User, "COMPREPLY=($(compgen -u -- \"$cur\")); return"),
        (Kind::Free, "return"),
    ] {
        let names: Vec<&str> = entries
            .iter()
            .filter(|e| e.value().is_some() && kind(e) == k)
            .filter_map(Entry::long)
            .collect();
        if !names.is_empty() {
            arms.push_str(&format!("        {}) {action} ;;\n", names.join("|")));
        }
    }
    arms
}

pub fn bash(program: &str, help: &Help, subs: &Subcommands) -> String {
    let f = fn_name(program);
    let mut all_entries: Vec<Entry> = help.options().to_vec();
    for (_, h) in subs {
        all_entries.extend(h.options().iter().cloned());
    }
    let mut s = format!(
        "# bash completion for {program}, generated from `{program} --help` by vestibule-mangen\n\
         {f}() {{\n    local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\"\n    \
         case \"$prev\" in\n{}    esac\n",
        bash_values(&all_entries)
    );
    if subs.is_empty() {
        s.push_str(&format!(
            "    COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"))\n",
            flags(help).join(" ")
        ));
    } else {
        let names: Vec<&str> = subs.iter().map(|(n, _)| n.as_str()).collect();
        s.push_str("    local i sub=\n    for ((i = 1; i < COMP_CWORD; i++)); do\n        case \"${COMP_WORDS[i]}\" in\n");
        s.push_str(&format!(
            "        {}) sub=${{COMP_WORDS[i]}}; break ;;\n",
            names.join("|")
        ));
        s.push_str("        esac\n    done\n    case \"$sub\" in\n");
        for (name, h) in subs {
            s.push_str(&format!(
                "    {name}) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")) ;;\n",
                flags(h).join(" ")
            ));
        }
        s.push_str(&format!(
            "    *) COMPREPLY=($(compgen -W \"{} {}\" -- \"$cur\")) ;;\n    esac\n",
            names.join(" "),
            flags(help).join(" ")
        ));
    }
    s.push_str(&format!("}}\ncomplete -F {f} {program}\n"));
    s
}

/// A description fit for zsh's `[...]` and `name:desc` (first sentence, no brackets or colons).
fn zsh_desc(d: &str) -> String {
    let first = d.split(". ").next().unwrap_or(d).trim_end_matches('.');
    let cut: String = first
        .chars()
        .map(|c| match c {
            '[' => '(',
            ']' => ')',
            ':' => ',',
            '\'' => '`',
            '\\' => '/',
            _ => c,
        })
        .collect();
    match cut.char_indices().nth(70) {
        Some((i, _)) => format!("{}...", &cut[..i]),
        None => cut,
    }
}

fn zsh_specs(h: &Help) -> Vec<String> {
    let mut specs = Vec::new();
    for e in h.options() {
        let desc = zsh_desc(&e.desc);
        let action = match (e.value(), kind(e)) {
            (None, _) => String::new(),
            (Some(v), Kind::File) => format!(":{v}:_files"),
            (Some(v), Kind::Dir) => format!(":{v}:_files -/"),
            (Some(v), Kind::User) => format!(":{v}:_users"),
            (Some(v), Kind::Free) => format!(":{v}: "),
        };
        match (e.short(), e.long()) {
            (Some(s), Some(l)) => specs.push(format!("'({s} {l})'{{{s},{l}}}'[{desc}]{action}'")),
            (None, Some(l)) => specs.push(format!("'{l}[{desc}]{action}'")),
            (Some(s), None) => specs.push(format!("'{s}[{desc}]{action}'")),
            (None, None) => {}
        }
    }
    specs
}

pub fn zsh(program: &str, help: &Help, subs: &Subcommands) -> String {
    let f = fn_name(program);
    let mut s = format!(
        "#compdef {program}\n# zsh completion for {program}, generated from `{program} --help` by vestibule-mangen\n\n{f}() {{\n"
    );
    let mut specs = zsh_specs(help);
    if subs.is_empty() {
        if help.section("Arguments").is_some() {
            specs.push("'*::command:_normal'".into());
        }
        s.push_str(&format!(
            "    _arguments -s \\\n        {}\n",
            specs.join(" \\\n        ")
        ));
    } else {
        specs.push("'1:command:->command'".into());
        specs.push("'*::argument:->argument'".into());
        s.push_str("    local curcontext=\"$curcontext\" state line\n");
        s.push_str(&format!(
            "    _arguments -C \\\n        {}\n",
            specs.join(" \\\n        ")
        ));
        s.push_str("    case $state in\n    command)\n        local -a commands\n        commands=(\n");
        for (name, h) in subs {
            s.push_str(&format!("            '{name}:{}'\n", zsh_desc(&h.about)));
        }
        s.push_str(
            "        )\n        _describe command commands ;;\n    argument)\n        case $line[1] in\n",
        );
        for (name, h) in subs {
            let mut sub_specs = zsh_specs(h);
            if let Some(a) = h.section("Arguments") {
                for (i, e) in a.entries.iter().enumerate() {
                    let v = e.term.trim_matches(|c| "<>[].".contains(c)).to_lowercase();
                    sub_specs.push(format!("'{}:{v}: '", i + 1));
                }
            }
            s.push_str(&format!(
                "        {name}) _arguments \\\n            {} ;;\n",
                sub_specs.join(" \\\n            ")
            ));
        }
        s.push_str("        esac ;;\n    esac\n");
    }
    s.push_str(&format!("}}\n\n{f} \"$@\"\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::help::parse;

    fn h(text: &str) -> Help {
        parse(text).unwrap()
    }

    const D: &str = "Daemon\n\nUsage: d [OPTIONS]\n\nOptions:\n      --config <FILE>  The file. More.\n      --runtime-dir <DIR>  Sockets [default: /run]\n      --check  Check it\n  -h, --help  Print help\n";

    #[test]
    fn bash_offers_flags_and_completes_values_by_kind() {
        let s = bash("vestibuled", &h(D), &[]);
        assert!(s.contains("--config) COMPREPLY=($(compgen -f"), "{s}");
        assert!(s.contains("--runtime-dir) COMPREPLY=($(compgen -d"), "{s}");
        assert!(
            s.contains("compgen -W \"--config --runtime-dir --check --help -h\""),
            "{s}"
        );
        assert!(s.ends_with("complete -F _vestibuled vestibuled\n"));
    }

    #[test]
    fn zsh_specs_are_quoted_and_short() {
        let s = zsh("vestibuled", &h(D), &[]);
        assert!(s.starts_with("#compdef vestibuled\n"));
        assert!(s.contains("'--config[The file]:FILE:_files'"), "{s}");
        assert!(s.contains("'(-h --help)'{-h,--help}'[Print help]'"), "{s}");
        assert!(!zsh_desc("a [b]: 'c'").contains(['[', ']', ':', '\'']));
    }

    #[test]
    fn subcommands_are_offered_before_their_flags() {
        let top = h("Ctl\n\nUsage: c [OPTIONS] <COMMAND>\n\nOptions:\n      --json  JSON\n");
        let sub = h("Show one\n\nUsage: c show [OPTIONS] <ID>\n\nArguments:\n  <ID>  \n\nOptions:\n      --json  JSON\n");
        let subs = vec![("show".to_owned(), sub)];
        let b = bash("vestibulectl", &top, &subs);
        assert!(b.contains("show) sub=${COMP_WORDS[i]}; break ;;"), "{b}");
        assert!(b.contains("*) COMPREPLY=($(compgen -W \"show --json\""), "{b}");
        let z = zsh("vestibulectl", &top, &subs);
        assert!(z.contains("'show:Show one'"), "{z}");
        assert!(z.contains("'1:id: '"), "{z}");
    }
}
