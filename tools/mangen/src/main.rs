//! `vestibule-mangen --bindir DIR --data DIR --out DIR`: writes `OUT/man/manN/NAME.N` for every
//! program and configuration file, and `OUT/completions/{bash/NAME,zsh/_NAME}`. The flags come
//! from running each built program with `--help` (and each subcommand's), the configuration keys
//! from the documented files in data/, so a page cannot say what the program does not do.
//! `make man` runs it on the release build; the packages and `make install` ship its output.

mod complete;
mod config_doc;
mod help;
mod pages;
mod render;
mod roff;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

struct Args {
    bindir: PathBuf,
    data: PathBuf,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let (mut bindir, mut data, mut out) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let slot = match a.as_str() {
            "--bindir" => &mut bindir,
            "--data" => &mut data,
            "--out" => &mut out,
            _ => return Err(format!("unknown argument {a:?}")),
        };
        *slot = Some(PathBuf::from(it.next().ok_or(format!("{a} needs a value"))?));
    }
    match (bindir, data, out) {
        (Some(bindir), Some(data), Some(out)) => Ok(Args { bindir, data, out }),
        _ => Err("usage: vestibule-mangen --bindir DIR --data DIR --out DIR".into()),
    }
}

/// The help text a program prints (stdout, or stderr for a bare usage line).
fn run_help(bin: &Path, args: &[&str]) -> Result<help::Help, String> {
    let out = Command::new(bin)
        .args(args)
        .arg("--help")
        .env_remove("VESTIBULE_LOG")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    let text = String::from_utf8(text).map_err(|_| format!("{}: help is not UTF-8", bin.display()))?;
    help::parse(&text).map_err(|e| format!("{} {} --help: {e}", bin.display(), args.join(" ")))
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))
}

fn generate(args: &Args) -> Result<(), String> {
    let source = format!("vestibule {}", env!("CARGO_PKG_VERSION"));
    for p in pages::PROGRAMS {
        let bin = args.bindir.join(p.name);
        let h = run_help(&bin, &[])?;
        let mut subs = Vec::new();
        if let Some(cmds) = h.section("Commands") {
            for e in cmds.entries.iter().filter(|e| e.term != "help") {
                subs.push((e.term.clone(), run_help(&bin, &[&e.term])?));
            }
        }
        let page = render::program(p, &h, &subs, &source);
        let man = args.out.join(format!("man/man{0}/{1}.{0}", p.section, p.name));
        write(&man, &page)?;
        if p.completions {
            write(
                &args.out.join("completions/bash").join(p.name),
                &complete::bash(p.name, &h, &subs),
            )?;
            write(
                &args.out.join(format!("completions/zsh/_{}", p.name)),
                &complete::zsh(p.name, &h, &subs),
            )?;
        }
    }
    for c in pages::CONFIG_FILES {
        let path = args.data.join(c.source);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc = config_doc::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let page = render::config(c, &doc, &source);
        write(&args.out.join(format!("man/man5/{}.5", c.name)), &page)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|a| generate(&a));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vestibule-mangen: {e}");
            ExitCode::FAILURE
        }
    }
}
