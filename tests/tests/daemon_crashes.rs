//! `vestibuled` when a part of it dies: a greeter SIGKILLed mid-conversation (a new greeter comes
//! back, nothing of the login is left open), a worker SIGKILLed mid-session (the session agent
//! on a private dbus-daemon closes the PAM session, exactly once), and the daemon SIGKILLed
//! mid-session (the running session's PAM session is still closed when it ends). The record.py
//! witness in the login's stack says what PAM saw. Real parts: agreety, pam_unix accounts in the
//! sandbox, the real agent and dbus-daemon, tmux.

use std::time::Duration;

use nix::sys::signal::Signal;
use vestibule_e2e::daemon::*;
use vestibule_e2e::*;

/// The witness's lines for `function` and `user`.
fn records(work: &Work, function: &str, user: &str) -> Vec<Record> {
    work.record()
        .into_iter()
        .filter(|r| r.function == function && r.user == user)
        .collect()
}

#[test]
fn a_greeter_killed_mid_conversation_is_replaced_and_leaves_nothing_open() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "kill-greeter", Setup::agreety(&work));
    let g1 = d.agreety_login_prompt(1);
    d.tmux.line("alice");
    d.wait_screen("Password:");
    signal(g1.pid, Signal::SIGKILL);

    let g2 = d.agreety_login_prompt(2);
    d.assert_unprivileged(&g2);
    d.wait_until("the end of the abandoned login's worker", || {
        d.login_workers().is_empty().then_some(())
    });
    assert!(
        records(&work, "open_session", "alice").is_empty(),
        "{:?}",
        work.record()
    );
    // The first greeter's own PAM session was closed.
    let greeter_log = work.read("greeter-record.log");
    let opened = greeter_log
        .lines()
        .filter(|l| l.starts_with("open_session "))
        .count();
    let closed = greeter_log
        .lines()
        .filter(|l| l.starts_with("close_session "))
        .count();
    assert_eq!((opened, closed), (2, 1), "greeter sessions:\n{greeter_log}");

    // The daemon is fine: erin logs in through the new greeter.
    d.tmux.line("erin");
    d.wait_screen("Password:");
    d.tmux.line("erin-pw-1");
    assert_eq!(d.session("erin").get("user"), "erin");
    d.end_session("erin");
}

#[test]
fn a_worker_killed_mid_session_has_its_pam_session_closed_by_the_agent() {
    let work = Work::new();
    let bus = PrivateBus::start(&work);
    let mut setup = Setup::agreety(&work);
    setup.agent_bus = Some(bus.address.clone());
    let d = Vestibuled::start(&work, "kill-worker", setup);
    let _agent = SandboxAgent::start(&d, &bus);
    let client = bus.client();

    d.agreety_login(1, "alice", "alice-pw-1");
    let s = d.session("alice");
    let listed = d.wait_until("alice's session listed by the agent", || {
        client.list().ok()?.into_iter().find(|x| x.user == "alice")
    });
    let workers = d.login_workers();
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(
        listed.supervisor, workers[0],
        "the agent's supervisor is not the worker: {listed:?}"
    );
    assert!(records(&work, "close_session", "alice").is_empty());

    signal(workers[0], Signal::SIGKILL);
    let closed = d.wait_until("alice's PAM session closed after her worker died", || {
        let r = records(&work, "close_session", "alice");
        (!r.is_empty()).then_some(r)
    });
    assert_ne!(closed[0].pid, workers[0], "closed by the dead worker?");
    d.wait_until("alice's session gone from the agent", || {
        client.list().ok().filter(|l| l.iter().all(|x| x.user != "alice"))
    });
    // The session itself is ended with it, and a greeter comes back on the terminal.
    d.wait_until("the end of alice's session process", || {
        (!alive(s.pid())).then_some(())
    });
    d.agreety_login_prompt(2);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        records(&work, "close_session", "alice").len(),
        1,
        "{:?}",
        work.record()
    );
    assert!(d.running());
}

#[test]
fn a_daemon_killed_mid_session_still_closes_the_pam_session_when_it_ends() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "kill-daemon", Setup::agreety(&work));
    d.agreety_login(1, "alice", "alice-pw-1");
    let s = d.session("alice");
    let daemon = d.pid();
    signal(daemon, Signal::SIGKILL);
    d.wait_until("the daemon's death", || (!alive(daemon)).then_some(()));
    // The session goes on; its PAM session is open until it ends.
    assert!(alive(s.pid()), "alice's session died with the daemon");
    assert!(
        records(&work, "close_session", "alice").is_empty(),
        "{:?}",
        work.record()
    );

    d.end_session("alice");
    d.wait_until("alice's PAM session closed after her session ended", || {
        (!records(&work, "close_session", "alice").is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        records(&work, "close_session", "alice").len(),
        1,
        "{:?}",
        work.record()
    );
}
