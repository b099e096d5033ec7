//! `OpenSession::run_tracked` on real libpam (pam_permit, and pam_exec as the witness of
//! open_session / close_session), with a tracker that does what a bus connection does in
//! `opened`: start a thread. Without the test harness, so the supervisor runs in the process's
//! main thread as it does in a front end (the harness's threads would not block SIGCHLD).
//!
//! Checks: the record the core builds (final PAM user, PAM_TTY, service, leader = the session's
//! child, supervisor = this process); a thread started in `opened` inherits the blocked SIGTERM;
//! `closed` comes only after the PAM session is closed; a tracker that fails changes nothing
//! for the login; the calling thread's signal mask is given back.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use vestibule_core::record::{SessionClass, SessionRecord, SessionState};
use vestibule_core::{
    login, AuthLog, ConfigDir, Items, LoginOptions, Scripted, Secret, Service, SessionCommand, SessionEnd,
    SessionSpec, SessionTracker, TerminalMode,
};

struct Probe {
    witness: PathBuf,
    fail: bool,
    opened: Vec<SessionRecord>,
    thread_blocks_sigterm: Vec<bool>,
    /// The id `closed` got, and what the PAM witness had logged by then.
    closed: Vec<(String, String)>,
}

impl SessionTracker for Probe {
    fn opened(&mut self, record: &SessionRecord) -> Result<Option<String>, String> {
        let blocks = std::thread::spawn(|| {
            SigSet::thread_get_mask()
                .map(|m| m.contains(Signal::SIGTERM))
                .unwrap_or(false)
        })
        .join()
        .unwrap();
        self.thread_blocks_sigterm.push(blocks);
        self.opened.push(record.clone());
        if self.fail {
            return Err("the agent is not answering".into());
        }
        Ok(Some("7".into()))
    }

    fn closed(&mut self, id: &str) {
        let witness = fs::read_to_string(&self.witness).unwrap_or_default();
        self.closed.push((id.to_owned(), witness));
    }
}

fn setup(dir: &Path) {
    fs::create_dir_all(dir.join("pam.d")).unwrap();
    let script = dir.join("witness.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$PAM_TYPE $PPID\" >> {}\n",
            dir.join("pam.log").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        dir.join("pam.d/vestibule"),
        format!(
            "auth required pam_permit.so\naccount required pam_permit.so\n\
             session required pam_exec.so {}\n",
            script.display()
        ),
    )
    .unwrap();
}

fn run_once(dir: &Path, me: &str, fail: bool) -> (SessionEnd, Probe) {
    let _ = fs::remove_file(dir.join("pam.log"));
    let options = LoginOptions {
        config: ConfigDir::Override(dir.join("pam.d")),
        items: Items {
            user: Some(me.to_owned()),
            tty: Some("tty63".into()),
            ..Items::default()
        },
        max_tries: 1,
        fail_delay: Duration::ZERO,
        log: AuthLog::new("vestibule-test"),
        notice_after_last_try: true,
    };
    let conversation = Scripted {
        user: me.to_owned(),
        secret: Secret::new(),
    };
    let session = login(Service::Login, &options, Box::new(conversation)).expect("login on pam_permit");
    let spec = SessionSpec {
        command: SessionCommand::Program(vec!["sh".into(), "-c".into(), "exit 3".into()]),
        terminal: TerminalMode::Detached,
        ..SessionSpec::default()
    };
    let mut probe = Probe {
        witness: dir.join("pam.log"),
        fail,
        opened: Vec::new(),
        thread_blocks_sigterm: Vec::new(),
        closed: Vec::new(),
    };
    let report = session.run_tracked(&spec, &mut probe).expect("session runs");
    assert_eq!(report.closed, Ok(()));
    (report.end, probe)
}

fn main() {
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .expect("this uid has a passwd entry")
        .name;
    let dir = std::env::temp_dir().join(format!("vestibule-core-tracker.{}", std::process::id()));
    setup(&dir);
    let ours = std::process::id();

    // A tracker that registers the session.
    let (end, probe) = run_once(&dir, &me, false);
    assert_eq!(end, SessionEnd::Exited(3));
    assert_eq!(probe.opened.len(), 1);
    let r = &probe.opened[0];
    assert_eq!(r.id, "");
    assert_eq!(r.user, me);
    assert_eq!(r.uid, nix::unistd::geteuid().as_raw());
    assert_eq!(r.tty.as_deref(), Some("tty63"));
    assert_eq!((r.display.as_deref(), r.remote_host.as_deref()), (None, None));
    assert_eq!(r.service, "vestibule");
    assert_eq!((r.class, r.state), (SessionClass::User, SessionState::Active));
    assert_eq!(r.supervisor, ours);
    assert!(
        r.leader != ours && r.leader != 0,
        "leader = the session's child: {r:?}"
    );
    assert!(r.since > 1_600_000_000);
    assert_eq!(
        probe.thread_blocks_sigterm,
        [true],
        "a thread started in opened() must inherit the blocked SIGTERM"
    );
    assert_eq!(probe.closed.len(), 1, "closed() once");
    let (id, witness) = &probe.closed[0];
    assert_eq!(id, "7");
    assert_eq!(
        witness.lines().collect::<Vec<_>>(),
        [format!("open_session {ours}"), format!("close_session {ours}")],
        "closed() comes after pam_close_session, which this process ran"
    );
    println!("tracker: a tracked session is registered after the fork and unregistered after PAM closed: ok");

    // A tracker that fails: the login is unchanged, and nothing is unregistered.
    let (end, probe) = run_once(&dir, &me, true);
    assert_eq!(end, SessionEnd::Exited(3));
    assert_eq!(probe.opened.len(), 1);
    assert!(probe.closed.is_empty(), "{:?}", probe.closed);
    let witness = fs::read_to_string(dir.join("pam.log")).unwrap();
    assert_eq!(witness.lines().count(), 2, "{witness}");
    println!("tracker: a failing tracker does not stop the login: ok");

    // The caller's mask is given back.
    let mask = SigSet::thread_get_mask().unwrap();
    assert!(!mask.contains(Signal::SIGTERM) && !mask.contains(Signal::SIGCHLD));
    println!("tracker: the signal mask is restored: ok");

    let _ = fs::remove_dir_all(&dir);
}
