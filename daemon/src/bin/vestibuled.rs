//! `vestibuled`: the login daemon for one terminal (see the crate documentation and README).
//!
//! ```text
//! vestibuled [--config FILE] [--pam-confdir DIR] [--worker PATH] [--runtime-dir DIR]
//!            [--agent-bus ADDR] [--check]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use vestibuled::config::{Config, DEFAULT_PATH};
use vestibuled::server::{Daemon, Options};

const USAGE: &str = "usage: vestibuled [--config FILE] [--pam-confdir DIR] [--worker PATH] \
                     [--runtime-dir DIR] [--agent-bus ADDR] [--check]";

/// `--help`, in clap's layout: the one description of the flags, which the man page and the shell
/// completions are generated from (tools/mangen); a test below checks it against `parse`.
const HELP: &str = "\
Vestibule's login daemon for one terminal: the greeter as an unprivileged user over greetd's protocol, one worker process per login

Usage: vestibuled [OPTIONS]

Options:
      --config <FILE>       The configuration [default: /etc/vestibule/vestibuled.toml]
      --check               Load and validate the configuration, print `vestibuled: FILE: ok` and
                            exit 0, or the error and exit 2
      --pam-confdir <DIR>   Read the PAM services from DIR instead of /etc/pam.d (tests, the demo);
                            refused in a setuid or setgid process; passed on to every worker
      --worker <PATH>       The worker binary (default: vestibule-worker next to vestibuled, else
                            /usr/libexec/vestibule/vestibule-worker)
      --runtime-dir <DIR>   The greeter sockets (DIR/greeter-LINE/socket) and runtime-directory
                            holders (DIR/users/) [default: /run/vestibule]
      --agent-bus <ADDR>    The session agent's bus, where workers register their sessions
                            (default: $VESTIBULE_AGENT_BUS, else the system bus)
  -h, --help                Print help
";

/// The command line.
#[derive(Debug, Default)]
struct Args {
    config: Option<PathBuf>,
    pam_confdir: Option<PathBuf>,
    worker: Option<PathBuf>,
    runtime_dir: Option<PathBuf>,
    agent_bus: Option<String>,
    check: bool,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--config" => out.config = Some(value("--config")?.into()),
            "--pam-confdir" => out.pam_confdir = Some(value("--pam-confdir")?.into()),
            "--worker" => out.worker = Some(value("--worker")?.into()),
            "--runtime-dir" => out.runtime_dir = Some(value("--runtime-dir")?.into()),
            "--agent-bus" => out.agent_bus = Some(value("--agent-bus")?),
            "--check" if inline.is_none() => out.check = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(out)
}

/// `vestibule-worker` next to this executable, else the packaged path.
fn default_worker() -> PathBuf {
    let packaged = PathBuf::from("/usr/libexec/vestibule/vestibule-worker");
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("vestibule-worker")))
        .filter(|p| p.is_file())
        .unwrap_or(packaged)
}

fn init_logging() {
    let level = match std::env::var("VESTIBULE_LOG").as_deref() {
        Ok("trace") => tracing::Level::TRACE,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("vestibuled: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let path = args.config.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vestibuled: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("vestibuled: {}: ok", path.display());
        return ExitCode::SUCCESS;
    }
    if args.pam_confdir.is_some()
        && (nix::unistd::getuid() != nix::unistd::geteuid()
            || nix::unistd::getgid() != nix::unistd::getegid())
    {
        eprintln!("vestibuled: --pam-confdir is refused in a setuid or setgid process");
        return ExitCode::from(2);
    }
    init_logging();
    if let Err(e) = vestibule_core::disable_core_dumps() {
        tracing::warn!(error = %e, "could not turn core dumps off");
    }
    let opts = Options {
        config,
        pam_confdir: args.pam_confdir,
        worker: args.worker.unwrap_or_else(default_worker),
        runtime_dir: args
            .runtime_dir
            .unwrap_or_else(|| PathBuf::from("/run/vestibule")),
        agent_bus: args.agent_bus,
    };
    if !Path::new(&opts.worker).is_file() {
        eprintln!(
            "vestibuled: the worker {} does not exist (--worker PATH)",
            opts.worker.display()
        );
        return ExitCode::from(2);
    }
    let daemon = match Daemon::new(opts) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("vestibuled: {e}");
            return ExitCode::from(1);
        }
    };
    match daemon.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vestibuled: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_take_values_both_ways() {
        let a = args(&[
            "--config",
            "/x.toml",
            "--pam-confdir=/p",
            "--check",
            "--agent-bus",
            "unix:path=/b",
        ])
        .unwrap();
        assert_eq!(a.config.unwrap(), PathBuf::from("/x.toml"));
        assert_eq!(a.pam_confdir.unwrap(), PathBuf::from("/p"));
        assert!(a.check);
        assert_eq!(a.agent_bus.as_deref(), Some("unix:path=/b"));
        assert!(args(&["--worker"]).unwrap_err().contains("needs a value"));
        assert!(args(&["--bogus"]).unwrap_err().contains("unknown"));
    }

    /// The help (and so the man page and completions) lists exactly the flags `parse` accepts,
    /// each with a value when it takes one, and the usage line names them all.
    #[test]
    fn help_lists_every_flag_parse_accepts() {
        let mut listed = Vec::new();
        for line in HELP.lines().filter(|l| l.starts_with("      --")) {
            let mut words = line.split_whitespace();
            let flag = words.next().unwrap();
            let value = words.next().filter(|w| w.starts_with('<'));
            let got = match value {
                Some(_) => args(&[flag, "x"]),
                None => args(&[flag]),
            };
            assert!(got.is_ok(), "{flag} from --help is refused: {got:?}");
            if value.is_some() {
                assert!(args(&[flag]).unwrap_err().contains("needs a value"), "{flag}");
            }
            assert!(USAGE.contains(flag), "{flag} missing from the usage line");
            listed.push(flag);
        }
        assert_eq!(
            listed.len(),
            USAGE.matches("[--").count(),
            "usage and help differ"
        );
        assert_eq!(args(&["--help"]).unwrap_err(), "");
    }
}
