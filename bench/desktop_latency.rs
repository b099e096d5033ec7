//! desktop-latency --logins N --session STAMP -- bench/run-cage.sh's login-to-session-exec
//! measurement: vestibule-gtk in cage, as the tests run it (tests/src/cage.rs: the root sandbox,
//! the seat's headless sway typing through the virtual-keyboard protocol), logs alice in N times
//! under vestibuled and N times under Debian's greetd 0.9, in rounds that alternate the daemons.
//! Each login: the user name, then at PAM's password prompt the password, and the time from the
//! Enter key (vkbd.py's `stamp`, CLOCK_MONOTONIC, once sway has every key before it) to the
//! session's first instruction (bench/session_stamp.c, CLOCK_MONOTONIC), which comes after the
//! daemon's PAM work, the greeter's start_session, the exit of greeter and cage, and the session's
//! start. Both daemons run the same PAM stack, Debian's /etc/pam.d/greetd (common-auth: pam_unix
//! checks alice's password in the sandbox), vestibuled's as its `vestibule` service. Prints
//! `DAEMON\tRUN\tMS` lines.

use std::fs;
use std::time::Duration;

use vestibule_e2e::cage::{Desktop, Greetd, Greeter, Screen, CONFIG};
use vestibule_e2e::Work;

/// How long each session lasts: greetd 0.9 waits a second before the next greeter after a
/// shorter one (against respawn loops).
const SESSION_MS: &str = "1100";

fn args() -> (usize, String) {
    let mut logins = 20;
    let mut session = String::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--logins" => logins = it.next().and_then(|n| n.parse().ok()).expect("--logins N"),
            "--session" => session = it.next().expect("--session PATH"),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        !session.is_empty(),
        "--session PATH (bench/session_stamp.c, built)"
    );
    (logins, session)
}

fn exec_stamps(log: &std::path::Path) -> Vec<u64> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("exec "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The `n`th login on `screen` (its greeter is showing); the Enter-to-exec time in ms.
fn login(screen: &Screen, log: &std::path::Path, n: usize) -> f64 {
    screen.enter_user("alice");
    screen.wait_focus("password-entry");
    let out = screen
        .seat
        .keys_output(&["text:alice-pw-1".into(), "stamp".into(), "key:Return".into()]);
    let t0: u64 = out.trim().parse().expect("vkbd.py's stamp");
    let start = std::time::Instant::now();
    let t1 = loop {
        if let Some(&t) = exec_stamps(log).get(n - 1) {
            break t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "session {n} did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    (t1 as f64 - t0 as f64) / 1e6
}

/// vestibuled's services made greetd's (the worker reads them at each login): `vestibule` is
/// Debian's /etc/pam.d/greetd with the files it includes beside it (the confdir is where
/// `@include` looks), and the greeter's own session is pam_permit, as greetd-greeter is here.
fn same_stack_as_greetd(work: &Work) {
    let dir = work.pam_dir();
    for entry in fs::read_dir("/etc/pam.d").expect("/etc/pam.d").flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("vestibule") && entry.path().is_file() {
            fs::copy(entry.path(), dir.join(&name)).unwrap();
        }
    }
    fs::copy("/etc/pam.d/greetd", dir.join("vestibule")).expect("/etc/pam.d/greetd");
    fs::write(
        dir.join("vestibule-greeter"),
        "account required pam_permit.so\nsession required pam_permit.so\n",
    )
    .unwrap();
}

fn greeter<'a>(work: &Work, stamp: &str) -> Greeter<'a> {
    let log = work.path().join("stamps.log");
    Greeter {
        config: CONFIG,
        command: vec![
            stamp.to_owned(),
            log.display().to_string(),
            work.path().join("no-hold").display().to_string(),
            SESSION_MS.into(),
        ],
        env: Vec::new(),
    }
}

fn main() {
    let (logins, stamp) = args();
    let rounds = 2;
    let per_round = logins.div_ceil(rounds);
    let mut done = [0usize; 2];
    for round in 0..rounds {
        for (side, so_far) in done.iter_mut().enumerate() {
            let count = per_round.min(logins - *so_far);
            let work = Work::new();
            let log = work.path().join("stamps.log");
            if side == 0 {
                let d = Desktop::start(&work, &format!("lat-v{round}"), greeter(&work, &stamp));
                same_stack_as_greetd(&work);
                for n in 1..=count {
                    d.wait_greeter(n);
                    let ms = login(&d, &log, n);
                    println!("vestibuled\t{}\t{ms:.1}", *so_far + n);
                    eprintln!("vestibuled login {}: {ms:.1} ms", *so_far + n);
                }
            } else {
                let g = Greetd::start(&work, &format!("lat-g{round}"), greeter(&work, &stamp));
                for n in 1..=count {
                    g.wait_window(&format!("greetd's greeter {n}"));
                    let ms = login(&g, &log, n);
                    println!("greetd 0.9\t{}\t{ms:.1}", *so_far + n);
                    eprintln!("greetd login {}: {ms:.1} ms", *so_far + n);
                }
            }
            *so_far += count;
        }
    }
}
