//! vestibule-tui: console login. Without flags, the full-screen greeter (`greeter.rs`: state in
//! `app.rs`, drawing in `view.rs`, PAM in `pam_worker.rs`); `--plain` is the login(1)-style line
//! mode, the same as the `vestibule-login` binary (crate `vestibule-login`).

mod app;
mod capslock;
mod greeter;
mod input;
mod issue;
mod signals;
mod terminal;
mod view;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use vestibule_greeter::pam_worker::PamSettings;
use vestibule_greeter::{agent_link, config};
use vestibule_login::{config_dir, init_logging, plain};

/// Console login for Vestibule.
#[derive(Debug, Parser)]
#[command(name = "vestibule-tui", version, about)]
struct Cli {
    /// Line mode like login(1): for serial consoles, screen readers and scripts.
    #[arg(long)]
    plain: bool,

    /// Greeter configuration file (default /etc/vestibule/config.toml; not used by --plain).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log in as this user instead of asking for a name (--plain only).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,

    /// Terminal name given to PAM as PAM_TTY (default: the terminal on standard input).
    #[arg(long, value_name = "NAME")]
    tty: Option<String>,

    /// Read the `vestibule` PAM service from DIR instead of /etc/pam.d (tests and the demo).
    #[arg(long, value_name = "DIR")]
    pam_confdir: Option<PathBuf>,

    /// Authentication attempts before giving up [default: 3, or the greeter's config].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    max_tries: Option<u32>,

    /// Minimum wait after a failed attempt, in milliseconds (passed to pam_fail_delay)
    /// [default: 2000, or the greeter's config].
    #[arg(long, value_name = "MS")]
    fail_delay_ms: Option<u64>,

    /// Register the session with the session agent on this bus instead of the system bus
    /// (default: $VESTIBULE_AGENT_BUS, else the system bus if there is one).
    #[arg(long, value_name = "ADDR")]
    agent_bus: Option<String>,

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
        let (path, explicit) = greeter::config_path(cli.config);
        let settings = match config::Config::load(&path, explicit) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("vestibule-tui: {e}");
                std::process::exit(2);
            }
        };
        if cli.user.is_some() {
            eprintln!("vestibule-tui: --user is only for --plain; the greeter asks for the name");
            std::process::exit(2);
        }
        let code = greeter::run(greeter::GreeterArgs {
            config: settings,
            tty: cli.tty,
            pam: PamSettings {
                pam: config,
                max_tries: cli.max_tries,
                fail_delay: cli.fail_delay_ms.map(Duration::from_millis),
                agent_bus: cli.agent_bus,
            },
            command: cli.command,
        });
        std::process::exit(code);
    }
    // The greeter's agent client (zbus) is linked here anyway, so the line mode uses it too.
    let code = plain::run(
        plain::PlainArgs {
            program: "vestibule-tui",
            user: cli.user,
            tty: cli.tty,
            config,
            max_tries: cli.max_tries.unwrap_or(3),
            fail_delay: Duration::from_millis(cli.fail_delay_ms.unwrap_or(2000)),
            command: cli.command,
            agent_bus: cli.agent_bus,
        },
        agent_link::run_session,
    );
    std::process::exit(code);
}
