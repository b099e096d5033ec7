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
