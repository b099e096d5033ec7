//! `vestibuled` against hostile greeters: the greeter command is
//! tests/fixtures/daemon/hostile_greeter.py, run by the daemon as the greeter user, which plays
//! one case per greeter start — a frame announcing 4 GiB, invalid JSON, an unknown message type,
//! a 1 MiB answer, `create_session` twice, a disconnect mid-conversation — and then logs erin in
//! normally. Each case must get an error or be dropped (never hang), no worker may outlive its
//! case, the daemon stays the same process, and erin's login works after all of them. Another
//! uid (alice) may not talk to the greeter socket at all.

use vestibule_e2e::daemon::*;
use vestibule_e2e::*;

const CASES: [&str; 6] = [
    "huge_frame",
    "bad_json",
    "unknown_type",
    "huge_answer",
    "create_twice",
    "disconnect",
];

#[test]
fn hostile_greeters_get_errors_or_are_dropped_and_the_daemon_stays_up() {
    let work = Work::new();
    let d = Vestibuled::start(&work, "hostile", Setup::hostile(&work, "erin", "erin-pw-1"));
    let daemon = d.pid();
    for n in 1..=CASES.len() + 1 {
        d.wait_until(
            &format!("line {n} of hostile.log:\n{}", work.read("hostile.log")),
            || (work.read("hostile.log").lines().count() >= n).then_some(()),
        );
    }
    let log = work.read("hostile.log");
    eprintln!("hostile.log:\n{log}");
    let lines: Vec<&str> = log.lines().collect();
    for (case, line) in CASES.iter().zip(&lines) {
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some(*case), "{log}");
        let outcome = words.next().unwrap_or_default();
        assert!(
            outcome.starts_with("outcome=error:") || outcome == "outcome=closed",
            "{case}: {outcome} (an error or a dropped connection expected)\n{log}"
        );
        assert_eq!(
            words.next(),
            Some("workers=0"),
            "{case}: a worker outlived it\n{log}"
        );
    }
    assert_eq!(lines[CASES.len()], "login outcome=started workers=0", "{log}");
    let s = d.session("erin");
    assert_eq!(s.get("user"), "erin");
    assert_eq!(d.pid(), daemon);
    assert!(d.running(), "the daemon died");
    d.end_session("erin");

    // The idle greeter after erin's session: another uid may not use its socket.
    let g = d.wait_greeter(CASES.len() + 2);
    d.assert_unprivileged(&g);
    let script = fixtures().join("hostile_greeter.py").display().to_string();
    let other = d.ns(&[
        "setpriv",
        "--reuid=alice",
        "--regid=alice",
        "--init-groups",
        "/usr/bin/python3",
        &script,
        "--connect",
        &g.sock,
    ]);
    let said = other.stdout.trim();
    assert!(
        said.starts_with("refused") || said.starts_with("closed"),
        "alice talked to the greeter's socket {}: {}",
        g.sock,
        other.all()
    );

    let records = work.record();
    let opened: Vec<&Record> = records.iter().filter(|r| r.function == "open_session").collect();
    assert_eq!(opened.len(), 1, "only erin's session opened: {records:?}");
    assert_eq!(opened[0].user, "erin");
    assert_eq!(count(&records, "close_session"), 1, "{records:?}");
    assert!(
        d.login_workers().is_empty(),
        "workers left: {:?}",
        d.login_workers()
    );
}
