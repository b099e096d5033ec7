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
    sway_session(&work, "cage-sway", Seat::None);
}

/// Seat access without logind, through Debian's seatd: the greeter's cage and then alice's sway
/// open the seat through libseat (`LIBSEAT_BACKEND=seatd`, and wlroots' libinput backend, the
/// one that needs a seat here, where no GPU exists), each as its own user; someone outside the
/// socket's group gets no seat.
#[test]
fn with_seatd_the_greeters_compositor_and_then_the_users_get_the_seat() {
    let work = Work::new();
    let facts = sway_session(&work, "cage-seatd", Seat::Seatd);
    let log = work.read("seatd.log");
    // seatd's log: each client's pid and uid as seatd saw them on its socket.
    let clients: Vec<(u32, u32)> = log
        .lines()
        .filter_map(|l| {
            let rest = l.split_once("New client connected (pid: ")?.1;
            let (pid, rest) = rest.split_once(", uid: ")?;
            let uid = rest.split(',').next()?;
            Some((pid.parse().ok()?, uid.parse().ok()?))
        })
        .collect();
    // The greeter's cage (as the greeter user), then alice's sway (as alice), then the next
    // greeter's cage once sway has exited: each opened the seat in turn.
    assert_eq!(
        clients[..clients.len().min(2)],
        [
            (facts.cage_pid, facts.greeter_uid),
            (facts.sway_pid, facts.alice_uid)
        ],
        "{log}"
    );
    assert_eq!(
        clients.get(2).map(|c| c.1),
        Some(facts.greeter_uid),
        "the greeter back on the seat: {log}"
    );
    assert_eq!(
        log.matches("Opened client").count(),
        3,
        "each was given the seat: {log}"
    );
    let denied = work.read("seatd-denied");
    assert!(
        denied.contains("Permission denied"),
        "bob, outside the socket's group, cannot reach seatd: {denied}"
    );
}

/// Which seat the compositors run on.
#[derive(Clone, Copy, PartialEq)]
enum Seat {
    /// None: wlroots' headless and wayland backends need no seat.
    None,
    /// seatd's, through libseat.
    Seatd,
}

/// What [`sway_session`] saw.
struct Facts {
    greeter_uid: u32,
    alice_uid: u32,
    /// The greeter's compositor.
    cage_pid: u32,
    /// alice's session.
    sway_pid: u32,
}

/// alice logs in through the desktop greeter under vestibuled on a free VT, chooses a headless
/// sway, which is checked for its user, environment, terminal and IPC socket; then sway exits
/// and the greeter is back.
fn sway_session(work: &Work, name: &str, seat: Seat) -> Facts {
    let dir = work.path();
    // wlroots' libinput backend is the one that opens a seat (there are no GPUs here for drm),
    // with no input devices to find.
    let seat_env = match seat {
        Seat::None => "",
        Seat::Seatd => "WLR_BACKENDS=headless,libinput LIBSEAT_BACKEND=seatd ",
    };
    // The session file a person would install, except that this sway runs on wlroots' headless
    // backend (no GPU or seat here), which only its environment says.
    fs::create_dir_all(dir.join("wayland-sessions")).unwrap();
    fs::write(dir.join("user-sway.config"), "output * bg #00ff00 solid_color\n").unwrap();
    fs::write(
        dir.join("wayland-sessions/test-sway.desktop"),
        format!(
            "[Desktop Entry]\nName=Sway (headless)\nExec=env WLR_BACKENDS=headless {seat_env}\
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
    let greeter_env = match seat {
        Seat::None => Vec::new(),
        Seat::Seatd => vec![
            "WLR_BACKENDS=wayland,libinput".to_owned(),
            "WLR_LIBINPUT_NO_DEVICES=1".into(),
            "LIBSEAT_BACKEND=seatd".into(),
        ],
    };
    let d = Desktop::start_with(
        work,
        name,
        Greeter {
            config: &config,
            command: Vec::new(),
            env: greeter_env,
        },
        |s| {
            s.vt = Some(vt.number);
            s.seatd = seat == Seat::Seatd;
        },
    );
    let probe = d.wait_greeter(1);
    assert!(probe.contains("dropdown: Sway (headless)"), "{probe}");
    let greeter = d.greeter_pid();
    // The greeter's compositor: its parent.
    let stat = fs::read_to_string(format!("/proc/{greeter}/stat")).unwrap();
    let cage_pid: u32 = stat
        .rsplit_once(") ")
        .unwrap()
        .1
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        fs::read_to_string(format!("/proc/{cage_pid}/comm"))
            .unwrap()
            .trim(),
        "cage"
    );
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
    if seat == Seat::Seatd {
        // bob is not in the socket's group: no seat for him.
        let bob = d.daemon.ns(&[
            "setpriv",
            "--reuid",
            "bob",
            "--regid",
            "bob",
            "--init-groups",
            "--",
            "python3",
            "-c",
            "import socket; socket.socket(socket.AF_UNIX).connect('/run/seatd.sock')",
        ]);
        assert_ne!(bob.code(), Some(0), "{}", bob.all());
        fs::write(dir.join("seatd-denied"), bob.all()).unwrap();
    }
    Facts {
        greeter_uid: d.daemon.uid(vestibule_e2e::daemon::GREETER_USER),
        alice_uid: uid,
        cage_pid,
        sway_pid: pid,
    }
}
