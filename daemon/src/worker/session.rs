//! What both kinds of worker do once PAM has said yes: take the terminal, tell PAM about the
//! session (`XDG_*` in its environment before `pam_open_session`, where pam_systemd reads them),
//! open it, give the terminal to the user, write utmp/wtmp, provide `XDG_RUNTIME_DIR` if no
//! module did, run and supervise the command, and undo all of it in reverse order.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use nix::unistd::Uid;
use vestibule_agent::client::{AgentBus, Tracker};
use vestibule_core::record::SessionRecord;
use vestibule_core::{
    runtime_dir, tty, utmp, Authenticated, Identity, SessionCommand, SessionSpec, SessionTracker,
    TerminalMode,
};
use vestibule_ipc::worker::{Records, Terminal};

/// What the session is, besides the PAM transaction.
pub struct Plan<'a> {
    pub terminal: &'a Terminal,
    /// `user` or `greeter`.
    pub class: &'a str,
    /// The command line, run by `sh -c` (greetd's semantics).
    pub command: String,
    pub source_profile: bool,
    /// `KEY=VALUE` entries for the PAM environment and the session (already filtered).
    pub env: Vec<String>,
    pub agent_bus: Option<String>,
    pub runtime_dir: &'a Path,
    pub records: Option<&'a Records>,
}

/// Reports the session's first process to the daemon, and to the agent when there is one.
pub struct Reporting<'a> {
    pub agent: Option<Tracker>,
    pub started: &'a mut dyn FnMut(u32),
}

impl SessionTracker for Reporting<'_> {
    fn opened(&mut self, record: &SessionRecord) -> Result<Option<String>, String> {
        (self.started)(record.leader);
        match &mut self.agent {
            Some(agent) => agent.opened(record),
            None => Ok(None),
        }
    }

    fn closed(&mut self, id: &str) {
        if let Some(agent) = &mut self.agent {
            agent.closed(id);
        }
    }
}

fn env_value<'e>(env: &'e [String], name: &str) -> Option<&'e str> {
    env.iter()
        .filter_map(|e| e.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Opens the session and runs it to its end; returns the worker's exit status (the session's,
/// or 1 if it could not start). `started` is called with the session leader's pid.
pub fn open_and_run(mut auth: Authenticated, plan: Plan<'_>, started: &mut dyn FnMut(u32)) -> i32 {
    let root = Uid::effective().is_root();
    let path: Option<PathBuf> = plan.terminal.path.clone();
    match (&path, plan.terminal.own) {
        (Some(p), true) => {
            if let Err(e) = tty::attach(p, root) {
                tracing::error!(error = %e, "cannot take the terminal for the session");
                return 1;
            }
        }
        // Sharing the terminal we were started on: at least the session's stdio is the terminal,
        // not the daemon's log.
        (Some(p), false) => {
            if let Err(e) = tty::redirect_stdio(p) {
                tracing::info!(error = %e, "the session keeps the daemon's standard input and output");
            }
        }
        (None, _) => {}
    }
    let session_type = env_value(&plan.env, "XDG_SESSION_TYPE")
        .unwrap_or("tty")
        .to_owned();
    let desktop = env_value(&plan.env, "XDG_SESSION_DESKTOP").map(str::to_owned);
    let vt = path.as_deref().and_then(tty::vt_number);
    let mut vars: Vec<(String, String)> = vec![
        ("XDG_SESSION_TYPE".into(), session_type.clone()),
        ("XDG_SESSION_CLASS".into(), plan.class.into()),
    ];
    if let Some(d) = &desktop {
        vars.push(("XDG_SESSION_DESKTOP".into(), d.clone()));
    }
    if let Some(n) = vt {
        vars.push(("XDG_SEAT".into(), "seat0".into()));
        vars.push(("XDG_VTNR".into(), n.to_string()));
    }
    for e in &plan.env {
        if let Some((k, v)) = e.split_once('=') {
            if !vars.iter().any(|(name, _)| name == k) {
                vars.push((k.into(), v.into()));
            }
        }
    }
    for (k, v) in &vars {
        if let Err(rc) = auth.putenv(k, v) {
            tracing::warn!(name = %k, status = ?rc, "pam_putenv failed");
        }
    }
    let mut session = match auth.open() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the PAM session");
            return 1;
        }
    };
    let account = session.identity().account().clone();
    let pam_user = session.identity().pam_user().to_owned();
    let switching = matches!(session.identity(), Identity::Switch(_));
    if !switching {
        tracing::info!(
            pam_user,
            runs_as = %account.name,
            "not root: the session runs as the invoking user; no terminal ownership, utmp or runtime directory"
        );
    }
    let pam_has_runtime_dir = session
        .transaction()
        .env_list()
        .map(|l| l.iter().any(|e| e.to_bytes().starts_with(b"XDG_RUNTIME_DIR=")))
        .unwrap_or(false);
    let mut extra_env: Vec<(String, String)> = vars;
    let mut rundir = None;
    if switching && !pam_has_runtime_dir {
        match runtime_dir::acquire(
            Path::new(runtime_dir::BASE),
            &plan.runtime_dir.join("users"),
            account.uid,
            account.gid,
        ) {
            Ok(dir) => {
                extra_env.push(("XDG_RUNTIME_DIR".into(), dir.path.to_string_lossy().into_owned()));
                rundir = Some(dir);
            }
            Err(e) => tracing::warn!(error = %e, "no XDG_RUNTIME_DIR for this session"),
        }
    }
    // Only a user's session gets the terminal: the greeter reads it through the descriptors it
    // inherited, and the terminal stays root's while anyone may walk up to it.
    let owns_tty = switching && plan.terminal.own && plan.class == "user";
    if let (Some(p), true) = (&path, owns_tty) {
        if let Err(e) = tty::give_to(p, account.uid, account.gid) {
            tracing::warn!(error = %e, "cannot give the terminal to the user");
        }
    }

    let stdin_tty = std::io::stdin().is_terminal();
    let spec = SessionSpec {
        command: SessionCommand::Program(crate::command::argv(&plan.command, plan.source_profile)),
        terminal: match (&path, plan.terminal.own && root) {
            (Some(_), true) => TerminalMode::Own,
            _ if stdin_tty => TerminalMode::Foreground,
            _ => TerminalMode::Detached,
        },
        term: std::env::var("TERM")
            .ok()
            .or_else(|| vt.map(|_| "linux".to_owned())),
        session_type,
        session_class: plan.class.into(),
        desktop,
        extra_env,
        records: plan
            .records
            .filter(|_| plan.class == "user")
            .map(|r| utmp::Files {
                utmp: r.utmp.clone(),
                wtmp: r.wtmp.clone(),
            }),
        ..SessionSpec::default()
    };
    let agent = Tracker::from_env(plan.agent_bus.clone());
    let agent = if *agent.bus() == AgentBus::System && !root {
        None
    } else {
        Some(agent)
    };
    let mut reporting = Reporting { agent, started };
    let result = session.run_tracked(&spec, &mut reporting);

    if let (Some(p), true) = (&path, owns_tty) {
        if let Err(e) = tty::take_back(p) {
            tracing::warn!(error = %e, "cannot take the terminal back");
        }
    }
    if let Some(dir) = rundir {
        if let Err(e) = dir.release() {
            tracing::warn!(error = %e, "cannot remove the runtime directory");
        }
    }
    match result {
        Ok(report) => {
            if let Err(rc) = report.closed {
                tracing::warn!(status = ?rc, "the PAM session was not closed cleanly");
            }
            report.end.exit_code()
        }
        Err(e) => {
            tracing::error!(error = %e, "the session failed");
            1
        }
    }
}
