//! Reads a documented configuration file (data/config.example.toml, data/vestibuled.toml): comment
//! lines above a `key = value` describe that key and the value is its default; commented-out
//! `# key = value` or `# [table]` lines are examples of what is off by default; comments before the
//! first table describe the file. The man page of each file is written from this, so every key and
//! default in it is the file's. Pure.

/// A key: its name, its default (`None`: unset unless given), what it means, an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub default: Option<String>,
    pub doc: String,
    pub example: Vec<String>,
}

/// A table (`[greeter]`), or an optional one shown only as an example (`# [initial_session]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub optional: bool,
    pub doc: String,
    pub keys: Vec<Key>,
    pub example: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigDoc {
    pub intro: String,
    pub tables: Vec<Table>,
}

fn table_name(line: &str) -> Option<&str> {
    let l = line.trim();
    let inner = l
        .strip_prefix("[[")
        .and_then(|r| r.strip_suffix("]]"))
        .or_else(|| l.strip_prefix('[').and_then(|r| r.strip_suffix(']')))?;
    (!inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)))
    .then_some(inner)
}

fn key_value(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once('=')?;
    let k = k.trim();
    (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| (k, v.trim()))
}

/// Why a file cannot be documented.
#[derive(Debug, PartialEq, Eq)]
pub struct DocError(pub String);

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn parse(text: &str) -> Result<ConfigDoc, DocError> {
    let mut doc = ConfigDoc::default();
    let mut comment: Vec<String> = Vec::new();
    let mut example: Vec<String> = Vec::new();

    // A finished commented-out example: an optional key of the current table, or an optional table.
    fn flush_example(doc: &mut ConfigDoc, comment: &mut Vec<String>, example: &mut Vec<String>) {
        if example.is_empty() {
            return;
        }
        let text = comment.join(" ");
        let lines = std::mem::take(example);
        comment.clear();
        if let Some(name) = table_name(&lines[0]) {
            doc.tables.push(Table {
                name: name.to_owned(),
                optional: true,
                doc: text,
                keys: Vec::new(),
                example: lines,
            });
        } else if let (Some((k, _)), Some(t)) = (key_value(&lines[0]), doc.tables.last_mut()) {
            t.keys.push(Key {
                name: k.to_owned(),
                default: None,
                doc: text,
                example: lines,
            });
        }
    }

    let mut prev_was_key = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let was_key = std::mem::replace(&mut prev_was_key, false);
        if line.trim().is_empty() {
            flush_example(&mut doc, &mut comment, &mut example);
            if doc.tables.is_empty() && !comment.is_empty() {
                if !doc.intro.is_empty() {
                    doc.intro.push_str("\n\n");
                }
                doc.intro.push_str(&comment.join("\n"));
                comment.clear();
            }
            continue;
        }
        if let Some(c) = line.trim_start().strip_prefix('#') {
            let c = c.strip_prefix(' ').unwrap_or(c);
            if table_name(c).is_some() || (key_value(c).is_some() && !c.contains(": ")) {
                example.push(c.to_owned());
            } else {
                flush_example(&mut doc, &mut comment, &mut example);
                comment.push(c.to_owned());
            }
            continue;
        }
        flush_example(&mut doc, &mut comment, &mut example);
        if let Some(name) = table_name(line) {
            doc.tables.push(Table {
                name: name.to_owned(),
                optional: false,
                doc: comment.join(" "),
                keys: Vec::new(),
                example: Vec::new(),
            });
            comment.clear();
        } else if let Some((k, v)) = key_value(line) {
            let table = doc
                .tables
                .last_mut()
                .ok_or_else(|| DocError(format!("line {}: a key before any table", n + 1)))?;
            // A key right under another with no comment of its own shares its comment
            // (`poweroff` / `reboot` under "Commands for the power actions").
            let doc = match (comment.is_empty(), table.keys.last()) {
                (false, _) => comment.join(" "),
                (true, Some(prev)) if was_key => prev.doc.clone(),
                (true, _) => {
                    return Err(DocError(format!(
                        "line {}: key {k:?} has no comment saying what it means",
                        n + 1
                    )))
                }
            };
            table.keys.push(Key {
                name: k.to_owned(),
                default: Some(v.to_owned()),
                doc,
                example: Vec::new(),
            });
            comment.clear();
            prev_was_key = true;
        } else {
            return Err(DocError(format!("line {}: cannot read {line:?}", n + 1)));
        }
    }
    flush_example(&mut doc, &mut comment, &mut example);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# The file.
# Second line.

[terminal]
# Which terminal.
vt = \"current\"
# Switch to it.
switch = true
# Unset by default (e.g. \"x\").
# default = \"sway\"

# Autologin.
# [initial_session]
# user = \"alice\"

[vestibule]
# Tries.
max_tries = 3
";

    #[test]
    fn keys_defaults_and_examples() {
        let d = parse(FILE).unwrap();
        assert_eq!(d.intro, "The file.\nSecond line.");
        assert_eq!(d.tables.len(), 3);
        let t = &d.tables[0];
        assert_eq!(t.name, "terminal");
        assert_eq!(t.keys.len(), 3);
        assert_eq!(t.keys[0].default.as_deref(), Some("\"current\""));
        assert_eq!(t.keys[0].doc, "Which terminal.");
        assert_eq!(t.keys[2].name, "default");
        assert_eq!(t.keys[2].default, None);
        assert_eq!(t.keys[2].example, vec!["default = \"sway\"".to_owned()]);
        let opt = &d.tables[1];
        assert!(opt.optional);
        assert_eq!(opt.name, "initial_session");
        assert_eq!(opt.doc, "Autologin.");
        assert_eq!(opt.example.len(), 2);
        assert_eq!(d.tables[2].keys[0].name, "max_tries");
    }

    #[test]
    fn an_undocumented_key_is_refused() {
        let e = parse("[a]\nkey = 1\n").unwrap_err();
        assert!(e.0.contains("no comment"), "{e}");
        let e = parse("[a]\n# A.\nkey = 1\n\nother = 2\n").unwrap_err();
        assert!(e.0.contains("\"other\" has no comment"), "{e}");
        let d = parse("[a]\n# Both.\nkey = 1\nother = 2\n").unwrap();
        assert_eq!(d.tables[0].keys[1].doc, "Both.");
    }

    #[test]
    fn the_shipped_files_are_documented() {
        for f in ["config.example.toml", "vestibuled.toml"] {
            let path = format!("{}/../../data/{f}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let d = parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(!d.intro.is_empty() && d.tables.len() >= 4, "{f}: {d:?}");
        }
    }
}
