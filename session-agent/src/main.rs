//! vestibule-agent: keeps the table of Vestibule's sessions on D-Bus (`org.vestibule.SessionAgent1`)
//! so other processes can list, lock and close them, and closes sessions whose supervisor died.
//!
//! Start-up: reload the session table (snapshot + journal, compacted at once: sessions survive an
//! agent restart), connect to the system bus (or `--bus-address`), take the name, serve the
//! manager and one object per session; then watch the supervisors (a session whose supervisor is
//! gone is ended and its PAM session closed by the agent) and the bus's `NameOwnerChanged` (a
//! caller that left is forgotten).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use futures_lite::StreamExt;
use vestibule_agent::agent1::dispatch::Agent1;
use vestibule_agent::exits::Exits;
use vestibule_agent::login1;
use vestibule_agent::ops;
use vestibule_agent::persist::{self, Change};
use vestibule_agent::state::{self, Settings, Shared};
use vestibule_agent::BUS_NAME;
use vestibule_core::ConfigDir;

#[derive(Parser, Debug)]
#[command(
    name = "vestibule-agent",
    version,
    about = "Vestibule's session agent on D-Bus"
)]
struct Args {
    /// Connect to this bus instead of the system bus (tests: a private dbus-daemon).
    #[arg(long, value_name = "ADDR")]
    bus_address: Option<String>,
    /// The snapshot of the session table; its journal is this path with `.journal` appended.
    #[arg(long, value_name = "PATH", default_value = persist::DEFAULT_PATH)]
    state: PathBuf,
    /// Read the PAM services from DIR instead of /etc/pam.d (tests only; refused when setuid).
    #[arg(long, value_name = "DIR")]
    pam_confdir: Option<PathBuf>,
    /// How long a session may take to exit after SIGTERM before SIGKILL, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    grace_ms: u64,
    /// How long a live supervisor may take, once its session's processes are gone, to close the
    /// PAM session and unregister it before a close fails, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = state::SUPERVISOR_CLOSE_WAIT.as_millis() as u64)]
    supervisor_wait_ms: u64,
    /// Starts a new lock screen when a session's dies while it is locked: a command line, split
    /// on whitespace, `{id}` replaced by the session id, run as the session's user with its
    /// DISPLAY. "" starts none.
    #[arg(long, value_name = "COMMAND", default_value = vestibule_agent::locker::DEFAULT_COMMAND)]
    locker_command: String,
    /// How long LockSession waits for the session's lock screen to report the screen covered and
    /// its input held before it fails (NotCovered), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = state::LOCK_TIMEOUT.as_millis() as u64)]
    lock_timeout_ms: u64,
    /// How often supervisors that cannot be watched by pidfd (a kernel before 5.3, the open-file
    /// limit reached) are checked for having died, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    watch_interval_ms: u64,
    /// Serve org.freedesktop.login1 for Vestibule's sessions (loginctl, xss-lock, swayidle):
    /// auto where nothing else has the name (no owner, not activatable, no /run/systemd/system),
    /// on always (fails if the name is owned; never replaces its owner), off never.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = login1::Mode::Auto)]
    login1: login1::Mode,
}

fn main() -> ExitCode {
    vestibule_agent::alloc::limit_arenas();
    let args = Args::parse();
    init_logging();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vestibule-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (the journal under systemd) at `info` unless `VESTIBULE_LOG` names another
/// level: an agent's closes and refusals are worth keeping.
fn init_logging() {
    let level = std::env::var("VESTIBULE_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// `--pam-confdir` lets the caller choose the PAM stack: never in a setuid or setgid process.
fn config_dir(dir: Option<PathBuf>) -> Result<ConfigDir, String> {
    let Some(dir) = dir else {
        return Ok(ConfigDir::System);
    };
    if nix::unistd::getuid() != nix::unistd::geteuid() || nix::unistd::getgid() != nix::unistd::getegid() {
        return Err("--pam-confdir is refused in a setuid or setgid process".into());
    }
    Ok(ConfigDir::Override(dir))
}

fn run(args: Args) -> Result<(), String> {
    let pam = config_dir(args.pam_confdir.clone())?;
    let (mut store, mut table, loaded) =
        persist::Store::open(&args.state).map_err(|e| format!("reading the session table: {e}"))?;
    if loaded.torn {
        tracing::warn!("the journal's last line was torn (a crash while writing it): skipped");
    }
    let interrupted = table.reopen_closing();
    if !interrupted.is_empty() {
        tracing::warn!(
            ?interrupted,
            "sessions were being closed when the agent stopped: closing them again"
        );
        for &id in &interrupted {
            let state = table.get(id).map_err(|e| e.to_string())?.record.state;
            store
                .append(&Change::State { id, state }, &table)
                .map_err(|e| format!("writing the session journal: {e}"))?;
        }
    }
    tracing::info!(
        sessions = table.len(),
        replayed = loaded.replayed,
        state = %args.state.display(),
        "session table loaded"
    );
    let shared = Shared::new(
        table,
        store,
        Settings {
            state_path: args.state.clone(),
            pam,
            grace: Duration::from_millis(args.grace_ms),
            supervisor_wait: Duration::from_millis(args.supervisor_wait_ms),
            locker_command: args
                .locker_command
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            bus_address: args.bus_address.clone(),
            lock_timeout: Duration::from_millis(args.lock_timeout_ms),
        },
        Exits::new().map_err(|e| e.to_string())?,
    );
    let interval = Duration::from_millis(args.watch_interval_ms.max(10));
    raise_open_file_limit();
    let executor = std::sync::Arc::new(async_executor::Executor::new());
    async_io::block_on(executor.run(async {
        let where_ = args.bus_address.as_deref().unwrap_or("the system bus");
        let builder = match &args.bus_address {
            Some(a) => zbus::connection::Builder::address(a.as_str()),
            None => zbus::connection::Builder::system(),
        }
        .map_err(|e| format!("bus address {where_}: {e}"))?;
        // No object server on it, ever: the agent's own dispatcher answers every call.
        let conn = builder
            .build()
            .await
            .map_err(|e| format!("connecting to {where_} as {BUS_NAME}: {e}"))?;
        // Served from before the name is ours, so no call to it can arrive unread (see bus::serve).
        let calls = zbus::MessageStream::from(&conn);
        let own = executor.spawn(Agent1::new(shared.clone(), conn.clone(), executor.clone()).serve(calls));
        take_name(&conn)
            .await
            .map_err(|e| format!("connecting to {where_} as {BUS_NAME}: {e}"))?;
        tracing::info!(bus = where_, name = BUS_NAME, "serving");
        let login1 = serve_login1(&args, &shared, &conn, &executor)
            .await?
            .map(|(l, calls)| executor.spawn(l.serve(calls)));
        for (n, pid, start) in shared.supervisors() {
            shared.exits.watch(n, pid, start);
        }
        // Now that the name is ours, lock screens can reach us: replace the ones that died
        // while the agent was down.
        ops::restore_lockers(&shared);
        let forget = async {
            let names = async {
                let proxy = zbus::fdo::DBusProxy::new(&conn).await?;
                proxy.receive_name_owner_changed().await
            };
            match names.await {
                Ok(mut changes) => {
                    while let Some(change) = changes.next().await {
                        let Ok(args) = change.args() else { continue };
                        if let zbus::names::BusName::Unique(name) = args.name() {
                            if args.new_owner().is_none() {
                                shared.forget_caller(name.as_str());
                                ops::locker_gone(&shared, name.as_str());
                            }
                        }
                    }
                }
                // Without it callers are still right (unique names are never reused), the
                // cache is only bounded by its size.
                Err(e) => tracing::warn!(error = %e, "cannot watch NameOwnerChanged"),
            }
            std::future::pending::<Result<(), String>>().await
        };
        // A supervisor's exit closes its session at once; the scan covers the unwatched.
        let watch = async {
            ops::close_orphans(&shared, &conn).await;
            loop {
                let exited = async { Some(shared.exits.next().await) };
                let tick = async {
                    async_io::Timer::after(interval).await;
                    None
                };
                match futures_lite::future::or(exited, tick).await {
                    Some(n) => ops::close_orphan(&shared, &conn, n).await,
                    None => ops::close_orphans(&shared, &conn).await,
                }
            }
        };
        // The bus going away ends the agent (systemd restarts it); the stream ends then.
        let disconnected = async {
            let mut messages = zbus::MessageStream::from(&conn);
            while messages.next().await.is_some() {}
            Err::<(), String>(format!("the connection to {where_} was closed"))
        };
        let login1 = async {
            match login1 {
                Some(l) => l.await,
                None => std::future::pending().await,
            }
        };
        let all = futures_lite::future::or(futures_lite::future::or(watch, disconnected), forget);
        futures_lite::future::or(futures_lite::future::or(all, login1), own).await
    }))
}

/// Requests the agent's name with DoNotQueue and fails unless the agent is now its primary owner:
/// a second agent must exit while the first holds it, not wait in the bus's queue. (zbus 5's
/// `connection::Builder::name` neither sets DoNotQueue nor fails on `Exists`/`InQueue`.)
async fn take_name(conn: &zbus::Connection) -> Result<(), String> {
    use zbus::fdo::{RequestNameFlags, RequestNameReply};
    let reply = conn
        .request_name_with_flags(BUS_NAME, RequestNameFlags::DoNotQueue.into())
        .await
        .map_err(|e| e.to_string())?;
    match reply {
        RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner => Ok(()),
        RequestNameReply::Exists | RequestNameReply::InQueue => {
            Err(format!("{BUS_NAME} is already owned (is another agent running?)"))
        }
    }
}

/// Connects a second time and takes `org.freedesktop.login1` on that connection if `--login1`
/// says so: its signals then come from the name's owner, as clients expect. Returns the
/// dispatcher and the stream of calls, made before the name was requested (see `bus::serve`).
async fn serve_login1(
    args: &Args,
    shared: &std::sync::Arc<Shared>,
    agent: &zbus::Connection,
    executor: &std::sync::Arc<async_executor::Executor<'static>>,
) -> Result<Option<(login1::dispatch::Login1, zbus::MessageStream)>, String> {
    if args.login1 == login1::Mode::Off {
        return Ok(None);
    }
    let where_ = args.bus_address.as_deref().unwrap_or("the system bus");
    let builder = match &args.bus_address {
        Some(a) => zbus::connection::Builder::address(a.as_str()),
        None => zbus::connection::Builder::system(),
    }
    .map_err(|e| format!("bus address {where_}: {e}"))?;
    // No object server on it, ever: the dispatcher answers every call, and only it.
    let conn = builder
        .build()
        .await
        .map_err(|e| format!("connecting to {where_} for {}: {e}", login1::BUS_NAME))?;
    let calls = zbus::MessageStream::from(&conn);
    if !login1::acquire(&conn, args.login1).await? {
        return Ok(None);
    }
    tracing::info!(bus = where_, name = login1::BUS_NAME, "serving");
    let _ = shared.login1.set(conn.clone());
    let l = login1::dispatch::Login1::new(shared.clone(), conn, agent.clone(), executor.clone());
    Ok(Some((l, calls)))
}

/// One pidfd per session's supervisor: raise the soft open-file limit to the hard one (systemd
/// gives services 1,024 soft and 524,288 hard), as programs that do not use select(2) should.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
    }
}
