//! A Wayland session chosen in the desktop greeter really starts as the user: vestibuled starts
//! the session file's Exec (a headless sway) as alice once the greeter and cage have exited, sway
//! answers on its own IPC socket in alice's XDG_RUNTIME_DIR, and when sway exits the greeter is
//! back.

use std::fs;

use vestibule_e2e::cage::{Desktop, Greeter, CONFIG};
use vestibule_e2e::daemon::{alive, uids};
use vestibule_e2e::vt::Vt;
use vestibule_e2e::Work;

fn environ(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

#[test]
fn a_sway_session_runs_as_alice_on_her_runtime_dir_and_the_greeter_comes_back_when_it_exits() {
    let work = Work::new();
    let dir = work.path();
    // The session file a person would install, except that this sway runs on wlroots' headless
    // backend (no GPU or seat here), which only its environment says.
    fs::create_dir_all(dir.join("wayland-sessions")).unwrap();
    fs::write(dir.join("user-sway.config"), "output * bg #00ff00 solid_color\n").unwrap();
    fs::write(
        dir.join("wayland-sessions/test-sway.desktop"),
        format!(
            "[Desktop Entry]\nName=Sway (headless)\nExec=env WLR_BACKENDS=headless \
             WLR_HEADLESS_OUTPUTS=1 WLR_LIBINPUT_NO_DEVICES=1 WLR_RENDERER=pixman sway -c {}\n\
             Type=Application\nDesktopNames=sway\n",
            dir.join("user-sway.config").display()
        ),
    )
    .unwrap();
    let config = CONFIG.replace(
        "wayland_dirs = []",
        "wayland_dirs = [\"@WORK@/wayland-sessions\"]",
    );
    // On a virtual terminal of its own, as on a real machine: the session gets it.
    let vt = Vt::free();
    let d = Desktop::start_on(
        &work,
        "cage-sway",
        Greeter {
            config: &config,
            command: Vec::new(),
            env: Vec::new(),
        },
        Some(vt.number),
    );
    let probe = d.wait_greeter(1);
    assert!(probe.contains("dropdown: Sway (headless)"), "{probe}");
    let greeter = d.greeter_pid();
    d.enter_user("alice");
    d.answer("Password", "password-entry", "alice-pw-1");

    let uid = d.daemon.uid("alice");
    let runtime = format!("/run/user/{uid}");
    // sway's IPC socket in alice's runtime directory (the sandbox's /run/user).
    let socket = d.daemon.wait_until("alice's sway IPC socket", || {
        let ls = d.daemon.ns(&["ls", &runtime]);
        ls.stdout
            .lines()
            .find(|n| n.starts_with("sway-ipc.") && n.ends_with(".sock"))
            .map(|n| format!("{runtime}/{n}"))
    });
    assert!(!alive(greeter), "the greeter exited before the session");
    let version = d.daemon.ns(&[
        "setpriv",
        "--reuid",
        "alice",
        "--regid",
        "alice",
        "--init-groups",
        "--",
        "swaymsg",
        "-s",
        &socket,
        "-t",
        "get_version",
    ]);
    assert_eq!(version.code(), Some(0), "{}", version.all());
    // Not a terminal: swaymsg prints the reply's JSON. The config is the session's own.
    assert!(
        version.stdout.contains("\"variant\": \"sway\""),
        "{}",
        version.all()
    );
    assert!(version.stdout.contains("user-sway.config"), "{}", version.all());

    // The session is sway itself (Exec run directly), as alice, with the session's variables.
    let pid: u32 = socket
        .rsplit('/')
        .next()
        .and_then(|n| n.split('.').nth(2))
        .and_then(|p| p.parse().ok())
        .expect("sway's pid in its socket name");
    assert!(uids(pid).iter().all(|&u| u == uid), "sway runs as alice");
    let env = environ(pid);
    for want in [
        "XDG_SESSION_TYPE=wayland".to_owned(),
        "XDG_SESSION_DESKTOP=sway".into(),
        "XDG_CURRENT_DESKTOP=sway".into(),
        "XDG_SESSION_CLASS=user".into(),
        format!("XDG_RUNTIME_DIR={runtime}"),
        format!("XDG_VTNR={}", vt.number),
        "XDG_SEAT=seat0".into(),
        "USER=alice".into(),
    ] {
        assert!(
            env.contains(&want),
            "{want} missing from sway's environment: {env:?}"
        );
    }
    // The VT is sway's controlling terminal (stat's tty_nr: major 4, minor N), in a session
    // of its own: not the greeter's, not the daemon's.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let tty_nr: u32 = fields[4].parse().unwrap();
    assert_eq!(
        (tty_nr >> 8, tty_nr & 0xff),
        (4, vt.number),
        "sway's controlling terminal: {stat}"
    );
    let sid: u32 = fields[3].parse().unwrap();
    assert_ne!(sid, d.daemon.pid(), "the session has a session of its own");
    assert!(
        !env.iter()
            .any(|e| e.starts_with("GREETD_SOCK=") || e.starts_with("VESTIBULE_GTK_PROBE=")),
        "nothing of the greeter's environment: {env:?}"
    );

    // sway exits: the session is over and a new greeter shows, alice remembered with her session.
    // (sway may exit before it answers: swaymsg's own status says nothing.)
    d.daemon.ns(&[
        "setpriv",
        "--reuid",
        "alice",
        "--regid",
        "alice",
        "--init-groups",
        "--",
        "swaymsg",
        "-s",
        &socket,
        "exit",
    ]);
    let probe = d.wait_greeter(2);
    assert!(probe.contains("entry focus: alice"), "{probe}");
    assert!(!alive(pid), "sway is gone");
    let state = work.read("greeter-state");
    assert!(
        state.contains("test-sway"),
        "the session choice is remembered: {state}"
    );
}
