//! `vestibule-gtk`: the desktop greeter, and with `--lock` / `--lock-daemon` the lock screen.

mod agent_gate;
mod agent_watch;
mod bridge;
mod card;
mod clock;
mod conversation_view;
mod greeter;
mod lock;
mod probe;
mod signals;
mod style;
mod users;
mod x11_hold;

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use clap::Parser;
use gtk::glib;
use gtk::prelude::*;
use vestibule_core::{AuthLog, ConfigDir, Items, UnlockOptions};
use vestibule_greeter::config::{self, Config};
use vestibule_greeter::greetd_client::Endpoint;

use crate::agent_watch::AgentEvent;
use crate::lock::{LockScreen, LockSettings};

/// Desktop login window and lock screen for Vestibule.
#[derive(Debug, Parser)]
#[command(name = "vestibule-gtk", version)]
struct Args {
    /// Lock this session now; exit once unlocked.
    #[arg(long, conflicts_with = "lock_daemon")]
    lock: bool,
    /// Stay running in the session and lock when the session agent says so.
    #[arg(long)]
    lock_daemon: bool,
    /// The session to watch (lock daemon); default: the one this process belongs to.
    #[arg(long, value_name = "ID", requires = "lock_daemon")]
    session: Option<String>,
    /// Configuration file (default /etc/vestibule/config.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Lock screen: read PAM service files from DIR instead of /etc/pam.d (tests, demos; refused
    /// when setuid). The greeter calls no PAM: its daemon's configuration says.
    #[arg(long, value_name = "DIR")]
    pam_confdir: Option<PathBuf>,
    /// Lock screen: minimum wait after a failed attempt, in milliseconds (the greeter's is the
    /// daemon's).
    #[arg(long, value_name = "MS")]
    fail_delay_ms: Option<u64>,
    /// D-Bus address of the session agent (default $VESTIBULE_AGENT_BUS, else the system bus).
    #[arg(long, value_name = "ADDRESS")]
    agent_bus: Option<String>,
    /// Greeter: offer this command as the first session.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    // Greeter and lock screen both hold typed passwords: no core file may ever contain one.
    // First, so every thread GTK starts inherits it.
    if let Err(e) = vestibule_core::disable_core_dumps() {
        eprintln!("vestibule-gtk: cannot turn core dumps off: {e}");
        return ExitCode::from(1);
    }
    // Diagnostics on stderr when VESTIBULE_LOG names a level (as in the console greeter).
    if let Some(level) = std::env::var("VESTIBULE_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
    {
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .init();
    }
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vestibule-gtk: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let (config_path, explicit) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(config::DEFAULT_PATH), false),
    };
    let config = Config::load(&config_path, explicit).map_err(|e| e.to_string())?;
    let pam = match &args.pam_confdir {
        Some(dir) => {
            if nix::unistd::geteuid() != nix::unistd::getuid()
                || nix::unistd::getegid() != nix::unistd::getgid()
            {
                return Err("--pam-confdir is refused when running setuid or setgid".into());
            }
            ConfigDir::Override(dir.clone())
        }
        None => ConfigDir::System,
    };
    let mode = if args.lock || args.lock_daemon {
        Mode::Lock
    } else {
        Mode::Greeter
    };
    // The greeter is a client of the login daemon, run as its unprivileged greeter user: GTK,
    // its modules and themes never run as root, and it has no way to log anyone in by itself.
    let endpoint = match mode {
        Mode::Greeter => Some(greeter_endpoint()?),
        Mode::Lock => None,
    };
    choose_renderer();
    // Before GTK starts its threads: they must inherit the blocked signals.
    let stop_fd = signals::block().map_err(|e| format!("cannot block signals: {e}"))?;
    gtk::init().map_err(|e| format!("cannot open the display: {e}"))?;
    style::install(&config.desktop.css).unwrap_or_else(|e| eprintln!("vestibule-gtk: {e}"));
    // Fields are new and empty when they get the focus; selecting their text on focus-in only
    // lets a stray focus change (X focus events without a window manager) turn the next key
    // into a replacement of what was typed so far.
    if let Some(settings) = gtk::Settings::default() {
        settings.set_gtk_entry_select_on_focus(false);
    }

    let app = gtk::Application::builder()
        .application_id("org.vestibule.Greeter")
        .flags(gtk::gio::ApplicationFlags::NON_UNIQUE)
        .build();
    let exit = Rc::new(RefCell::new(ExitCode::SUCCESS));
    let fail_delay = Duration::from_millis(args.fail_delay_ms.unwrap_or(config.greeter.fail_delay_ms));
    let stop_fd = RefCell::new(Some(stop_fd));
    let exit_in = exit.clone();
    let hold = RefCell::new(None);
    app.connect_activate(move |app| {
        let Some(fd) = stop_fd.borrow_mut().take() else {
            return;
        };
        match mode {
            Mode::Greeter => {
                let Some(endpoint) = endpoint.clone() else {
                    return;
                };
                let settings = greeter::Settings {
                    state_file: config.greeter.state_file.clone(),
                    config: config.clone(),
                    endpoint,
                    command: args.command.clone(),
                };
                let g = greeter::Greeter::start(app, settings);
                let weak = Rc::downgrade(&g);
                let watch = Rc::new(signals::StopWatch::new(fd, move |sig| {
                    tracing::info!(signal = %sig, "stopping");
                    if let Some(g) = weak.upgrade() {
                        g.stop_requested();
                    }
                }));
                g.watch_signals(watch);
                *hold.borrow_mut() = Some(Box::new(g) as Box<dyn std::any::Any>);
            }
            Mode::Lock => {
                let user = match nix::unistd::User::from_uid(nix::unistd::getuid()) {
                    Ok(Some(u)) => u.name,
                    _ => {
                        eprintln!(
                            "vestibule-gtk: who is this? uid {} has no account",
                            nix::unistd::getuid()
                        );
                        *exit_in.borrow_mut() = ExitCode::from(1);
                        return;
                    }
                };
                let options = UnlockOptions {
                    config: pam.clone(),
                    items: Items {
                        xdisplay: std::env::var("DISPLAY").ok(),
                        ..Items::default()
                    },
                    fail_delay,
                    log: AuthLog::new("vestibule-lock"),
                };
                let screen = LockScreen::new(
                    app,
                    LockSettings {
                        user,
                        options,
                        clock_format: config.greeter.clock_format.clone(),
                    },
                );
                // A lock screen ignores stop signals while locked: killing it is what the agent
                // watches for. Unlocked (daemon waiting), they end it.
                let weak = Rc::downgrade(&screen);
                let app_for_stop = app.clone();
                let watch = Rc::new(signals::StopWatch::new(fd, move |sig| {
                    let locked = weak.upgrade().map(|s| s.is_locked()).unwrap_or(false);
                    if locked {
                        tracing::info!(signal = %sig, "ignored while locked");
                    } else {
                        app_for_stop.quit();
                    }
                }));
                watch.arm();
                if args.lock_daemon {
                    start_daemon(
                        app,
                        &screen,
                        args.agent_bus.clone(),
                        args.session.clone(),
                        exit_in.clone(),
                    );
                } else {
                    let app_done = app.clone();
                    screen.connect_unlocked(move || app_done.quit());
                    screen.lock();
                }
                *hold.borrow_mut() = Some(Box::new((screen, watch)) as Box<dyn std::any::Any>);
            }
        }
    });
    // Keep the application alive between locks (the daemon has no window while unlocked).
    let _guard = if args.lock_daemon { Some(app.hold()) } else { None };
    let no_args: [&str; 0] = [];
    app.run_with_args(&no_args);
    let code = *exit.borrow();
    Ok(code)
}

/// The greeter's daemon, from `GREETD_SOCK` (and `VESTIBULE_GREETER_PROTOCOL` for the
/// extension); refuses to run as root.
fn greeter_endpoint() -> Result<Endpoint, String> {
    if nix::unistd::geteuid().is_root() || nix::unistd::getuid().is_root() {
        return Err(
            "the greeter does not run as root: vestibuled (or greetd) runs it as its \
                    greeter user, e.g. command = \"cage -s -- vestibule-gtk\""
                .into(),
        );
    }
    Endpoint::from_env()
}

/// Draws with cairo unless GSK_RENDERER says otherwise. A login card and a lock screen are a few
/// flat widgets; on machines without a GPU (virtual machines, thin clients, Xvfb) GTK's OpenGL
/// renderer runs on Mesa's llvmpipe, which measured 165 MiB resident and 440 ms to the first
/// frame against 31 MiB and 156 ms with GL disabled (bench/gtk-results.md).
fn choose_renderer() {
    if std::env::var_os("GSK_RENDERER").is_some() {
        return;
    }
    let debug = match std::env::var("GDK_DEBUG") {
        Ok(d) if !d.is_empty() => format!("{d},gl-disable"),
        _ => "gl-disable".to_owned(),
    };
    // Still single-threaded here: nothing else reads the environment concurrently.
    std::env::set_var("GSK_RENDERER", "cairo");
    std::env::set_var("GDK_DEBUG", debug);
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Greeter,
    Lock,
}

fn start_daemon(
    app: &gtk::Application,
    screen: &Rc<LockScreen>,
    bus: Option<String>,
    session: Option<String>,
    exit: Rc<RefCell<ExitCode>>,
) {
    let bus = bus.or_else(|| std::env::var(vestibule_agent::client::AGENT_BUS_ENV).ok());
    let events = agent_watch::watch(bus, session);
    let session: Rc<RefCell<Option<(String, vestibule_agent::client::Client)>>> = Rc::new(RefCell::new(None));
    let for_unlock = session.clone();
    screen.connect_unlocked(move || {
        if let Some((id, link)) = for_unlock.borrow().clone() {
            agent_watch::report_unlocked(link, id);
        }
    });
    let for_held = session.clone();
    screen.connect_held(move || {
        if let Some((id, link)) = for_held.borrow().clone() {
            agent_watch::report_locked(link, id);
        }
    });
    let weak = Rc::downgrade(screen);
    let app = app.clone();
    glib::spawn_future_local(async move {
        while let Ok(event) = events.recv().await {
            let Some(screen) = weak.upgrade() else { break };
            match event {
                AgentEvent::Session { id, locked, link } => {
                    tracing::info!(%id, locked, "watching the session");
                    *session.borrow_mut() = Some((id, link));
                    if locked {
                        screen.lock();
                    } else {
                        screen.probe();
                    }
                }
                AgentEvent::Lock => screen.lock(),
                AgentEvent::Unlock => screen.unlock_from_outside(),
                AgentEvent::Removed => {
                    tracing::info!("the session was closed");
                    screen.unlock_from_outside();
                    app.quit();
                    break;
                }
                AgentEvent::Lost(reason) => {
                    eprintln!("vestibule-gtk: lost the session agent: {reason}");
                    if !screen.is_locked() {
                        *exit.borrow_mut() = ExitCode::from(1);
                        app.quit();
                    }
                    // Locked: stay locked; the user can still unlock.
                    break;
                }
            }
        }
    });
}
