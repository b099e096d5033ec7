//! vestibule-gtk in cage under Debian's greetd 0.9, as ReGreet runs: greetd's plain protocol (no
//! extension), its own PAM service (`/etc/pam.d/greetd` of the sandbox's /etc: Debian's
//! common-auth, pam_unix), `vt = "none"` in a tmux pane, the greeter as the unprivileged
//! `vgreeter` (tests/src/cage.rs's `Greetd`).

use std::fs;
use std::path::Path;

use vestibule_e2e::cage::{Greetd, Greeter, CONFIG};
use vestibule_e2e::daemon::{alive, session_command, uids};
use vestibule_e2e::{Work, LIMIT};

fn wait_file(path: &Path, g: &Greetd) -> String {
    let start = std::time::Instant::now();
    loop {
        if let Ok(s) = fs::read_to_string(path) {
            if !s.is_empty() {
                return s;
            }
        }
        if start.elapsed() > LIMIT {
            panic!(
                "{} did not appear; probe:\n{}\n--- pane:\n{}",
                path.display(),
                fs::read_to_string(&g.probe).unwrap_or_default(),
                g.tmux.screen()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

#[test]
fn vestibule_gtk_in_cage_logs_in_through_greetd_0_9() {
    let work = Work::new();
    let dir = work.path();
    let screen = Greetd::start(
        &work,
        "gtk-greetd",
        Greeter {
            config: CONFIG,
            command: vec![session_command(&work).display().to_string()],
            env: Vec::new(),
        },
    );
    let probe = screen.wait_window("the greeter under greetd");
    assert!(probe.contains("dropdown: Command"), "{probe}");
    let log = work.read("greeters.log");
    assert!(
        log.trim_end().ends_with("proto="),
        "greetd offers no extension: {log}"
    );
    let greeter = screen.greeter_pid();
    let ids = uids(greeter);
    assert!(
        !ids.is_empty() && ids.iter().all(|&u| u != 0),
        "greeter uids {ids:?}"
    );

    screen.enter_user("alice");
    screen.answer("Password", "password-entry", "alice-pw-1");
    let marker = dir.join("session.alice");
    let session = wait_file(&marker, &screen);
    assert!(session.contains("user=alice\n"), "{session}");
    assert!(!alive(greeter), "the greeter exited before the session");
    let state = work.read("greeter-state");
    assert!(state.contains("alice"), "{state}");

    // Session over: greetd starts a new greeter, alice remembered.
    fs::write(dir.join("end.alice"), "").unwrap();
    let probe = screen.wait_window("the next greeter under greetd");
    assert!(probe.contains("entry focus: alice"), "{probe}");
}
