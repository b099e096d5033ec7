//! A first smoke test of `vestibuled`: Debian's agreety logs alice in through the daemon in the
//! root sandbox, on a tmux pane's terminal, and a fresh greeter follows when her session ends.
//! (The full suite is daemon_login.rs and its siblings.) tmux trims trailing blanks from a
//! captured screen, so agreety's `HOST login: ` prompt is waited for as `login:`.

use std::os::unix::fs::MetadataExt;

use vestibule_e2e::daemon::*;

#[test]
fn agreety_logs_alice_in_through_vestibuled() {
    let work = vestibule_e2e::Work::new();
    let d = Vestibuled::start(&work, "smoke", Setup::agreety(&work));
    let g = d.wait_greeter(1);
    d.assert_unprivileged(&g);
    d.wait_screen("login:");
    d.tmux.line("alice");
    d.wait_screen("Password:");
    d.tmux.line("alice-pw-1");
    let s = d.session("alice");
    assert_eq!(s.get("user"), "alice", "{s:?}");
    assert_eq!(s.get("sid"), s.get("pid"), "not a session leader: {s:?}");
    assert_eq!(s.get("tty_stat"), "alice tty 620", "{s:?}");
    assert_eq!(s.get("fd0"), s.get("tty"), "{s:?}");
    assert!(s.get("GREETD_SOCK").is_empty(), "{s:?}");
    d.wait_screen("SESSION RUNNING AS alice");
    assert!(!alive(g.pid), "the greeter still runs during the session");
    let who = d.ns(&["who"]);
    assert!(who.stdout.contains("alice"), "who: {}", who.all());

    d.end_session("alice");
    let g2 = d.wait_greeter(2);
    assert_ne!(g2.pid, g.pid);
    d.wait_screen("login:");
    let tty = std::fs::metadata(s.get("tty")).unwrap();
    assert_eq!(tty.uid(), 0, "the terminal was not taken back from alice");
    assert!(d.running());
}

/// The `n`th greeter (agreety) is up and asks for the user name; then `user` logs in.
fn login(d: &Vestibuled, n: usize, user: &str, password: &str) -> GreeterInfo {
    let g = d.wait_greeter(n);
    d.wait_screen("login:");
    d.tmux.line(user);
    d.wait_screen("Password:");
    d.tmux.line(password);
    g
}

#[test]
fn a_left_behind_reader_never_sees_the_next_login_and_records_follow_the_session() {
    let work = vestibule_e2e::Work::new();
    // Two users' sessions append to one sessions.log (session.sh): writable for both.
    let log = work.path().join("sessions.log");
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let d = Vestibuled::start(&work, "smoke-linger", Setup::agreety(&work));
    std::fs::write(work.path().join("linger.alice"), "").unwrap();
    login(&d, 1, "alice", "alice-pw-1");
    let s = d.session("alice");
    let uid = d.uid("alice");
    assert_eq!(s.get("runtime"), format!("/run/user/{uid}"), "{s:?}");
    assert_eq!(s.get("runtime_stat"), "alice 700", "{s:?}");
    let linger: u32 = d
        .wait_file("linger.pid", "the left-behind process")
        .trim()
        .parse()
        .unwrap();
    let _guard = KillOnDrop(linger);
    d.tmux.line("typed-during-alices-session");
    d.wait_until("the left-behind process reading the terminal", || {
        work.read("linger.log")
            .contains("typed-during-alices-session")
            .then_some(())
    });
    d.end_session("alice");
    login(&d, 2, "erin", "erin-pw-1");
    assert_eq!(d.session("erin").get("user"), "erin");
    assert!(
        alive(linger),
        "the left-behind process must still run for this test to mean anything"
    );
    let seen = work.read("linger.log");
    assert!(
        !seen.contains("erin"),
        "the left-behind process read the next login: {seen:?}"
    );
    d.end_session("erin");
    d.wait_greeter(3);
    let last = d.ns(&["last", "-f", "/var/log/wtmp"]);
    assert!(
        last.stdout
            .lines()
            .any(|l| l.starts_with("alice") && !l.contains("still logged in")),
        "last: {}",
        last.all()
    );
    let gone = d.ns(&["test", "-e", &format!("/run/user/{uid}")]);
    assert!(
        !gone.status.success(),
        "alice's runtime directory outlived her session"
    );
}

#[test]
fn a_killed_daemon_leaves_the_session_running_and_its_pam_session_is_closed_at_its_end() {
    let work = vestibule_e2e::Work::new();
    let d = Vestibuled::start(&work, "smoke-kill", Setup::agreety(&work));
    login(&d, 1, "alice", "alice-pw-1");
    let s = d.session("alice");
    let daemon = d.pid();
    signal(daemon, nix::sys::signal::Signal::SIGKILL);
    // (The pane's shell cannot say so: the daemon revoked the terminal it had.)
    d.wait_until("the daemon's death", || (!alive(daemon)).then_some(()));
    assert!(alive(s.pid()), "the session died with the daemon");
    let closes = || {
        work.record()
            .iter()
            .filter(|r| r.function == "close_session" && r.user == "alice")
            .count()
    };
    assert_eq!(closes(), 0);
    d.end_session("alice");
    d.wait_until("alice's PAM session closed", || (closes() == 1).then_some(()));
}

#[test]
fn a_greeter_killed_mid_conversation_takes_its_login_with_it() {
    let work = vestibule_e2e::Work::new();
    let d = Vestibuled::start(&work, "smoke-kill-greeter", Setup::agreety(&work));
    let g1 = d.wait_greeter(1);
    d.wait_screen("login:");
    d.tmux.line("alice");
    d.wait_screen("Password:");
    // The greeter's worker and alice's login worker.
    d.wait_until("two workers", || (d.workers().len() == 2).then_some(()));
    signal(g1.pid, nix::sys::signal::Signal::SIGKILL);
    let g2 = d.wait_greeter(2);
    d.wait_screen("login:");
    // Only the new greeter's worker is left: the abandoned login's worker is gone.
    d.wait_until("the abandoned login's worker gone", || {
        (d.workers().len() == 1).then_some(())
    });
    let opened = work
        .record()
        .iter()
        .filter(|r| r.function == "open_session")
        .count();
    assert_eq!(opened, 0, "{:?}", work.record());
    let greeter_log = work.read("greeter-record.log");
    let count = |f: &str| greeter_log.lines().filter(|l| l.starts_with(f)).count();
    assert_eq!(
        (count("open_session "), count("close_session ")),
        (2, 1),
        "{greeter_log}"
    );
    d.tmux.line("erin");
    d.wait_screen("Password:");
    d.tmux.line("erin-pw-1");
    assert_eq!(d.session("erin").get("user"), "erin");
    assert_ne!(g2.pid, g1.pid);
}

#[test]
fn a_worker_killed_mid_session_is_closed_by_the_agent_and_a_greeter_follows() {
    let work = vestibule_e2e::Work::new();
    let bus = vestibule_e2e::PrivateBus::start(&work);
    let mut setup = Setup::agreety(&work);
    setup.agent_bus = Some(bus.address.clone());
    let d = Vestibuled::start(&work, "smoke-kill-worker", setup);
    let _agent = SandboxAgent::start(&d, &bus);
    let client = bus.client();
    login(&d, 1, "alice", "alice-pw-1");
    let s = d.session("alice");
    let listed = d.wait_until("alice's session listed by the agent", || {
        client.list().ok()?.into_iter().find(|x| x.user == "alice")
    });
    let workers = d.login_workers();
    assert_eq!(
        workers,
        vec![listed.supervisor],
        "the agent's supervisor is the login worker"
    );
    let closes = || {
        work.record()
            .into_iter()
            .filter(|r| r.function == "close_session" && r.user == "alice")
            .collect::<Vec<_>>()
    };
    assert!(closes().is_empty());
    signal(workers[0], nix::sys::signal::Signal::SIGKILL);
    let closed = d.wait_until("alice's PAM session closed by the agent", || {
        let c = closes();
        (!c.is_empty()).then_some(c)
    });
    assert_ne!(closed[0].pid, workers[0]);
    d.wait_until("the end of alice's session", || (!alive(s.pid())).then_some(()));
    d.wait_greeter(2);
    d.wait_screen("login:");
}

#[test]
fn pam_limits_and_loginuid_stay_with_the_login_in_its_own_worker() {
    let work = vestibule_e2e::Work::new();
    let log = work.path().join("sessions.log");
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let d = Vestibuled::start(&work, "smoke-limits", Setup::agreety(&work));
    let daemon = d.pid();
    let (limits, daemon_loginuid) = (nofile_limit(daemon), loginuid(daemon));
    login(&d, 1, "alice", "alice-pw-1");
    let alice = d.session("alice");
    assert_eq!(alice.get("nofile"), "64", "{alice:?}");
    assert_eq!(alice.get("loginuid"), d.uid("alice").to_string(), "{alice:?}");
    let w1 = d.login_workers();
    assert_eq!(
        (nofile_limit(daemon), loginuid(daemon)),
        (limits.clone(), daemon_loginuid.clone())
    );
    d.end_session("alice");
    login(&d, 2, "erin", "erin-pw-1");
    let erin = d.session("erin");
    assert_ne!(erin.get("nofile"), "64", "{erin:?}");
    assert_eq!(erin.get("loginuid"), d.uid("erin").to_string(), "{erin:?}");
    let w2 = d.login_workers();
    assert!(w1.len() == 1 && w2.len() == 1 && w1 != w2, "{w1:?} {w2:?}");
    assert_eq!(
        (nofile_limit(daemon), loginuid(daemon)),
        (limits, daemon_loginuid)
    );
    d.end_session("erin");
}

#[test]
fn sigterm_ends_the_session_closes_pam_and_stops_the_daemon() {
    let work = vestibule_e2e::Work::new();
    let d = Vestibuled::start(&work, "smoke-sigterm", Setup::agreety(&work));
    login(&d, 1, "alice", "alice-pw-1");
    let s = d.session("alice");
    let daemon = d.pid();
    signal(daemon, nix::sys::signal::Signal::SIGTERM);
    d.wait_until("the daemon's exit", || (!alive(daemon)).then_some(()));
    assert!(!alive(s.pid()), "alice's session outlived the daemon's SIGTERM");
    let closed = work
        .record()
        .iter()
        .filter(|r| r.function == "close_session" && r.user == "alice")
        .count();
    assert_eq!(closed, 1, "{:?}", work.record());
    assert!(d.workers().is_empty(), "workers left: {:?}", d.workers());
    assert!(
        work.read("daemon.log").contains("vestibuled stopped"),
        "{}",
        d.diagnostics()
    );
}

/// Waits up to 30 s for `f` to give a value; panics with `what` and the daemon's log.
fn wait<T>(work: &vestibule_e2e::Work, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < STEP,
            "{what}: not within {STEP:?}\n{}",
            work.read("daemon.log")
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// Starts vestibuled with `[initial_session]` for `user` added to the harness's configuration,
/// in a tmux pane of its own; returns the pane (killed when dropped) and the daemon's pid.
fn start_with_autologin(
    work: &vestibule_e2e::Work,
    name: &str,
    user: &str,
) -> (vestibule_e2e::tmux::Tmux, u32) {
    use vestibule_e2e::tmux::{quote, Tmux};
    let dir = work.path();
    for f in ["daemon.pid", "sandbox.pid"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    // The harness renders the PAM services, the session command and the configuration; its
    // daemon is stopped at once, and another one runs with autologin added.
    let probe = Vestibuled::start(work, &format!("{name}-setup"), Setup::agreety(work));
    let pid = probe.pid();
    signal(pid, nix::sys::signal::Signal::SIGTERM);
    probe.wait_until("the set-up daemon's exit", || (!alive(pid)).then_some(()));
    drop(probe);
    for f in ["daemon.pid", "sandbox.pid", "greeters.log"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let mut config = std::fs::read_to_string(dir.join("vestibuled.toml")).unwrap();
    let session = session_command(work).display().to_string();
    config.push_str(&format!(
        "\n[initial_session]\ncommand = \"{session}\"\nuser = \"{user}\"\n"
    ));
    std::fs::write(dir.join("vestibuled2.toml"), config).unwrap();
    let daemon = [
        vestibule_e2e::binary("vestibuled").display().to_string(),
        "--config".into(),
        dir.join("vestibuled2.toml").display().to_string(),
        "--pam-confdir".into(),
        work.pam_dir().display().to_string(),
        "--worker".into(),
        vestibule_e2e::binary("vestibule-worker").display().to_string(),
        "--runtime-dir".into(),
        dir.join("daemon-run").display().to_string(),
    ];
    let d = |f: &str| quote(&dir.join(f).display().to_string());
    let script = format!(
        "VESTIBULE_LOG=debug {run} {work} sh -c 'echo $$ >\"$1\"; shift; exec \"$@\"' \
         sh {pid} {daemon} 2>>{log}; sleep 600",
        run = quote(
            &vestibule_e2e::tests_dir()
                .join("sandbox/run.sh")
                .display()
                .to_string()
        ),
        work = quote(&dir.display().to_string()),
        pid = d("daemon.pid"),
        daemon = daemon.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "),
        log = d("daemon.log"),
    );
    let tmux = Tmux::start(name, (100, 30), &script);
    let pid = wait(work, "the daemon's pid", || {
        work.read("daemon.pid").trim().parse().ok()
    });
    (tmux, pid)
}

#[test]
fn the_initial_session_logs_in_without_a_greeter_and_only_once() {
    let work = vestibule_e2e::Work::new();
    let session = |work: &vestibule_e2e::Work| {
        let text = wait(work, "alice's session", || {
            Some(work.read("session.alice")).filter(|t| !t.is_empty())
        });
        let _ = std::fs::remove_file(work.path().join("session.alice"));
        text
    };
    let (tmux, daemon) = start_with_autologin(&work, "smoke-autologin", "alice");
    let s = session(&work);
    assert!(
        s.contains("user=alice\n") && s.contains("tty_stat=alice tty 620\n"),
        "{s}"
    );
    assert!(
        work.read("greeters.log").is_empty(),
        "a greeter ran before the initial session"
    );
    let autologin = work.read("autologin-record.log");
    assert!(
        autologin.lines().any(|l| l.starts_with("open_session ")),
        "{autologin}"
    );
    assert!(
        !autologin.lines().any(|l| l.starts_with("authenticate ")),
        "{autologin}"
    );
    // Its end brings the greeter, as after any session.
    std::fs::write(work.path().join("end.alice"), "").unwrap();
    wait(&work, "the greeter after the initial session", || {
        tmux.screen().contains("login:").then_some(())
    });
    signal(daemon, nix::sys::signal::Signal::SIGKILL);
    wait(&work, "the daemon's death", || (!alive(daemon)).then_some(()));
    drop(tmux);
    // A daemon started again (same boot: the runfile is there) shows the greeter only.
    assert!(work.path().join("vestibuled.run").exists(), "no runfile");
    let (tmux, daemon) = start_with_autologin(&work, "smoke-autologin-2", "alice");
    wait(&work, "the greeter", || {
        tmux.screen().contains("login:").then_some(())
    });
    assert!(
        !work.path().join("session.alice").exists(),
        "the initial session ran twice"
    );
    let opened = work
        .read("autologin-record.log")
        .lines()
        .filter(|l| l.starts_with("open_session "))
        .count();
    assert_eq!(opened, 1);
    signal(daemon, nix::sys::signal::Signal::SIGTERM);
}
