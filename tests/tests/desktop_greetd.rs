//! vestibule-gtk in cage under Debian's greetd 0.9, as ReGreet runs: greetd's plain protocol (no
//! extension), its own PAM service (`/etc/pam.d/greetd` of the sandbox's /etc: Debian's
//! common-auth, pam_unix), `vt = "none"` in a tmux pane, the greeter as the unprivileged
//! `vgreeter`. greetd 0.9 makes no runtime directory for the greeter (pam_systemd or pam_rundir
//! would), so the greeter command gives cage one, as an admin without logind must.

use std::fs;
use std::path::Path;

use vestibule_e2e::cage::{greeter_command, Greeter, Screen, Seat, CONFIG};
use vestibule_e2e::daemon::{alive, session_command, uids, GREETER_USER};
use vestibule_e2e::tmux::{quote, Tmux};
use vestibule_e2e::{require_root, tests_dir, Work, LIMIT};

fn wait_file(path: &Path, screen: &Screen, tmux: &Tmux) -> String {
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
                fs::read_to_string(&screen.probe).unwrap_or_default(),
                tmux.screen()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

#[test]
fn vestibule_gtk_in_cage_logs_in_through_greetd_0_9() {
    require_root();
    assert!(
        Path::new("/usr/sbin/greetd").is_file(),
        "greetd is not installed (/usr/sbin/greetd): scripts/install-deps.sh installs it"
    );
    let work = Work::new();
    let dir = work.path();
    let seat = Seat::start(dir);
    let runtime = dir.join("greeter-run");
    let greeter = Greeter {
        config: CONFIG,
        command: vec![session_command(&work).display().to_string()],
        env: vec![format!("XDG_RUNTIME_DIR={}", runtime.display())],
    };
    let command = greeter_command(&work, &seat, &greeter);
    // greetd's config as an admin writes it; the greeter's log lines as the daemon tests' wrapper
    // writes them (greeters.log).
    let wrapper = dir.join("greeter.sh");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"pid=$$ uid=$(id -u) sock=$GREETD_SOCK proto=${{VESTIBULE_GREETER_PROTOCOL:-}}\" \
             >>{d}/greeters.log\nexec {command}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    fs::write(
        dir.join("greetd.toml"),
        format!(
            "[terminal]\nvt = \"none\"\n[general]\nrunfile = \"{d}/greetd.run\"\nsource_profile = false\n\
             [default_session]\ncommand = \"sh {w}\"\nuser = \"{GREETER_USER}\"\n",
            d = dir.display(),
            w = wrapper.display()
        ),
    )
    .unwrap();
    let inside = format!(
        "#!/bin/sh\nset -e\nprintf 'account required pam_permit.so\\nsession required pam_permit.so\\n' \
         > /etc/pam.d/greetd-greeter\ninstall -d -m 0700 -o {GREETER_USER} -g {GREETER_USER} {r}\n\
         exec /usr/sbin/greetd --config {d}/greetd.toml\n",
        r = runtime.display(),
        d = dir.display()
    );
    fs::write(dir.join("greetd.sh"), inside).unwrap();
    let script = format!(
        "{} {} sh {} 2>{}/greetd.log; echo GREETD EXITED=$?; sleep 600",
        quote(&tests_dir().join("sandbox/run.sh").display().to_string()),
        quote(&dir.display().to_string()),
        quote(&dir.join("greetd.sh").display().to_string()),
        dir.display()
    );
    let tmux = Tmux::start("gtk-greetd", (100, 30), &script);
    let screen = Screen::new(&work, seat);

    let probe = screen.wait_window("the greeter under greetd");
    assert!(probe.contains("dropdown: Command"), "{probe}");
    let log = work.read("greeters.log");
    assert!(log.trim_end().ends_with("proto="), "greetd offers no extension: {log}");
    let greeter = screen.greeter_pid();
    let ids = uids(greeter);
    assert!(
        !ids.is_empty() && ids.iter().all(|&u| u != 0),
        "greeter uids {ids:?}"
    );

    screen.enter_user("alice");
    screen.answer("Password", "password-entry", "alice-pw-1");
    let marker = dir.join("session.alice");
    let session = wait_file(&marker, &screen, &tmux);
    assert!(session.contains("user=alice\n"), "{session}");
    assert!(!alive(greeter), "the greeter exited before the session");
    let state = work.read("greeter-state");
    assert!(state.contains("alice"), "{state}");

    // Session over: greetd starts a new greeter, alice remembered.
    fs::write(dir.join("end.alice"), "").unwrap();
    let probe = screen.wait_window("the next greeter under greetd");
    assert!(probe.contains("entry focus: alice"), "{probe}");
}
