//! vestibule-tui: the full-screen console greeter (`greeter.rs`: state in `app.rs`, drawing in
//! `view.rs`), a client of the login daemon's greeter protocol (`vestibuled`, or greetd): it runs
//! as the unprivileged greeter user, links no libpam, and exits once the daemon has accepted the
//! session, which the daemon then starts. `--plain`, the login(1)-style line mode, is the
//! `vestibule-login` binary: `vestibule-tui --plain ARGS` executes it with the same ARGS.

mod app;
mod capslock;
mod greeter;
mod input;
mod issue;
mod line_mode;
mod signals;
mod terminal;
mod view;

use std::path::PathBuf;

use clap::Parser;
use vestibule_greeter::config;
use vestibule_greeter::greetd_client::Endpoint;

/// The full-screen console greeter of Vestibule (run by vestibuled or greetd).
#[derive(Debug, Parser)]
#[command(name = "vestibule-tui", version, about)]
#[command(
    after_help = "--plain [FLAGS]: the line mode (like login(1), as root): runs vestibule-login \
                        with the same flags (see vestibule-login --help)."
)]
struct Cli {
    /// Line mode like login(1) (runs vestibule-login with the other flags).
    #[arg(long)]
    plain: bool,

    /// Greeter configuration file (default /etc/vestibule/config.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Terminal name shown on the card (default: the terminal on standard input).
    #[arg(long, value_name = "NAME")]
    tty: Option<String>,

    /// Offer this command as the first session.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(rest) = line_mode::plain_args(&args) {
        // Only returns if the line mode could not be started.
        let e = line_mode::exec(rest);
        eprintln!("vestibule-tui: cannot run vestibule-login: {e}");
        std::process::exit(2);
    }
    let cli = Cli::parse();
    init_logging();
    if nix::unistd::geteuid().is_root() || nix::unistd::getuid().is_root() {
        eprintln!(
            "vestibule-tui: the greeter must not run as root; run it under vestibuled or greetd as \
             the greeter user"
        );
        std::process::exit(2);
    }
    let (path, explicit) = greeter::config_path(cli.config);
    let settings = match config::Config::load(&path, explicit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vestibule-tui: {e}");
            std::process::exit(2);
        }
    };
    let endpoint = match Endpoint::from_env() {
        Ok(e) => e,
        Err(reason) => {
            eprintln!("vestibule-tui: {reason}");
            std::process::exit(2);
        }
    };
    // Typed passwords live in this process's memory until they are sent.
    if let Err(e) = vestibule_greeter::hardening::disable_core_dumps() {
        tracing::warn!(error = %e, "cannot disable core dumps");
    }
    let code = greeter::run(greeter::GreeterArgs {
        config: settings,
        tty: cli.tty,
        endpoint,
        command: cli.command,
    });
    std::process::exit(code);
}

/// Diagnostics on stderr when `VESTIBULE_LOG` names a level (`error` … `debug`, `trace`); none
/// otherwise (stderr is the terminal the card is drawn on).
fn init_logging() {
    let Some(level) = std::env::var("VESTIBULE_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
    else {
        return;
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
