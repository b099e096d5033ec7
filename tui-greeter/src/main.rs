//! vestibule-tui: console login. `--plain` is the login(1)-style line mode.

mod line_input;
mod plain;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use vestibule_core::ConfigDir;

/// Console login for Vestibule.
#[derive(Debug, Parser)]
#[command(name = "vestibule-tui", version, about)]
struct Cli {
    /// Line mode like login(1): for serial consoles, screen readers and scripts.
    #[arg(long)]
    plain: bool,

    /// Log in as this user instead of asking for a name.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,

    /// Terminal name given to PAM as PAM_TTY (default: the terminal on standard input).
    #[arg(long, value_name = "NAME")]
    tty: Option<String>,

    /// Read the `vestibule` PAM service from DIR instead of /etc/pam.d (tests and the demo).
    #[arg(long, value_name = "DIR")]
    pam_confdir: Option<PathBuf>,

    /// Authentication attempts before giving up.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    max_tries: u32,

    /// Minimum wait after a failed attempt, in milliseconds (passed to pam_fail_delay).
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    fail_delay_ms: u64,

    /// Run this instead of the user's login shell.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn main() {
    let cli = Cli::parse();
    init_logging();
    let config = match config_dir(cli.pam_confdir) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("vestibule-tui: {message}");
            std::process::exit(2);
        }
    };
    if !cli.plain {
        eprintln!("vestibule-tui: the full-screen greeter is not built yet; use --plain");
        std::process::exit(2);
    }
    let code = plain::run(plain::PlainArgs {
        user: cli.user,
        tty: cli.tty,
        config,
        max_tries: cli.max_tries,
        fail_delay: Duration::from_millis(cli.fail_delay_ms),
        command: cli.command,
    });
    std::process::exit(code);
}

/// An alternative PAM config dir lets the caller choose the authentication rules, so it is
/// refused whenever this process has privileges its caller does not (setuid or setgid).
fn config_dir(dir: Option<PathBuf>) -> Result<ConfigDir, String> {
    let Some(dir) = dir else {
        return Ok(ConfigDir::System);
    };
    let elevated =
        nix::unistd::getuid() != nix::unistd::geteuid() || nix::unistd::getgid() != nix::unistd::getegid();
    if elevated {
        return Err("--pam-confdir is refused in a setuid/setgid program".into());
    }
    if !dir.join("vestibule").is_file() {
        return Err(format!("no PAM service file {}", dir.join("vestibule").display()));
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("cannot use PAM config dir {}: {e}", dir.display()))?;
    Ok(ConfigDir::Override(dir))
}

/// Diagnostics go to stderr, quiet by default; `VESTIBULE_LOG=debug` shows every PAM call.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VESTIBULE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
