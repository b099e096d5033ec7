//! vestibule-tui as vestibuled's greeter: the daemon offers the extension
//! (`VESTIBULE_GREETER_PROTOCOL`), so the greeter gets whole conversation calls, the fail delay,
//! the core's sentences and several attempts in one login — what greetd's plain protocol (see
//! `tui_greeter.rs`) cannot carry. Real accounts through pam_unix in the sandbox
//! (`tests/pam.d/daemon-unix`), on a tmux pane's terminal (`vt = "current"`); the harness is
//! `vestibule_e2e::daemon`.

use vestibule_e2e::daemon::*;
use vestibule_e2e::*;

/// vestibule-tui with a config in the work dir (`extra` under `[greeter]`), offering the tests'
/// session command (WORK/session, tests/fixtures/daemon/session.sh) first.
fn tui(work: &Work, extra: &str) -> Setup {
    let d = work.path().display();
    std::fs::write(
        work.path().join("config.toml"),
        format!(
            "[greeter]\nissue_file = \"\"\nstate_file = \"{d}/tui-state\"\nclock_format = \"%H:%M\"\n{extra}\n"
        ),
    )
    .unwrap();
    Setup::greeter(format!(
        "{} --config {d}/config.toml -- {}",
        binary("vestibule-tui").display(),
        session_command(work).display()
    ))
}

/// Waits for greeter `n` to show its card; returns its line from greeters.log.
fn card(d: &Vestibuled, n: usize) -> GreeterInfo {
    let g = d.wait_greeter(n);
    d.wait_screen("login: ");
    g
}

/// Counts of one PAM function in record.py's log.
fn calls(work: &Work, function: &str) -> usize {
    count(&work.record(), function)
}

#[test]
fn vestibule_tui_logs_in_through_vestibuled_with_the_extension() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "tui-ext", tui(&work, ""));
    let g = card(&d, 1);
    assert_eq!(g.proto, "1", "the extension is offered: {g:?}");
    d.assert_unprivileged(&g);
    d.tmux.line("alice");
    d.wait_screen("Password: ");
    d.tmux.line("wrong-one");
    // The same login asks again (the extension keeps the daemon's max_tries): PAM's prompt
    // under the core's words, the name still on the card, no new attempt from the user field.
    let s = d.wait_until("a second Password: prompt after Login incorrect", || {
        let s = d.tmux.screen();
        let after = s.split("Login incorrect").nth(1)?;
        after.contains("Password: ").then_some(s)
    });
    assert!(s.contains("login: alice"), "{s}");
    assert_eq!(calls(&work, "authenticate"), 1, "one attempt so far");
    d.tmux.line("alice-pw-1");
    let session = d.session("alice");
    assert_eq!(session.get("XDG_SESSION_TYPE"), "tty", "{session:?}");
    assert!(
        session.get("GREETD_SOCK").is_empty(),
        "the greeter's socket is not the session's: {session:?}"
    );
    // The greeter had gone before the session started; it saved the state file.
    assert!(!alive(g.pid), "the greeter still runs during the session");
    assert_eq!(work.read("tui-state"), "user alice\nsession alice Command\n");
    assert_eq!(calls(&work, "authenticate"), 2, "{:?}", work.record());
    assert_eq!(calls(&work, "open_session"), 1);
    // The auth log has login(1)'s lines for both attempts, never the wrong password.
    let log = work.syslog();
    assert!(
        log.iter()
            .any(|l| l.contains("FAILED LOGIN 1 ON ") && l.contains("FOR 'alice'")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("LOGIN ON ") && l.contains(" BY alice")),
        "{log:?}"
    );
    assert!(log.iter().all(|l| !l.contains("wrong-one")), "{log:?}");
    d.end_session("alice");
    // A new greeter, a new process, alice remembered.
    let g2 = d.wait_greeter(2);
    assert_ne!(g2.pid, g.pid);
    d.wait_screen("login: alice");
}

#[test]
fn too_many_tries_end_the_login_in_the_cores_words_and_the_card_stays_usable() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "tui-tries", tui(&work, ""));
    card(&d, 1);
    d.tmux.line("alice");
    for n in 1..=3usize {
        d.wait_until(&format!("prompt {n}"), || {
            let s = d.tmux.screen();
            let tail = s.rsplit("Login incorrect").next().unwrap_or("");
            let seen = s.matches("Login incorrect").count() >= n - 1;
            (seen && tail.contains("Password: ")).then_some(())
        });
        d.tmux.line(&format!("wrong-{n}"));
    }
    let s = d.wait_screen("Maximum number of tries exceeded");
    assert!(s.contains("login: alice"), "back at the user field: {s}");
    assert_eq!(calls(&work, "open_session"), 0);
    d.tmux.keys(&["Enter"]);
    d.wait_until("a fresh Password: prompt", || {
        let s = d.tmux.screen();
        (!s.contains("Maximum number") && s.contains("Password: ")).then_some(())
    });
    d.tmux.line("alice-pw-1");
    d.session("alice");
}

#[test]
fn an_expired_password_is_changed_through_pams_prompts() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "tui-expired", tui(&work, ""));
    card(&d, 1);
    d.tmux.keys(&["C-u"]);
    d.tmux.line("carol");
    d.wait_screen("Password: ");
    d.tmux.line("carol-pw-1");
    // pam_unix's own prompts, all of them: it asks for the current password again when
    // changing an expired one (PAM_CHANGE_EXPIRED_AUTHTOK), as under login(1).
    let s = d.wait_screen("Current password: ");
    assert!(
        s.contains("You are required to change your password immediately"),
        "{s}"
    );
    d.tmux.line("carol-pw-1");
    d.wait_screen("New password: ");
    d.tmux.line("brand-new-pw-1");
    d.wait_screen("Retype new password: ");
    d.tmux.line("brand-new-pw-2");
    d.wait_screen("Sorry, passwords do not match.");
    // The core tries again with PAM's words on the card, from the current password on.
    d.wait_screen("Password not changed. Please try again.");
    d.wait_until("a new Current password: prompt after the mismatch", || {
        let s = d.tmux.screen();
        let tail = s.rsplit("Please try again.").next()?;
        tail.contains("Current password: ").then_some(())
    });
    d.tmux.line("carol-pw-1");
    d.wait_screen("New password: ");
    d.tmux.line("brand-new-pw-1");
    d.wait_screen("Retype new password: ");
    d.tmux.line("brand-new-pw-1");
    let session = d.session("carol");
    assert_eq!(session.get("user"), "carol");
    let shadow = d.ns(&["chage", "-l", "carol"]);
    assert!(
        !shadow.stdout.contains("password must be changed"),
        "{}",
        shadow.all()
    );
}

#[test]
fn escape_cancels_the_login_at_the_daemon_and_opens_nothing() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "tui-esc", tui(&work, ""));
    let g = card(&d, 1);
    d.tmux.line("alice");
    d.wait_screen("Password: ");
    d.tmux.type_text("alice-pw");
    d.tmux.keys(&["Escape"]);
    let s = d.wait_screen("Login cancelled.");
    assert!(s.contains("login: alice") && !s.contains("Password"), "{s}");
    assert_eq!(calls(&work, "open_session") + calls(&work, "setcred"), 0);
    assert!(alive(g.pid), "the same greeter goes on");
    d.tmux.keys(&["Enter"]);
    d.wait_screen("Password: ");
    d.tmux.line("alice-pw-1");
    d.session("alice");
    assert_eq!(d.greeters().len(), 1, "{:?}", d.greeters());
}

#[test]
fn no_process_that_sees_a_password_can_dump_core_but_the_session_can() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "tui-core", tui(&work, ""));
    let g = card(&d, 1);
    let off = |pid: u32, what: &str| {
        let (soft, _) = core_limits(pid);
        assert_eq!(soft, "0", "{what} (pid {pid}) may dump core");
    };
    off(d.pid(), "the daemon");
    let greeter_workers = d.workers_of_kind("greeter");
    assert_eq!(greeter_workers.len(), 1, "{greeter_workers:?}");
    off(greeter_workers[0], "the greeter's worker");
    off(g.pid, "the greeter (vestibule-tui)");
    // Not dumpable: its /proc entries are root's although it runs as the greeter user.
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(format!("/proc/{}/environ", g.pid))
        .unwrap()
        .uid();
    assert_eq!((g.uid != 0, owner), (true, 0), "the greeter is dumpable: {g:?}");

    d.tmux.line("alice");
    d.wait_screen("Password: ");
    d.tmux.line("alice-pw-1");
    let session = d.session("alice");
    let login_workers = d.login_workers();
    assert_eq!(login_workers.len(), 1, "{login_workers:?}");
    off(login_workers[0], "the login worker");
    // The user's own programs keep the limit the daemon was started with.
    let (soft, _) = core_limits(session.pid());
    assert_eq!(
        soft,
        (CORE_LIMIT_KIB * 1024).to_string(),
        "the session did not get its core limit back"
    );
    d.end_session("alice");
}
