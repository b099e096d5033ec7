//! `vestibuled` end to end with greetd greeters nobody here wrote: Debian's agreety and tuigreet
//! 0.10.2 log alice in through the daemon, on the terminal of a tmux pane (`vt = "current"`), in
//! the root sandbox with real accounts (pam_unix, pam_limits, pam_loginuid, record.py). What a
//! user and an admin would notice: the session runs as alice on that terminal (its own session,
//! the terminal hers, 0620), `who` lists it, `last` shows its login and logout, its runtime
//! directory lives as long as it, and a new greeter comes back when it ends. One login runs on a
//! free Linux VT instead (`vt = N`, `switch = false`: the console is never switched to it).

use std::os::unix::fs::MetadataExt;

use vestibule_e2e::daemon::*;
use vestibule_e2e::*;

/// The pane's terminal (`/dev/pts/N`).
fn pane_tty(d: &Vestibuled) -> String {
    let out = d
        .tmux
        .command()
        .args(["display-message", "-p", "#{pane_tty}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// What every greeter must look like: the greeter user (never root), the protocol announced, a
/// socket under the daemon's runtime dir, on the pane's terminal.
fn assert_greeter(d: &Vestibuled, g: &GreeterInfo) {
    d.assert_unprivileged(g);
    assert_eq!(g.proto, "1", "VESTIBULE_GREETER_PROTOCOL: {g:?}");
    let runtime = d.work.path().join("daemon-run").display().to_string();
    assert!(
        g.sock.starts_with(&format!("{runtime}/greeter-")),
        "GREETD_SOCK {} is not under {runtime}/greeter-<tty>/",
        g.sock
    );
    assert_eq!(g.tty, pane_tty(d), "{g:?}");
}

/// What alice's session must look like from inside.
fn assert_alice_session(d: &Vestibuled, s: &SessionInfo) {
    let tty = pane_tty(d);
    let uid = d.uid("alice");
    assert_eq!(s.get("user"), "alice", "{s:?}");
    assert_eq!(s.get("tty"), tty, "{s:?}");
    assert_eq!(
        s.get("sid"),
        s.get("pid"),
        "the session is not a session leader: {s:?}"
    );
    for fd in ["fd0", "fd1", "fd2"] {
        assert_eq!(s.get(fd), tty, "{fd} of the session: {s:?}");
    }
    assert_eq!(s.get("tty_stat"), "alice tty 620", "{s:?}");
    assert_eq!(s.get("runtime"), format!("/run/user/{uid}"), "{s:?}");
    assert_eq!(s.get("runtime_stat"), "alice 700", "{s:?}");
    assert_eq!(s.get("XDG_SESSION_TYPE"), "tty", "{s:?}");
    assert_eq!(s.get("XDG_SESSION_CLASS"), "user", "{s:?}");
    assert!(
        s.get("GREETD_SOCK").is_empty(),
        "the session got the greeter's socket: {s:?}"
    );
    assert_eq!(s.get("loginuid"), uid.to_string(), "{s:?}");
}

#[test]
fn agreety_logs_alice_in_through_vestibuled_and_a_new_greeter_follows() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "agreety", Setup::agreety(&work));
    let g = d.agreety_login(1, "alice", "alice-pw-1");
    assert_greeter(&d, &g);
    let s = d.session("alice");
    assert_alice_session(&d, &s);
    d.wait_screen("SESSION RUNNING AS alice");
    // The greeter exited before the session started (greetd's order).
    assert!(!alive(g.pid), "greeter {} still runs during the session", g.pid);

    d.end_session("alice");
    let g2 = d.agreety_login_prompt(2);
    assert_greeter(&d, &g2);
    let meta = std::fs::metadata(pane_tty(&d)).unwrap();
    assert_ne!(meta.uid(), d.uid("alice"), "the terminal still belongs to alice");
    let records = work.record();
    let alice = |f: &str| {
        records
            .iter()
            .filter(|r| r.function == f && r.user == "alice")
            .count()
    };
    assert_eq!(
        (
            alice("authenticate"),
            alice("open_session"),
            alice("close_session")
        ),
        (1, 1, 1),
        "{records:?}"
    );
    assert!(d.running());
}

#[test]
fn a_wrong_password_gets_login_incorrect_and_the_next_try_logs_in() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "agreety-wrong", Setup::agreety(&work));
    d.agreety_login(1, "alice", "not-her-password");
    d.wait_screen("Login incorrect");
    // agreety asks again in the same greeter, having said it once.
    let screen = d.wait_until("a second login prompt", || {
        let s = d.tmux.screen();
        (s.matches("login:").count() >= 2).then_some(s)
    });
    assert_eq!(screen.matches("Login incorrect").count(), 1, "{screen}");
    d.tmux.line("alice");
    d.wait_until("a second password prompt", || {
        (d.tmux.screen().matches("Password:").count() >= 2).then_some(())
    });
    d.tmux.line("alice-pw-1");
    let s = d.session("alice");
    assert_eq!(s.get("user"), "alice");
    assert_eq!(count(&work.record(), "open_session"), 1);
}

#[test]
fn tuigreet_logs_alice_in_through_vestibuled() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "tuigreet", Setup::tuigreet(&work));
    let g = d.wait_greeter(1);
    assert_greeter(&d, &g);
    d.wait_screen("Username:");
    d.tmux.line("alice");
    d.wait_screen("Password:");
    d.tmux.line("alice-pw-1");
    let s = d.session("alice");
    assert_alice_session(&d, &s);
    d.wait_screen("SESSION RUNNING AS alice");
    d.end_session("alice");
    let g2 = d.wait_greeter(2);
    assert_greeter(&d, &g2);
    d.wait_screen("Username:");
    let records = work.record();
    assert_eq!(
        (count(&records, "open_session"), count(&records, "close_session")),
        (1, 1),
        "{records:?}"
    );
}

#[test]
fn who_and_last_show_the_session_and_its_runtime_dir_lives_as_long_as_it() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "records", Setup::agreety(&work));
    let uid = d.uid("alice");
    let line = pane_tty(&d).trim_start_matches("/dev/").to_owned();
    let runtime = format!("/run/user/{uid}");
    d.agreety_login(1, "alice", "alice-pw-1");
    let s = d.session("alice");
    assert_eq!(s.get("runtime_stat"), "alice 700", "{s:?}");

    let who = d.ns(&["who"]);
    assert!(
        who.stdout
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["alice", line.as_str()])),
        "who does not list alice on {line}:\n{}",
        who.all()
    );
    let last = d.ns(&["last", "-f", "/var/log/wtmp"]);
    assert!(
        last.stdout
            .lines()
            .any(|l| l.starts_with("alice ") && l.contains(&line) && l.contains("still logged in")),
        "last does not show alice's running session on {line}:\n{}",
        last.all()
    );
    let stat = d.ns(&["stat", "-c", "%U %a", &runtime]);
    assert_eq!(stat.stdout.trim(), "alice 700", "{}", stat.all());

    d.end_session("alice");
    d.agreety_login_prompt(2);
    let who = d.ns(&["who"]);
    assert!(
        !who.stdout.contains("alice"),
        "who still lists alice after her session ended:\n{}",
        who.all()
    );
    let last = d.ns(&["last", "-f", "/var/log/wtmp"]);
    let alice: Vec<&str> = last.stdout.lines().filter(|l| l.starts_with("alice ")).collect();
    assert_eq!(alice.len(), 1, "one login of alice in wtmp:\n{}", last.all());
    assert!(
        alice[0].contains(&line) && !alice[0].contains("still logged in") && !alice[0].contains("gone"),
        "last shows no logout of alice:\n{}",
        last.all()
    );
    d.wait_until("the removal of alice's runtime dir", || {
        (!d.ns(&["test", "-e", &runtime]).status.success()).then_some(())
    });
}

#[test]
fn agreety_logs_alice_in_on_a_free_virtual_terminal() {
    let vt = vestibule_e2e::vt::Vt::free();
    let work = Work::new();
    let mut setup = Setup::agreety(&work);
    setup.vt = Some(vt.number);
    let d = Vestibuled::start(&work, "vt", setup);
    let g = d.wait_greeter(1);
    assert_eq!(g.tty, vt.path(), "{g:?}");
    d.assert_unprivileged(&g);
    vt.wait_for("GREETER-1", STEP);
    vt.wait_for("login:", STEP);
    vt.line("alice");
    vt.wait_for("Password:", STEP);
    vt.line("alice-pw-1");
    let s = d.session("alice");
    assert_eq!(
        (s.get("user"), s.get("tty")),
        ("alice", vt.path().as_str()),
        "{s:?}"
    );
    assert_eq!(
        s.get("sid"),
        s.get("pid"),
        "the session is not a session leader: {s:?}"
    );
    for fd in ["fd0", "fd1", "fd2"] {
        assert_eq!(s.get(fd), vt.path(), "{fd} of the session: {s:?}");
    }
    assert_eq!(s.get("tty_stat"), "alice tty 620", "{s:?}");
    assert_eq!(s.get("XDG_VTNR"), vt.number.to_string(), "{s:?}");
    vt.wait_for("SESSION RUNNING AS alice", STEP);
    d.end_session("alice");
    let g2 = d.wait_greeter(2);
    assert_eq!(g2.tty, vt.path());
    vt.wait_for("GREETER-2", STEP);
    let meta = std::fs::metadata(vt.path()).unwrap();
    assert_ne!(meta.uid(), d.uid("alice"), "the VT still belongs to alice");
}
