//! The logind path: vestibuled on a VT with the shipped PAM files, whose common-session stacks
//! Debian's pam_systemd, and a logind on the system bus. pam_systemd registers the greeter's own
//! session (class greeter) and then the user's (class user), each on seat0 and the daemon's VT,
//! from the variables the worker sets before pam_open_session; logind creates the user's
//! runtime directory and the sessions end with them.
//!
//! The logind is Debian's elogind, unpacked (never installed: it would remove systemd) and run in
//! the sandbox with a system bus of its own ([`Setup::logind`]): it serves the same
//! org.freedesktop.login1 API that pam_systemd calls on systemd-logind, which cannot run here
//! (no systemd as PID 1). The sessions are read back with Debian's loginctl.

use std::time::Duration;

use vestibule_e2e::daemon::{Setup, Vestibuled, GREETER_USER};
use vestibule_e2e::vt::Vt;
use vestibule_e2e::Work;

const STEP: Duration = Duration::from_secs(20);

/// `loginctl show-session ID -p …` as `KEY=VALUE` lines, run in the sandbox.
fn show_session(d: &Vestibuled, id: &str) -> String {
    let mut args = vec!["loginctl", "--no-pager", "show-session", id];
    for p in [
        "Name", "Class", "Type", "Seat", "VTNr", "TTY", "Service", "Remote", "State",
    ] {
        args.extend(["-p", p]);
    }
    let r = d.ns(&args);
    assert_eq!(r.code(), Some(0), "loginctl show-session {id}: {}", r.all());
    r.stdout
}

/// The session ids loginctl lists (`SESSION UID USER SEAT TTY` rows), with their user names.
fn sessions(d: &Vestibuled) -> Vec<(String, String)> {
    let r = d.ns(&["loginctl", "--no-pager", "--no-legend", "list-sessions"]);
    assert_eq!(r.code(), Some(0), "loginctl list-sessions: {}", r.all());
    r.stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_owned(), f.nth(1)?.to_owned()))
        })
        .collect()
}

fn environ(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .map(|e| String::from_utf8_lossy(e).into_owned() + "\n")
        .collect()
}

fn value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or("")
}

#[test]
fn with_logind_pam_systemd_registers_the_greeter_and_then_the_users_session_on_the_vt() {
    let vt = Vt::free();
    let work = Work::new();
    let mut setup = Setup::agreety(&work);
    setup.vt = Some(vt.number);
    setup.logind = true;
    setup.shipped_pam = true;
    let d = Vestibuled::start(&work, "logind", setup);
    let g = d.wait_greeter(1);
    vt.wait_for("login:", STEP);

    // The greeter's session, as logind has it: pam_systemd read XDG_SESSION_CLASS=greeter,
    // XDG_SEAT and XDG_VTNR from the worker, and put XDG_SESSION_ID into the greeter's
    // environment.
    let env = environ(g.pid);
    let greeter_id = value(&env, "XDG_SESSION_ID").to_owned();
    assert!(
        !greeter_id.is_empty(),
        "no XDG_SESSION_ID from pam_systemd in the greeter's environment:\n{env}\n{}",
        work.read("elogind.log")
    );
    let shown = show_session(&d, &greeter_id);
    let vtnr = vt.number.to_string();
    let tty = format!("tty{}", vt.number);
    for (key, want) in [
        ("Name", GREETER_USER),
        ("Class", "greeter"),
        ("Type", "tty"),
        ("Seat", "seat0"),
        ("VTNr", vtnr.as_str()),
        ("TTY", tty.as_str()),
        ("Service", "vestibule-greeter"),
        ("Remote", "no"),
    ] {
        assert_eq!(
            value(&shown, key),
            want,
            "{key} of the greeter's session:\n{shown}"
        );
    }
    let greeter_uid = d.uid(GREETER_USER);
    assert_eq!(
        value(&env, "XDG_RUNTIME_DIR"),
        format!("/run/user/{greeter_uid}"),
        "{env}"
    );

    // alice logs in: her own session, the greeter's gone.
    vt.line("alice");
    vt.wait_for("Password:", STEP);
    vt.line("alice-pw-1");
    let s = d.session("alice");
    let alice_id = s.get("XDG_SESSION_ID").to_owned();
    assert!(!alice_id.is_empty() && alice_id != greeter_id, "{s:?}");
    let shown = show_session(&d, &alice_id);
    for (key, want) in [
        ("Name", "alice"),
        ("Class", "user"),
        ("Type", "tty"),
        ("Seat", "seat0"),
        ("VTNr", vtnr.as_str()),
        ("TTY", tty.as_str()),
        ("Service", "vestibule"),
        ("Remote", "no"),
    ] {
        assert_eq!(value(&shown, key), want, "{key} of alice's session:\n{shown}");
    }
    // Her runtime directory is logind's (the worker makes one only when PAM gives none).
    let alice_uid = d.uid("alice");
    assert_eq!(s.get("runtime"), format!("/run/user/{alice_uid}"), "{s:?}");
    assert_eq!(s.get("runtime_stat"), "alice 700", "{s:?}");
    assert!(
        work.read("elogind.log")
            .contains(&format!("New session {alice_id} of user alice"))
            || sessions(&d).iter().any(|(id, _)| id == &alice_id),
        "{}",
        work.read("elogind.log")
    );
    d.wait_until("the greeter's logind session to end", || {
        (!sessions(&d).iter().any(|(id, _)| id == &greeter_id)).then_some(())
    });

    // alice's session ends: logind's session goes with it, and the next greeter has a new one.
    d.end_session("alice");
    let g2 = d.wait_greeter(2);
    d.wait_until("alice's logind session to end", || {
        (!sessions(&d).iter().any(|(id, _)| id == &alice_id)).then_some(())
    });
    let next = value(&environ(g2.pid), "XDG_SESSION_ID").to_owned();
    assert!(
        !next.is_empty() && next != greeter_id && next != alice_id,
        "{next:?}"
    );
    assert_eq!(value(&show_session(&d, &next), "Class"), "greeter");
}
