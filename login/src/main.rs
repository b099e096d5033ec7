//! vestibule-login: the login(1)-style console login (the line mode of `vestibule-tui --plain`,
//! as a small binary of its own).

use std::time::Duration;

use vestibule_login::{agent, cli, config_dir, init_logging, plain};

fn main() {
    // Before anything is typed: a crash must not write a password into a core file.
    if let Err(e) = vestibule_core::disable_core_dumps() {
        eprintln!("vestibule-login: cannot turn core dumps off: {e}");
        std::process::exit(1);
    }
    let cli = match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli) => cli,
        Err(stop) => std::process::exit(stop.report()),
    };
    init_logging();
    let config = match config_dir(cli.pam_confdir) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("vestibule-login: {message}");
            std::process::exit(2);
        }
    };
    let code = plain::run(
        plain::PlainArgs {
            program: "vestibule-login",
            user: cli.user,
            tty: cli.tty,
            config,
            max_tries: cli.max_tries,
            fail_delay: Duration::from_millis(cli.fail_delay_ms),
            command: cli.command,
            agent_bus: cli.agent_bus,
        },
        agent::run_session,
    );
    std::process::exit(code);
}
