//! The login(1)-style line mode: for serial consoles, screen readers and scripts.
//!
//! Every PAM message is printed on its own line (notices to stdout, errors to stderr, as libpam's
//! misc_conv does), each prompt reads one line of standard input (echo off for hidden prompts when
//! input is a terminal), and the process exits with the session's status, or non-zero with a
//! one-line reason when the login fails.

use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use vestibule_core::{
    login, AuthLog, ConfigDir, ConvError, Conversation, Identity, Items, LoginOptions, Message, OpenSession,
    Secret, Service, SessionCommand, SessionError, SessionReport, SessionSpec, TerminalMode,
};

use crate::line_input::{read_line, EchoOff};

/// Answers PAM from standard input.
pub struct PlainConversation {
    /// Standard input is a terminal: turn echo off for hidden prompts, and let it echo the rest.
    terminal: bool,
}

impl Default for PlainConversation {
    fn default() -> PlainConversation {
        PlainConversation::new()
    }
}

impl PlainConversation {
    pub fn new() -> PlainConversation {
        PlainConversation {
            terminal: io::stdin().is_terminal(),
        }
    }

    fn ask(&mut self, prompt: &str, hidden: bool) -> Result<Secret, ConvError> {
        let stdin = io::stdin();
        // Echo goes off before the prompt appears, so nothing typed after it is ever shown.
        let quiet = match hidden && self.terminal {
            true => Some(
                EchoOff::new(stdin.as_fd())
                    .map_err(|e| ConvError::Failed(format!("cannot turn off echo: {e}")))?,
            ),
            false => None,
        };
        let mut out = io::stdout().lock();
        let shown = write!(out, "{prompt}").and_then(|()| out.flush());
        shown.map_err(|e| ConvError::Failed(format!("cannot show prompt: {e}")))?;
        let answer = read_line(&stdin);
        drop(quiet);
        if !self.terminal {
            // Piped input is not echoed: end the prompt's line ourselves.
            let _ = writeln!(out);
        }
        answer
    }
}

impl Conversation for PlainConversation {
    fn converse(&mut self, messages: &[Message]) -> Result<Vec<Option<Secret>>, ConvError> {
        let mut answers = Vec::with_capacity(messages.len());
        for message in messages {
            answers.push(match message {
                Message::Info(text) => {
                    println!("{text}");
                    None
                }
                Message::Error(text) => {
                    eprintln!("{text}");
                    None
                }
                Message::PromptHidden(text) => Some(self.ask(text.as_str(), true)?),
                Message::PromptVisible(text) => Some(self.ask(text.as_str(), false)?),
            });
        }
        Ok(answers)
    }
}

/// What the plain login was asked to do.
#[derive(Debug, Clone)]
pub struct PlainArgs {
    /// The program's name for its own messages (`vestibule-login`, `vestibule-tui`).
    pub program: &'static str,
    pub user: Option<String>,
    pub tty: Option<String>,
    pub config: ConfigDir,
    pub max_tries: u32,
    pub fail_delay: Duration,
    pub command: Vec<String>,
    /// The session agent's bus (`--agent-bus`); else `VESTIBULE_AGENT_BUS`, else the system bus.
    pub agent_bus: Option<String>,
}

/// Runs one login and its session; returns the process exit code.
///
/// `run_session` runs the open session and tells the session agent on `agent_bus` about it: it
/// is the caller's because each binary brings its own agent client (`vestibule-login` a small
/// one of its own, `vestibule-tui` the zbus one its greeter already links), so neither links
/// the other's.
pub fn run<F>(args: PlainArgs, run_session: F) -> i32
where
    F: FnOnce(OpenSession, &SessionSpec, Option<String>) -> Result<SessionReport, SessionError>,
{
    let program = args.program;
    if let Err(e) = vestibule_core::catch_interrupts() {
        eprintln!("{program}: cannot install signal handlers: {e}");
        return 1;
    }
    let stdin_is_tty = io::stdin().is_terminal();
    let tty = args
        .tty
        .clone()
        .or_else(|| stdin_is_tty.then(stdin_tty_name).flatten());
    let options = LoginOptions {
        config: args.config.clone(),
        items: Items {
            user: args.user.clone(),
            tty: tty.clone(),
            user_prompt: Some("login: ".into()),
            ..Items::default()
        },
        max_tries: args.max_tries,
        fail_delay: args.fail_delay,
        log: AuthLog::new("vestibule"),
        notice_after_last_try: true,
    };
    let session = match login(Service::Login, &options, Box::new(PlainConversation::new())) {
        Ok(session) => session,
        Err(e) => {
            tracing::info!(error = %e, "login failed");
            eprintln!("{}", e.user_message());
            return interrupted_code().unwrap_or(1);
        }
    };
    if let Identity::Invoker { invoker, pam_user } = session.identity() {
        println!(
            "Not running as root: this session runs as {} (uid {}), not as {pam_user}.",
            invoker.name, invoker.uid
        );
    }
    let spec = SessionSpec {
        command: if args.command.is_empty() {
            SessionCommand::LoginShell
        } else {
            SessionCommand::Program(args.command.clone())
        },
        terminal: terminal_mode(stdin_is_tty),
        term: std::env::var("TERM").ok(),
        // utmp/wtmp as login(1) writes them (only as root, on a terminal line).
        records: Some(vestibule_core::utmp::Files::default()),
        ..SessionSpec::default()
    };
    let result = run_session(session, &spec, args.agent_bus.clone());
    match result {
        Ok(report) => {
            if let Err(rc) = report.closed {
                eprintln!("{program}: the session was not closed cleanly: {rc}");
            }
            report.end.exit_code()
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            interrupted_code().unwrap_or(1)
        }
    }
}

/// 128 + the signal that interrupted the login, shell style.
fn interrupted_code() -> Option<i32> {
    vestibule_core::pending_interrupt().map(|s| 128 + s as i32)
}

/// A console login (root, session leader on a terminal, like getty's child) gives the session its
/// own controlling terminal; otherwise the session shares ours in the foreground.
pub fn terminal_mode(stdin_is_tty: bool) -> TerminalMode {
    let pid = nix::unistd::getpid();
    let leader = nix::unistd::getsid(None).is_ok_and(|sid| sid == pid);
    match stdin_is_tty {
        false => TerminalMode::Detached,
        true if leader && nix::unistd::Uid::effective().is_root() => TerminalMode::Own,
        true => TerminalMode::Foreground,
    }
}

/// `tty1` for `/dev/tty1`, `pts/3` for `/dev/pts/3`: PAM_TTY as login(1) sets it.
pub fn stdin_tty_name() -> Option<String> {
    let path = nix::unistd::ttyname(io::stdin()).ok()?;
    let name = path.to_string_lossy();
    Some(name.strip_prefix("/dev/").unwrap_or(&name).to_owned())
}
