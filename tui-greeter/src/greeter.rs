//! The full-screen greeter's main loop: the only place where the pure parts (`app`, `view`) meet
//! the world — terminal input, the clock, Caps Lock, signals, the PAM worker, the state file and
//! power commands.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use vestibule_core::{Items, SafeText};
use zeroize::Zeroize;

use crate::app::{App, Effect, Event, PamEvent, PowerAction, Settings};
use crate::input::Decoder;
use crate::signals::Signals;
use crate::terminal::{self, Screen};
use crate::{capslock, issue, plain};
use vestibule_greeter::config::Config;
use vestibule_greeter::pam_worker::{PamSettings, Report, ToWorker};
use vestibule_greeter::{sessions, state};

/// How often the loop wakes up without input while a login runs (worker reports arrive on a
/// channel, which poll cannot watch).
const TICK: Duration = Duration::from_millis(50);

/// How often it wakes up when idle at the card: the clock and Caps Lock.
const IDLE_TICK: Duration = Duration::from_millis(250);

/// What the greeter was asked to do.
#[derive(Debug, Clone)]
pub struct GreeterArgs {
    pub config: Config,
    pub tty: Option<String>,
    pub pam: PamSettings,
    /// A session command given on the command line (offered first).
    pub command: Vec<String>,
}

/// A running login.
struct Worker {
    to: Sender<ToWorker>,
    from: Receiver<Report>,
    handle: JoinHandle<()>,
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
    let tty = args.tty.clone().or_else(plain::stdin_tty_name);
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
        tty,
        worker: None,
        notes: Vec::new(),
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
    let mut remembered = state::Remembered::load(&g.state_file);
    if settings.hide_user_names {
        remembered.last_user = None;
    }
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

struct Loop<'a> {
    args: &'a GreeterArgs,
    tty: Option<String>,
    worker: Option<Worker>,
    /// Lines for the plain terminal before the session starts.
    notes: Vec<String>,
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
            let mut effects = self.reports(app, &mut dirty);
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
                let read = nix::unistd::read(stdin.as_raw_fd(), &mut buf);
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
                    Effect::StartLogin { user } => self.start(user),
                    Effect::Answer(answers) => self.send(ToWorker::Answers(answers)),
                    Effect::Cancel => self.send(ToWorker::Cancel),
                    Effect::Redraw => full = true,
                    Effect::Quit => return 130,
                    Effect::Power(action) => {
                        if let Err(problem) = self.power(action, screen) {
                            app.update(Event::Problem(problem));
                        }
                        full = true;
                    }
                    Effect::RunSession { user, session } => {
                        if let Some(code) = self.session(app, screen, &user, session) {
                            return code;
                        }
                        full = true;
                    }
                }
            }
        }
    }

    /// Applies what the worker reported since the last look.
    fn reports(&mut self, app: &mut App, dirty: &mut bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(worker) = &self.worker else {
            return effects;
        };
        loop {
            let report = worker.from.try_recv();
            *dirty |= report.is_ok();
            match report {
                Ok(Report::Event(e)) => {
                    let done = matches!(e, PamEvent::Failed(_));
                    let starting = matches!(e, PamEvent::SessionStarting);
                    effects.extend(app.update(Event::Pam(e)));
                    if done {
                        self.reap();
                        break;
                    }
                    if starting {
                        // The session is next: nothing more comes before it starts.
                        break;
                    }
                }
                Ok(Report::Note(n)) => self.notes.push(n),
                Ok(Report::Terminated(_)) | Ok(Report::Unlocked) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    *dirty = true;
                    self.reap();
                    if app.login_active() {
                        app.update(Event::Pam(PamEvent::Failed(
                            "The login stopped unexpectedly.".into(),
                        )));
                    }
                    break;
                }
            }
        }
        effects
    }

    fn start(&mut self, user: String) {
        self.stop_worker();
        self.notes.clear();
        let items = Items {
            user: Some(user),
            tty: self.tty.clone(),
            ..Items::default()
        };
        let login = self.args.pam.start(&self.args.config.greeter, items, "vestibule");
        self.worker = Some(Worker {
            to: login.to,
            from: login.from,
            handle: login.handle,
        });
    }

    fn send(&mut self, message: ToWorker) {
        if let Some(w) = &self.worker {
            let _ = w.to.send(message);
        }
    }

    fn reap(&mut self) {
        if let Some(w) = self.worker.take() {
            let _ = w.handle.join();
        }
    }

    /// Cancels a login in progress and waits (briefly) for PAM to clean up.
    fn stop_worker(&mut self) {
        let Some(w) = self.worker.take() else {
            return;
        };
        let _ = w.to.send(ToWorker::Cancel);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match w.from.recv_timeout(Duration::from_millis(50)) {
                Ok(Report::Event(PamEvent::Failed(_))) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = w.handle.join();
                    return;
                }
                Ok(Report::Event(PamEvent::SessionStarting)) => {
                    let _ = w.to.send(ToWorker::Cancel);
                }
                _ => {}
            }
        }
        tracing::warn!("the PAM thread did not stop in time");
    }

    /// Runs a session with the terminal given back; returns an exit code when the greeter must
    /// stop (a signal asked the session and the greeter to end).
    fn session(&mut self, app: &mut App, screen: &mut Screen, user: &str, index: usize) -> Option<i32> {
        let worker = self.worker.take()?;
        let g = &self.args.config.greeter;
        if let Err(e) = app.remembered.save(&g.state_file) {
            tracing::warn!(error = %e, file = %g.state_file.display(), "cannot save the state file");
        }
        tracing::info!(user, session = %app.sessions[index].id, "starting session");
        screen.suspend();
        let mut out = io::stdout().lock();
        for note in &app.since_answer {
            let _ = writeln!(out, "{}", note.text());
        }
        for n in self.notes.drain(..) {
            let _ = writeln!(out, "{n}");
        }
        let _ = out.flush();
        drop(out);

        let mut spec = app.sessions[index].spec(&self.args.config.sessions.xsession_wrapper);
        spec.terminal = plain::terminal_mode(true);
        spec.term = std::env::var("TERM").ok();
        let _ = worker.to.send(ToWorker::Run(Box::new(spec)));
        let mut terminated: Option<Signal> = None;
        let ended = loop {
            match worker.from.recv() {
                Ok(Report::Event(PamEvent::SessionEnded(s))) => break s,
                Ok(Report::Event(PamEvent::Failed(s))) => break s,
                Ok(Report::Terminated(sig)) => terminated = Some(sig),
                Ok(Report::Note(n)) => println!("{n}"),
                Ok(Report::Event(_)) | Ok(Report::Unlocked) => {}
                Err(_) => break "The session ended unexpectedly.".into(),
            }
        };
        let _ = worker.handle.join();
        if let Some(sig) = terminated {
            return Some(128 + sig as i32);
        }
        app.update(Event::Pam(PamEvent::SessionEnded(ended)));
        if let Err(e) = screen.resume() {
            tracing::error!(error = %e, "cannot take the terminal back");
            return Some(1);
        }
        None
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
