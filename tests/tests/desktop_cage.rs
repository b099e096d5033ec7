//! Desktop login for real: vestibuled runs `cage -s -- vestibule-gtk` as the unprivileged greeter
//! user in the root sandbox; keys typed on the seat (tests/src/cage.rs) log alice in; the greeter
//! and its compositor exit before the session starts on the terminal, and a fresh greeter comes
//! back when it ends.

use vestibule_e2e::cage::{named, Desktop, Greeter, BACKDROP, CONFIG};
use vestibule_e2e::daemon::{descendants, uids, GREETER_USER};
use vestibule_e2e::x11::Shot;
use vestibule_e2e::Work;

/// Dark pixels of the greeter's background (#1e2230-ish): more than half of a screen that shows
/// the greeter is neither magenta nor white.
fn greeter_visible(shot: &Shot) -> bool {
    let backdrop = shot.count(BACKDROP);
    backdrop < (shot.width * shot.height / 10) as usize
}

#[test]
fn alice_logs_in_through_the_greeter_in_cage_which_runs_unprivileged_and_is_gone_during_her_session() {
    let work = Work::new();
    let d = Desktop::start(&work, "cage-login", Greeter::with_session(&work, CONFIG));
    let probe = d.wait_greeter(1);
    assert!(probe.contains("label[prompt]: login"), "{probe}");
    let g = d.daemon.wait_greeter(1);
    let greeter_uid = d.daemon.uid(GREETER_USER);

    // Everything of the greeter runs as the greeter user: cage, vestibule-gtk, and cage's
    // Xwayland if it started one — never uid 0.
    let below = descendants(g.pid);
    let gtk = named(&below, "vestibule-gtk");
    let compositor = named(&[vec![g.pid], below.clone()].concat(), "cage");
    assert_eq!(gtk, [d.greeter_pid()], "one greeter, the one on screen");
    assert_eq!(compositor.len(), 1, "one cage: {below:?}");
    for pid in [g.pid].into_iter().chain(below.iter().copied()) {
        if vestibule_e2e::daemon::alive(pid) {
            let ids = uids(pid);
            assert!(
                ids.iter().all(|&u| u == greeter_uid),
                "{} (pid {pid}) has uids {ids:?}",
                vestibule_e2e::exe(pid)
            );
        }
    }

    // What a person sees: the greeter filling the screen; grim through cage's own socket
    // shows the card too.
    let before = d.seat.screenshot(&work.path().join("before.png"));
    assert!(greeter_visible(&before), "the greeter is on screen");
    let own = work.path().join("cage.png");
    let r = d.cage_screenshot(&own);
    assert_eq!(r.code(), Some(0), "grim on cage: {}", r.all());
    let own = Shot::read(&own);
    assert_eq!(own.count(BACKDROP), 0, "cage shows only the greeter");
    if let Ok(dir) = std::env::var("VESTIBULE_SCREENSHOTS") {
        std::fs::copy(
            work.path().join("cage.png"),
            format!("{dir}/gtk-greeter-cage.png"),
        )
        .unwrap();
    }

    d.enter_user("alice");
    d.answer("Password", "password-entry", "alice-pw-1");
    let s = d.daemon.session("alice");
    assert_eq!(s.get("user"), "alice");
    assert_eq!(s.get("XDG_SESSION_CLASS"), "user");

    // The greeter and its compositor are gone before the session runs; the screen shows only
    // the seat's background.
    assert!(
        !vestibule_e2e::daemon::alive(d.greeter_pid()),
        "the greeter exited"
    );
    for pid in compositor {
        assert!(!vestibule_e2e::daemon::alive(pid), "cage exited");
    }
    let after = d.seat.screenshot(&work.path().join("after.png"));
    assert_eq!(
        after.count(BACKDROP),
        (after.width * after.height) as usize,
        "nothing of the greeter is left on screen"
    );
    // The choice is remembered in a state file the greeter user wrote.
    let state = work.read("greeter-state");
    assert!(state.contains("alice"), "{state}");
    let meta = std::fs::metadata(work.path().join("greeter-state")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), greeter_uid);

    // Session over: a fresh greeter, the last user filled in.
    d.daemon.end_session("alice");
    let probe = d.wait_greeter(2);
    assert!(probe.contains("entry focus: alice"), "{probe}");
    let shot = d.seat.screenshot(&work.path().join("back.png"));
    assert!(greeter_visible(&shot), "the greeter is back on screen");
}

#[test]
fn the_greeter_refuses_root_and_a_missing_daemon() {
    let work = Work::new();
    let gtk = vestibule_e2e::binary("vestibule-gtk");
    let out = std::process::Command::new(&gtk)
        .env("GREETD_SOCK", work.path().join("sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not run as root"), "{err}");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(&gtk)
        .env_remove("GREETD_SOCK")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GREETD_SOCK is not set"), "{err}");
}
