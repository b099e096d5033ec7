//! The full-screen greeter's main loop: the only place where the pure parts (`app`, `view`) meet
//! the world — terminal input, the clock, Caps Lock, signals, the login daemon (through
//! `vestibule_greeter::greetd_client`), the state file and power commands.
//!
//! The greeter never runs a session: once the daemon accepts `start_session` it saves the state
//! file, gives the terminal back and exits 0, and the daemon starts the session after it has gone
//! (greetd's order), so nothing of the greeter stays on the terminal or in the session.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use vestibule_core::SafeText;
use zeroize::Zeroize;

use crate::app::{App, Effect, Event, PamEvent, PowerAction, Settings};
use crate::input::Decoder;
use crate::signals::Signals;
use crate::terminal::{self, Screen};
use crate::{capslock, issue};
use vestibule_greeter::config::Config;
use vestibule_greeter::greetd_client::{Endpoint, Login, Report, ToClient};
use vestibule_greeter::{sessions, state};

/// How often the loop wakes up without input while a login runs (the client's reports arrive on
/// a channel, which poll cannot watch).
const TICK: Duration = Duration::from_millis(50);

/// How often it wakes up when idle at the card: the clock and Caps Lock.
const IDLE_TICK: Duration = Duration::from_millis(250);

/// What the greeter was asked to do.
#[derive(Debug, Clone)]
pub struct GreeterArgs {
    pub config: Config,
    pub tty: Option<String>,
    /// The daemon's socket and whether it offers the extension.
    pub endpoint: Endpoint,
    /// A session command given on the command line (offered first).
    pub command: Vec<String>,
}

/// Runs the greeter until it is told to stop; returns the exit code.
pub fn run(args: GreeterArgs) -> i32 {
    // Before any thread exists, so every thread inherits the mask.
    let mut signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vestibule-tui: cannot set up signal handling: {e}");
            return 1;
        }
    };
    let stdin = io::stdin();
    let tty = args.tty.clone().or_else(stdin_tty_name);
    let vt = capslock::is_vt(stdin.as_fd());
    let mut app = build_app(&args, tty.as_deref());
    app.update(Event::Clock(clock_text(&args.config.greeter.clock_format)));

    terminal::install_panic_hook();
    let mut screen = match Screen::enter() {
        Ok(s) => s,
        Err(e) => {
            terminal::restore();
            eprintln!("vestibule-tui: cannot use the terminal: {e} (try --plain)");
            return 1;
        }
    };
    let mut looper = Loop {
        args: &args,
        worker: None,
        // The size the first frame is drawn at, so a resize before the first tick is noticed.
        size: crossterm::terminal::size().ok(),
    };
    let code = looper.run(&mut app, &mut screen, &mut signals, vt);
    looper.stop_worker();
    drop(screen);
    code
}

fn build_app(args: &GreeterArgs, tty: Option<&str>) -> App {
    let g = &args.config.greeter;
    let facts = issue::Facts::gather(tty);
    let issue_text = if g.issue_file.as_os_str().is_empty() {
        SafeText::default()
    } else {
        std::fs::read(&g.issue_file)
            .map(|raw| issue::expand(&raw, &facts))
            .unwrap_or_default()
    };
    let p = &args.config.power;
    let settings = Settings {
        mask: g.mask,
        user_prompt: g.user_prompt.clone(),
        poweroff_key: (!p.poweroff.is_empty()).then_some(p.poweroff_key),
        reboot_key: (!p.reboot.is_empty()).then_some(p.reboot_key),
        // Not remembering the last user and hiding names both mean: no name kept on the card or
        // in the state file.
        hide_user_names: g.hide_user_names || !g.remember_last_user,
        default_session: args.config.sessions.default.clone(),
    };
    // With names hidden nothing of the old file is kept: saving it again would write the names
    // of its `session USER ID` lines back.
    let remembered = if settings.hide_user_names {
        state::Remembered::default()
    } else {
        state::Remembered::load(&g.state_file)
    };
    App::new(
        settings,
        facts.host,
        issue_text,
        sessions::discover(&args.config.sessions, &args.command),
        remembered,
    )
}

fn clock_text(format: &str) -> String {
    chrono::Local::now().format(format).to_string()
}

/// `tty1` for `/dev/tty1`, `pts/3` for `/dev/pts/3`, as agetty's `\\l` shows it.
fn stdin_tty_name() -> Option<String> {
    let path = nix::unistd::ttyname(io::stdin()).ok()?;
    let name = path.to_string_lossy();
    Some(name.strip_prefix("/dev/").unwrap_or(&name).to_owned())
}

struct Loop<'a> {
    args: &'a GreeterArgs,
    worker: Option<Login>,
    /// The terminal's size at the last look. Under a daemon that gives the greeter no
    /// controlling terminal (greetd's `vt = "none"`) no SIGWINCH comes, so the loop also looks.
    size: Option<(u16, u16)>,
}

impl Loop<'_> {
    fn run(&mut self, app: &mut App, screen: &mut Screen, signals: &mut Signals, vt: bool) -> i32 {
        let mut full = true;
        // Whether the state may have changed since the last frame: idle, nothing is drawn.
        let mut dirty = true;
        let mut last_tick = Instant::now();
        let mut decoder = Decoder::default();
        loop {
            if dirty || full {
                if let Err(e) = screen.draw(app, full) {
                    tracing::error!(error = %e, "cannot draw");
                    return 1;
                }
            }
            full = false;
            dirty = false;
            let (mut effects, accepted) = self.reports(app, &mut dirty);
            if accepted {
                return self.leave(app, screen);
            }
            let stdin = io::stdin();
            let mut fds = [
                PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            let wait = if self.worker.is_some() { TICK } else { IDLE_TICK };
            match poll(&mut fds, PollTimeout::from(wait.as_millis() as u16)) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot poll the terminal");
                    return 1;
                }
            }
            let input = fds[0].revents().unwrap_or(PollFlags::empty());
            let signalled = fds[1].revents().is_some_and(|r| r.contains(PollFlags::POLLIN));
            if signalled {
                while let Some(sig) = signals.next() {
                    if sig == Signal::SIGWINCH {
                        full = true;
                        continue;
                    }
                    tracing::info!(signal = %sig, "stopping");
                    return 128 + sig as i32;
                }
            }
            if input.contains(PollFlags::POLLIN) {
                let mut buf = [0u8; 256];
                let read = nix::unistd::read(&stdin, &mut buf);
                match read {
                    Ok(0) => return hung_up(),
                    Ok(n) => {
                        dirty = true;
                        for key in decoder.feed(&buf[..n]) {
                            effects.extend(app.update(Event::Key(key)));
                        }
                    }
                    Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                    Err(nix::Error::EIO) => return hung_up(),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the terminal");
                        return 1;
                    }
                }
                buf.zeroize();
            } else if input.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
                return hung_up();
            }
            if last_tick.elapsed() >= IDLE_TICK {
                last_tick = Instant::now();
                let size = crossterm::terminal::size().ok();
                if size != self.size {
                    tracing::debug!(?size, "terminal size");
                    full = true;
                    self.size = size;
                }
                effects.extend(app.update(Event::Clock(clock_text(&self.args.config.greeter.clock_format))));
                if vt {
                    if let Some(on) = capslock::caps_lock(io::stdin().as_fd()) {
                        if on != app.caps_lock {
                            dirty = true;
                            app.update(Event::CapsLock(on));
                        }
                    }
                }
            }
            for effect in effects {
                match effect {
                    Effect::StartLogin { user } => self.start(&user),
                    Effect::Answer(answers) => self.send(ToClient::Answers(answers)),
                    Effect::Cancel => self.send(ToClient::Cancel),
                    Effect::Redraw => full = true,
                    Effect::Quit => return 130,
                    Effect::Power(action) => {
                        if let Err(problem) = self.power(action, screen) {
                            app.update(Event::Problem(problem));
                        }
                        full = true;
                    }
                    Effect::RunSession { user, session } => self.start_session(app, &user, session),
                }
            }
        }
    }

    /// Applies what the client reported since the last look; `true` once the daemon accepted
    /// the session (the greeter must go).
    fn reports(&mut self, app: &mut App, dirty: &mut bool) -> (Vec<Effect>, bool) {
        let mut effects = Vec::new();
        let Some(worker) = &self.worker else {
            return (effects, false);
        };
        loop {
            let report = worker.from.try_recv();
            *dirty |= report.is_ok();
            match report {
                Ok(Report::Event(e)) => {
                    let done = matches!(e, PamEvent::Failed(_));
                    effects.extend(app.update(Event::Pam(e)));
                    if done {
                        self.reap();
                        break;
                    }
                }
                Ok(Report::SessionAccepted) => {
                    self.reap();
                    return (effects, true);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    *dirty = true;
                    self.reap();
                    if app.login_active() || app.phase == crate::app::Phase::Session {
                        app.update(Event::Pam(PamEvent::Failed(
                            "The login stopped unexpectedly.".into(),
                        )));
                    }
                    break;
                }
            }
        }
        (effects, false)
    }

    fn start(&mut self, user: &str) {
        self.stop_worker();
        self.worker = Some(self.args.endpoint.login(user));
    }

    fn send(&mut self, message: ToClient) {
        if let Some(w) = &self.worker {
            let _ = w.to.send(message);
        }
    }

    /// The client reported the end of its login: its thread is finishing.
    fn reap(&mut self) {
        if let Some(w) = self.worker.take() {
            w.join();
        }
    }

    /// Ends a login in progress: the connection is closed, which the daemon takes as a cancel.
    fn stop_worker(&mut self) {
        if let Some(w) = self.worker.take() {
            w.stop();
        }
    }

    /// Authenticated: asks the daemon to run the chosen session once the greeter has exited.
    fn start_session(&mut self, app: &App, user: &str, index: usize) {
        let choice = &app.sessions[index];
        let start = choice.start_command(&self.args.config.sessions.xsession_wrapper);
        tracing::info!(user, session = %choice.id, "asking for the session");
        self.send(ToClient::Start {
            cmd: start.cmd,
            env: start.env,
        });
    }

    /// The daemon accepted the session: remember the choice, give the terminal back with what
    /// PAM said since the last answer (a message of the day) on it, and exit so the session can
    /// start.
    fn leave(&mut self, app: &App, screen: &mut Screen) -> i32 {
        let g = &self.args.config.greeter;
        if let Err(e) = app.remembered.save(&g.state_file) {
            tracing::warn!(error = %e, file = %g.state_file.display(), "cannot save the state file");
        }
        screen.suspend();
        let mut out = io::stdout().lock();
        for note in &app.card.since_answer {
            let _ = writeln!(out, "{}", note.text());
        }
        let _ = out.flush();
        0
    }

    /// Runs a power command; the terminal is given back meanwhile (it may print).
    fn power(&mut self, action: PowerAction, screen: &mut Screen) -> Result<(), String> {
        self.stop_worker();
        let argv = match action {
            PowerAction::Poweroff => &self.args.config.power.poweroff,
            PowerAction::Reboot => &self.args.config.power.reboot,
        };
        let Some((program, rest)) = argv.split_first() else {
            return Ok(());
        };
        screen.suspend();
        let status = std::process::Command::new(program).args(rest).status();
        let back = screen.resume();
        let result = match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("{} failed ({s}).", argv.join(" "))),
            Err(e) => Err(format!("Cannot run {program}: {e}.")),
        };
        back.map_err(|e| format!("cannot take the terminal back: {e}"))?;
        result
    }
}

/// The terminal went away (hangup, or the console was taken over): stop as if SIGHUP came.
fn hung_up() -> i32 {
    tracing::info!("the terminal hung up");
    128 + Signal::SIGHUP as i32
}

/// The config file path a user named with `--config`, or the default.
pub fn config_path(flag: Option<PathBuf>) -> (PathBuf, bool) {
    match flag {
        Some(p) => (p, true),
        None => (PathBuf::from(vestibule_greeter::config::DEFAULT_PATH), false),
    }
}
