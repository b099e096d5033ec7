//! `vestibuled` keeps one login from reaching into the next: the terminal is revoked before every
//! greeter, so a process alice's session left behind (it ignores SIGHUP, keeps the terminal open
//! and reads it) never sees erin's name or password; and each login's PAM transaction runs in a
//! fresh `vestibule-worker`, so what session modules do to their process (pam_limits' nofile 64
//! for alice, pam_loginuid's loginuid) stays with that login, never on the daemon or erin.
//! Real parts: agreety, pam_unix accounts in the sandbox, pam_limits, pam_loginuid, tmux.

use std::fs;

use vestibule_e2e::daemon::*;
use vestibule_e2e::*;

#[test]
fn a_process_left_behind_by_a_session_never_reads_the_next_login() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "linger", Setup::agreety(&work));
    fs::write(work.path().join("linger.alice"), "").unwrap();
    d.agreety_login(1, "alice", "alice-pw-1");
    d.session("alice");
    let linger: u32 = d
        .wait_file("linger.pid", "the left-behind process")
        .trim()
        .parse()
        .unwrap();
    let _guard = KillOnDrop(linger);
    // It really reads the terminal: a line typed during alice's session reaches it.
    d.tmux.line("typed-during-alices-session");
    d.wait_until("the left-behind process reading the terminal", || {
        work.read("linger.log")
            .contains("typed-during-alices-session")
            .then_some(())
    });

    d.end_session("alice");
    d.agreety_login(2, "erin", "erin-pw-1");
    let s = d.session("erin");
    assert_eq!(s.get("user"), "erin");
    assert!(
        alive(linger),
        "the left-behind process {linger} is gone: this test needs it running to prove the terminal was revoked"
    );
    let seen = work.read("linger.log");
    assert!(
        !seen.contains("erin"),
        "alice's left-behind process read the next user's name or password: {seen:?}"
    );
    d.end_session("erin");
}

#[test]
fn pam_limits_and_loginuid_stay_with_each_login_in_a_worker_of_its_own() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "isolation", Setup::agreety(&work));
    let daemon = d.pid();
    let limits = nofile_limit(daemon);
    let daemon_loginuid = loginuid(daemon);
    assert!(limits.starts_with("Max open files"), "{limits:?}");

    let g1 = d.agreety_login(1, "alice", "alice-pw-1");
    d.assert_unprivileged(&g1);
    let alice = d.session("alice");
    assert_eq!(
        alice.get("nofile"),
        "64",
        "pam_limits did not reach alice's session: {alice:?}"
    );
    assert_eq!(alice.get("loginuid"), d.uid("alice").to_string(), "{alice:?}");
    let w1 = d.login_workers();
    assert_eq!(w1.len(), 1, "one worker for alice's login: {w1:?}");
    assert_eq!(nofile_limit(daemon), limits, "pam_limits changed the daemon");
    assert_eq!(
        loginuid(daemon),
        daemon_loginuid,
        "pam_loginuid changed the daemon"
    );
    d.end_session("alice");

    let g2 = d.agreety_login(2, "erin", "erin-pw-1");
    d.assert_unprivileged(&g2);
    let erin = d.session("erin");
    assert_ne!(
        erin.get("nofile"),
        "64",
        "alice's limit reached erin's session: {erin:?}"
    );
    assert_eq!(erin.get("loginuid"), d.uid("erin").to_string(), "{erin:?}");
    let w2 = d.login_workers();
    assert_eq!(w2.len(), 1, "one worker for erin's login: {w2:?}");
    assert_ne!(w1, w2, "erin's login ran in alice's worker");
    assert!(!alive(w1[0]), "alice's worker {} outlived her session", w1[0]);
    assert_eq!(nofile_limit(daemon), limits, "pam_limits changed the daemon");
    assert_eq!(
        loginuid(daemon),
        daemon_loginuid,
        "pam_loginuid changed the daemon"
    );
    d.end_session("erin");
    d.wait_until("no worker after the last session", || {
        d.login_workers().is_empty().then_some(())
    });
}
