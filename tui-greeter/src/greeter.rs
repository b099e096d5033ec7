//! The full-screen greeter's main loop: the only place where the pure parts (`app`, `view`) meet
//! the world — terminal input, the clock, Caps Lock, signals, the PAM worker, the state file and
//! power commands.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use nix::sys::signal::Signal;
use vestibule_core::{AuthLog, ConfigDir, Items, LoginOptions, SafeText};

use crate::app::{App, Effect, Event, Key, PamEvent, PowerAction, Settings};
use crate::config::Config;
use crate::pam_worker::{self, Report, ToWorker};
use crate::signals::Signals;
use crate::terminal::{self, Screen};
use crate::{capslock, issue, plain, sessions, state};

/// How often the loop wakes up without input: the clock, Caps Lock, worker reports, signals.
const TICK: Duration = Duration::from_millis(50);

/// What the greeter was asked to do.
#[derive(Debug, Clone)]
pub struct GreeterArgs {
    pub config: Config,
    pub tty: Option<String>,
    pub pam: ConfigDir,
    pub max_tries: Option<u32>,
    pub fail_delay: Option<Duration>,
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
        hide_user_names: g.hide_user_names,
        default_session: args.config.sessions.default.clone(),
    };
    let mut remembered = state::Remembered::load(&g.state_file);
    if !g.remember_last_user {
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
        loop {
            if dirty || full {
                if let Err(e) = screen.draw(app, full) {
                    tracing::error!(error = %e, "cannot draw");
                    return 1;
                }
            }
            full = false;
            dirty = false;
            if let Some(sig) = signals.pending() {
                tracing::info!(signal = %sig, "stopping");
                return 128 + sig as i32;
            }
            let mut effects = self.reports(app, &mut dirty);
            match event::poll(TICK) {
                Ok(true) => match event::read() {
                    Ok(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => {
                        dirty = true;
                        if let Some(key) = map_key(k.code, k.modifiers) {
                            effects.extend(app.update(Event::Key(key)));
                        }
                    }
                    Ok(TermEvent::Resize(..)) => full = true,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the terminal");
                        return 1;
                    }
                },
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot poll the terminal");
                    return 1;
                }
            }
            if last_tick.elapsed() >= Duration::from_millis(250) {
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
                Ok(Report::Terminated(_)) => {}
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
        let g = &self.args.config.greeter;
        let options = LoginOptions {
            config: self.args.pam.clone(),
            items: Items {
                user: Some(user),
                tty: self.tty.clone(),
                user_prompt: Some(g.user_prompt.clone()),
                ..Items::default()
            },
            max_tries: self.args.max_tries.unwrap_or(g.max_tries),
            fail_delay: self
                .args
                .fail_delay
                .unwrap_or(Duration::from_millis(g.fail_delay_ms)),
            log: AuthLog::new("vestibule"),
        };
        let (to_worker, from_ui) = mpsc::channel();
        let (to_ui, from_worker) = mpsc::channel();
        let handle = pam_worker::spawn(options, to_ui, from_ui);
        self.worker = Some(Worker {
            to: to_worker,
            from: from_worker,
            handle,
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
                Ok(Report::Event(_)) => {}
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

/// Maps a crossterm key to the greeter's keys; others are ignored.
fn map_key(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
    if modifiers.contains(KeyModifiers::CONTROL) {
        return match code {
            KeyCode::Char('c') | KeyCode::Char('C') => Some(Key::CtrlC),
            KeyCode::Char('l') | KeyCode::Char('L') => Some(Key::CtrlL),
            KeyCode::Char('u') | KeyCode::Char('U') => Some(Key::CtrlU),
            _ => None,
        };
    }
    Some(match code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::F(n) => Key::F(n),
        _ => return None,
    })
}

/// The config file path a user named with `--config`, or the default.
pub fn config_path(flag: Option<PathBuf>) -> (PathBuf, bool) {
    match flag {
        Some(p) => (p, true),
        None => (PathBuf::from(crate::config::DEFAULT_PATH), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_the_greeters_keys() {
        assert_eq!(
            map_key(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Key::CtrlC)
        );
        assert_eq!(map_key(KeyCode::Char('x'), KeyModifiers::CONTROL), None);
        assert_eq!(
            map_key(KeyCode::Char('X'), KeyModifiers::SHIFT),
            Some(Key::Char('X'))
        );
        assert_eq!(map_key(KeyCode::F(2), KeyModifiers::NONE), Some(Key::F(2)));
        assert_eq!(map_key(KeyCode::Home, KeyModifiers::NONE), None);
    }
}
