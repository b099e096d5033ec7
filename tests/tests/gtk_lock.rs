//! The lock screen (`vestibule-gtk --lock`, `--lock-daemon`) on a real X server with real libpam
//! on its own service (`vestibule-lock`): the screen is checked pixel by pixel from screenshots
//! (the root window is painted magenta first, so any uncovered pixel shows), input through
//! xdotool, the widgets through the probe, and with the session agent on a private bus for the
//! lock signal and a locker killed while locked.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vestibule_agent::client::NewSession;
use vestibule_e2e::sway::Sway;
use vestibule_e2e::x11::{focused, wait_probe_until, GtkApp, Xvfb};
use vestibule_e2e::{binary, count, sandboxed, PrivateBus, Reaped, Work, LIMIT};

const MAGENTA: [u8; 3] = [0xff, 0x00, 0xff];
/// The lock window's background in the built-in style.
const LOCK_BG: [u8; 3] = [0x0e, 0x12, 0x19];

/// Starts `vestibule-gtk --lock` as alice in the sandbox (her own password via pam_unix).
fn lock_as_alice(work: &Work, x: &Xvfb, extra: &[&str]) -> GtkApp {
    let mut args: Vec<String> = ["setpriv", "--reuid=alice", "--regid=alice", "--init-groups", "--"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(binary("vestibule-gtk").to_string_lossy().into_owned());
    args.extend([
        "--lock".into(),
        "--pam-confdir".into(),
        work.pam_dir().to_string_lossy().into_owned(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    GtkApp::spawn(sandboxed(work, &args), x, &work.path().join("probe"))
}

/// Starts `vestibule-gtk` with these arguments as root, outside the sandbox.
fn gtk_as_root(work: &Work, x: &Xvfb, args: &[&str]) -> GtkApp {
    let mut cmd = Command::new(binary("vestibule-gtk"));
    cmd.args(args)
        .args(["--pam-confdir", work.pam_dir().to_str().unwrap()]);
    GtkApp::spawn(cmd, x, &work.path().join("probe"))
}

/// Asserts the whole screen is the lock screen: no magenta anywhere, lock background in the
/// corners.
fn assert_covered(x: &Xvfb, work: &Work, name: &str) {
    let shot = x.screenshot(&work.path().join(format!("{name}.png")));
    assert_eq!(shot.count(MAGENTA), 0, "{name}: uncovered pixels");
    for (px, py) in [
        (0, 0),
        (x.width - 1, 0),
        (0, x.height - 1),
        (x.width - 1, x.height - 1),
    ] {
        assert_eq!(shot.pixel(px, py), LOCK_BG, "{name}: corner ({px},{py})");
    }
}

/// Waits until the screen is covered (a new locker starting), panicking after `limit`.
fn wait_covered(x: &Xvfb, work: &Work, limit: Duration) {
    let start = Instant::now();
    loop {
        let shot = x.screenshot(&work.path().join("poll.png"));
        if shot.count(MAGENTA) == 0 {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "the screen was not covered again within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn uncovered_pixels(x: &Xvfb, work: &Work, name: &str) -> usize {
    x.screenshot(&work.path().join(format!("{name}.png")))
        .count(MAGENTA)
}

#[test]
fn the_lock_screen_covers_everything_refuses_to_close_and_unlocks_only_with_the_right_password() {
    let work = Work::new();
    work.service_as("lock-unix", "vestibule-lock", &[]);
    let mut x = Xvfb::start(800, 600);
    x.backdrop("ff00ff");
    assert_eq!(
        uncovered_pixels(&x, &work, "before"),
        800 * 600,
        "the magenta background shows"
    );
    let mut l = lock_as_alice(&work, &x, &["--fail-delay-ms", "800"]);
    let s = l.wait_focus("password-entry");
    assert!(s.contains("Locked by alice"), "{s}");
    assert_covered(&x, &work, "locked");

    // Escape, Alt-F4 and a window manager's close request change nothing.
    x.key("Escape");
    x.key("alt+F4");
    x.close_like_a_window_manager("Locked");
    std::thread::sleep(Duration::from_millis(300));
    assert!(l.still_running(), "the lock screen closed");
    assert_covered(&x, &work, "after-close-attempts");

    let s = l.answer(&x, "Password", "password-entry", "not-her-password");
    assert!(s.contains("Locked by alice"), "{s}");
    l.wait("Please wait");
    let again = l.answer(&x, "Password", "password-entry", "alice-pw-1");
    assert!(
        again.contains("label[error]: Wrong password."),
        "the failure is shown:\n{again}"
    );
    assert_eq!(l.exit_code(LIMIT), Some(0), "unlocked");
    assert_eq!(
        uncovered_pixels(&x, &work, "unlocked"),
        800 * 600,
        "the screen is uncovered"
    );

    // pam_authenticate twice, then pam_setcred(PAM_REFRESH_CRED) once; never a new session.
    let rec = work.record();
    assert_eq!(count(&rec, "authenticate"), 2, "{rec:?}");
    let setcred: Vec<_> = rec.iter().filter(|r| r.function == "setcred").collect();
    assert_eq!(setcred.len(), 1, "{rec:?}");
    assert_eq!(setcred[0].flags, 0x10, "PAM_REFRESH_CRED: {rec:?}");
    assert_eq!(count(&rec, "open_session"), 0, "{rec:?}");
    assert!(rec.iter().all(|r| r.user == "alice"), "{rec:?}");
    let log = work.read("syslog");
    assert!(
        log.contains("vestibule-lock["),
        "logged under the lock screen's name: {log}"
    );
    assert!(
        log.contains("FAILED UNLOCK ON") && log.contains("FOR 'alice'"),
        "{log}"
    );
    assert!(
        log.contains(&format!("UNLOCK ON {} BY alice", x.display)),
        "{log}"
    );
}

/// The right password unlocks even when `pam_setcred(PAM_REFRESH_CRED)` fails (pam_deny's
/// setcred in the stack): the failure is in the auth log, the user is not kept out.
#[test]
fn a_failing_credential_refresh_after_the_right_password_is_logged_and_still_unlocks() {
    let work = Work::new();
    work.service_as("lock-setcred-fails", "vestibule-lock", &[]);
    let mut x = Xvfb::start(640, 480);
    x.backdrop("ff00ff");
    let mut l = lock_as_alice(&work, &x, &["--fail-delay-ms", "10"]);
    l.wait_focus("password-entry");
    assert_covered(&x, &work, "locked");
    l.answer(&x, "Password", "password-entry", "alice-pw-1");
    assert_eq!(l.exit_code(LIMIT), Some(0), "unlocked despite the failed refresh");
    assert_eq!(
        uncovered_pixels(&x, &work, "unlocked"),
        640 * 480,
        "the screen is uncovered"
    );
    let rec = work.record();
    let setcred: Vec<_> = rec.iter().filter(|r| r.function == "setcred").collect();
    assert_eq!(setcred.len(), 1, "{rec:?}");
    assert_eq!(setcred[0].flags, 0x10, "PAM_REFRESH_CRED: {rec:?}");
    let log = work.read("syslog");
    assert!(
        log.contains(&format!(
            "UNLOCK ON {} FOR 'alice': cannot refresh credentials, Failure setting user credentials",
            x.display
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("UNLOCK ON {} BY alice", x.display)),
        "{log}"
    );
    assert!(!log.contains("alice-pw-1"), "{log}");
}

#[test]
fn every_prompt_is_shown_and_answered_and_typing_ahead_is_never_an_attempt() {
    // Two calls: the password, then a code — each answered by the user, the password not reused.
    let work = Work::new();
    work.service_as("lock-multi", "vestibule-lock", &[]);
    let x = Xvfb::start(800, 600);
    let mut l = gtk_as_root(&work, &x, &["--lock", "--fail-delay-ms", "10"]);
    l.answer(&x, "Password", "password-entry", "secret1");
    l.answer(&x, "Verification code", "entry", "123456");
    assert_eq!(l.exit_code(LIMIT), Some(0));
    assert_eq!(count(&work.record(), "authenticate"), 1);
    drop(l);

    // sleepy.py works 2 s before it asks: what is typed meanwhile (and after the right answer)
    // goes nowhere.
    let work = Work::new();
    work.service_as("lock-sleepy", "vestibule-lock", &[]);
    let mut l = gtk_as_root(&work, &x, &["--lock", "--fail-delay-ms", "10"]);
    l.wait("Checking…");
    x.type_text("typed-ahead");
    x.key("Return");
    let s = l.answer(&x, "Password", "password-entry", "secret1");
    assert!(
        !s.contains("Wrong password"),
        "the typed-ahead text was not an attempt:\n{s}"
    );
    x.type_text("after");
    x.key("Return");
    assert_eq!(l.exit_code(LIMIT), Some(0));
    assert_eq!(
        count(&work.record(), "authenticate"),
        1,
        "one attempt, the user's"
    );
}

/// The tests' private bus with the agent on it, killed on drop.
struct AgentBus {
    agent: Child,
    bus: PrivateBus,
}

impl AgentBus {
    fn start(work: &Work, locker_command: &str) -> AgentBus {
        let bus = PrivateBus::start(work);
        let agent = Command::new(binary("vestibule-agent"))
            .args(["--bus-address", &bus.address])
            .arg("--state")
            .arg(work.path().join("agent-state.json"))
            .arg("--pam-confdir")
            .arg(work.pam_dir())
            .args(["--locker-command", locker_command])
            .env("VESTIBULE_LOG", "info")
            // Passed on to the lock screens the agent starts.
            .env("VESTIBULE_GTK_PROBE", work.path().join("probe"))
            .stdout(Stdio::null())
            .stderr(fs::File::create(work.path().join("agent.log")).unwrap())
            .spawn()
            .expect("vestibule-agent");
        let this = AgentBus { agent, bus };
        let start = Instant::now();
        while this.bus.client().list().is_err() {
            assert!(
                start.elapsed() < LIMIT,
                "the agent did not start: {}",
                work.read("agent.log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        this
    }
}

impl AgentBus {
    /// The agent killed (SIGKILL: a crash, nothing cleaned up), the bus left running.
    fn kill_agent(&mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
    }

    /// A new agent on the same bus and state file, as systemd restarts it; waits until it
    /// answers.
    fn restart_agent(&mut self, work: &Work, locker_command: &str) {
        let log = fs::OpenOptions::new()
            .append(true)
            .open(work.path().join("agent.log"))
            .unwrap();
        self.agent = Command::new(binary("vestibule-agent"))
            .args(["--bus-address", &self.bus.address])
            .arg("--state")
            .arg(work.path().join("agent-state.json"))
            .arg("--pam-confdir")
            .arg(work.pam_dir())
            .args(["--locker-command", locker_command])
            .env("VESTIBULE_LOG", "info")
            .env("VESTIBULE_GTK_PROBE", work.path().join("probe"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("vestibule-agent");
        let start = Instant::now();
        while self.bus.client().list().is_err() {
            assert!(
                start.elapsed() < LIMIT,
                "the agent did not start again: {}",
                work.read("agent.log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AgentBus {
    fn drop(&mut self) {
        // The agent first; the bus goes when `bus` is dropped after this.
        let _ = self.agent.kill();
        let _ = self.agent.wait();
    }
}

#[test]
fn the_lock_daemon_locks_on_the_agents_signal_and_a_killed_locker_is_replaced_at_once() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "")]);
    work.service_as("lock-accounts", "vestibule-lock", &[]);
    // The X server wants a cookie, as a display manager's does: the lock screen the agent starts
    // in place of a killed one must be given the cookie the old one had.
    let mut x = Xvfb::start_with_cookie(800, 600, &work.path().join("xauthority"));
    x.backdrop("ff00ff");
    let gtk = binary("vestibule-gtk");
    let locker = format!(
        "{} --lock-daemon --session {{id}} --pam-confdir {}",
        gtk.display(),
        work.pam_dir().display()
    );
    let bus = AgentBus::start(&work, &locker);
    let client = bus.bus.client();
    // A stand-in session of root's on this display: a sleeping leader, this test as supervisor.
    let leader = Reaped::spawn(Command::new("sleep").arg("600").process_group(0));
    let id = client
        .register(&NewSession {
            user: "root".into(),
            uid: 0,
            tty: String::new(),
            display: x.display.clone(),
            remote_host: String::new(),
            service: "vestibule".into(),
            leader: leader.id(),
            supervisor: std::process::id(),
            class: "user".into(),
        })
        .unwrap();

    let mut daemon = gtk_as_root(
        &work,
        &x,
        &["--lock-daemon", "--session", &id, "--agent-bus", &bus.bus.address],
    );
    daemon.wait("no windows");
    assert_eq!(
        uncovered_pixels(&x, &work, "idle"),
        800 * 600,
        "nothing drawn before the lock"
    );

    // LockSession replies only once the lock screen reported the screen covered and its input
    // grabbed: both hold the moment it returns, with no waiting.
    client.lock(&id).unwrap();
    assert_covered(&x, &work, "covered-when-lock-session-replied");
    let probe = fs::read_to_string(&daemon.probe).unwrap_or_default();
    assert!(probe.contains("\ninput grabbed\n"), "{probe}");
    daemon.wait_focus("password-entry");
    assert_covered(&x, &work, "locked-by-signal");
    assert_eq!(client.get(&id).unwrap().state, "locked");

    // The lock screen is killed: the agent starts another, which covers the screen again.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = daemon.exit_code(LIMIT);
    wait_covered(&x, &work, LIMIT);
    assert_eq!(
        client.get(&id).unwrap().state,
        "locked",
        "still locked through the crash"
    );
    let log = work.read("agent.log");
    assert!(log.contains("started a new one"), "{log}");

    // The new locker unlocks with the password and tells the agent on its own connection.
    let old = format!("pid={}\n", daemon.pid());
    wait_probe_until(
        &work.path().join("probe"),
        LIMIT,
        "the new lock screen's prompt",
        |s| !s.starts_with(&old) && focused(s).is_some_and(|l| l.starts_with("password-entry")),
    );
    x.type_text("toor-pw-1");
    x.key("Return");
    let start = Instant::now();
    while client.get(&id).unwrap().state != "active" {
        assert!(
            start.elapsed() < LIMIT,
            "the agent never heard of the unlock: {}",
            work.read("agent.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(uncovered_pixels(&x, &work, "unlocked-again"), 800 * 600);
    drop(leader);
}

/// The agent dies and comes back while the session is locked: the screen stays covered all along,
/// the session still reads `locked`, and the lock daemon registers with the new agent (whose
/// bus name it follows). A lock screen killed while the agent is down is replaced as soon as the
/// agent is back, and the replacement unlocks.
#[test]
fn an_agent_restart_while_locked_never_uncovers_and_a_locker_lost_meanwhile_is_replaced() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "")]);
    work.service_as("lock-accounts", "vestibule-lock", &[]);
    let mut x = Xvfb::start(640, 480);
    x.backdrop("ff00ff");
    let gtk = binary("vestibule-gtk");
    let locker = format!(
        "{} --lock-daemon --session {{id}} --pam-confdir {}",
        gtk.display(),
        work.pam_dir().display()
    );
    let mut bus = AgentBus::start(&work, &locker);
    let client = bus.bus.client();
    let leader = Reaped::spawn(Command::new("sleep").arg("600").process_group(0));
    let id = client
        .register(&NewSession {
            user: "root".into(),
            uid: 0,
            display: x.display.clone(),
            service: "vestibule".into(),
            leader: leader.id(),
            supervisor: std::process::id(),
            class: "user".into(),
            ..NewSession::default()
        })
        .unwrap();
    let mut daemon = gtk_as_root(
        &work,
        &x,
        &["--lock-daemon", "--session", &id, "--agent-bus", &bus.bus.address],
    );
    daemon.wait("no windows");
    client.lock(&id).unwrap();
    daemon.wait_focus("password-entry");
    assert_covered(&x, &work, "locked");
    let registered = |work: &Work| work.read("agent.log").matches("lock screen registered").count();
    assert_eq!(registered(&work), 1);

    // Crash and restart: covered throughout, still locked, and the same lock screen registered.
    bus.kill_agent();
    std::thread::sleep(Duration::from_millis(300));
    assert!(daemon.still_running(), "the lock daemon ended with the agent");
    assert_covered(&x, &work, "agent-down");
    bus.restart_agent(&work, &locker);
    assert_eq!(client.get(&id).unwrap().state, "locked");
    let start = Instant::now();
    while registered(&work) < 2 {
        assert!(
            start.elapsed() < LIMIT,
            "the lock daemon never registered with the new agent: {}",
            work.read("agent.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_covered(&x, &work, "agent-back");
    assert!(
        !work.read("agent.log").contains("had no live lock screen"),
        "a live lock screen was replaced: {}",
        work.read("agent.log")
    );

    // Down again, and the lock screen killed meanwhile: the next agent starts a new one.
    bus.kill_agent();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = daemon.exit_code(LIMIT);
    bus.restart_agent(&work, &locker);
    wait_covered(&x, &work, LIMIT);
    assert_eq!(client.get(&id).unwrap().state, "locked");
    assert!(work
        .read("agent.log")
        .contains("had no live lock screen at start: started a new one"));
    let old = format!("pid={}\n", daemon.pid());
    wait_probe_until(
        &work.path().join("probe"),
        LIMIT,
        "the new lock screen's prompt",
        |s| !s.starts_with(&old) && focused(s).is_some_and(|l| l.starts_with("password-entry")),
    );
    x.type_text("toor-pw-1");
    x.key("Return");
    let start = Instant::now();
    while client.get(&id).unwrap().state != "active" {
        assert!(
            start.elapsed() < LIMIT,
            "the agent never heard of the unlock: {}",
            work.read("agent.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(leader);
}

/// A magenta desktop under a window manager: a window of type _NET_WM_WINDOW_TYPE_DESKTOP,
/// which the window manager keeps below every other (an override-redirect backdrop, as
/// `Xvfb::backdrop` makes, would stay above the windows it manages). Killed when dropped.
fn desktop_backdrop(x: &Xvfb, colour: &str) -> Reaped {
    let code = r#"
import sys
from Xlib import display, X, Xatom
d = display.Display(sys.argv[1])
s = d.screen()
w = s.root.create_window(0, 0, s.width_in_pixels, s.height_in_pixels, 0, s.root_depth,
    X.InputOutput, X.CopyFromParent, background_pixel=int(sys.argv[2], 16))
w.change_property(d.intern_atom("_NET_WM_WINDOW_TYPE"), Xatom.ATOM, 32,
    [d.intern_atom("_NET_WM_WINDOW_TYPE_DESKTOP")])
w.map()
d.sync()
while True:
    d.next_event()
"#;
    let child = Reaped::spawn(
        x.client("/usr/bin/python3")
            .args(["-c", code, &x.display, colour]),
    );
    let start = Instant::now();
    while x
        .screenshot(&std::env::temp_dir().join(format!("desktop-{}.png", std::process::id())))
        .count(MAGENTA)
        < (x.width * x.height / 2) as usize
    {
        assert!(start.elapsed() < LIMIT, "the desktop backdrop did not show");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Runs `xdotool ARGS` on `x` and returns its output (window ids).
fn xdotool_out(x: &Xvfb, args: &[&str]) -> String {
    let out = x.client("xdotool").args(args).output().expect("xdotool");
    assert!(out.status.success(), "xdotool {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Starts an xterm that reads one hidden line (a password prompt of its own) into `file`;
/// returns it with its window id, once the window is mapped.
fn xterm_reading_into(x: &Xvfb, file: &std::path::Path, title: &str) -> (Reaped, String) {
    let script = format!(
        "stty -echo; read -r line; printf %s \"$line\" > '{}'",
        file.display()
    );
    let child = Reaped::spawn(x.client("xterm").args([
        "-T",
        title,
        "-geometry",
        "60x10+20+20",
        "-e",
        "sh",
        "-c",
        &script,
    ]));
    let id = xdotool_out(x, &["search", "--sync", "--name", title]);
    let id = id.lines().next().unwrap().to_owned();
    (child, id)
}

/// Under a real window manager (openbox) with another application focused and a password prompt
/// of its own: the lock covers the screen and takes the keyboard (what is typed reaches the lock
/// screen, never the application), and neither the window manager's Alt-Tab nor the application
/// raising itself nor a window mapped after the lock uncovers it.
#[test]
fn under_a_window_manager_the_lock_screen_holds_keyboard_and_stacking() {
    let work = Work::new();
    work.service_as("lock-unix", "vestibule-lock", &[]);
    let x = Xvfb::start(800, 600);
    let _wm = Reaped::spawn(
        x.client("openbox")
            .args(["--sm-disable", "--config-file", "/dev/null"]),
    );
    // openbox is up once it has put its check window on the root window.
    let start = Instant::now();
    while !x
        .client("xprop")
        .args(["-root", "_NET_SUPPORTING_WM_CHECK"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("window id"))
        .unwrap_or(false)
    {
        assert!(start.elapsed() < LIMIT, "openbox did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _desktop = desktop_backdrop(&x, "ff00ff");
    let captured = work.path().join("captured");
    let (_term, term) = xterm_reading_into(&x, &captured, "other-app");
    x.xdotool(&["windowactivate", "--sync", &term]);
    assert!(
        uncovered_pixels(&x, &work, "desktop") > 0,
        "the backdrop shows before the lock"
    );

    let mut l = lock_as_alice(&work, &x, &["--fail-delay-ms", "10"]);
    l.wait_focus("password-entry");
    l.wait("input grabbed");
    assert_covered(&x, &work, "wm-locked");
    // The lock window is override-redirect, and openbox neither reparented it into a frame nor
    // moved or sized it: a child of the root window, exactly over the screen.
    let ids = xdotool_out(&x, &["search", "--name", "^Locked$"]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 1, "one lock window for the one monitor: {ids:?}");
    let out = x
        .client("xwininfo")
        .args(["-all", "-id", ids[0]])
        .output()
        .expect("xwininfo");
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(info.contains("Override Redirect State: yes"), "{info}");
    let parent = info
        .lines()
        .find(|l| l.trim_start().starts_with("Parent window id:"))
        .unwrap_or_default();
    assert!(parent.contains("(the root window)"), "reparented: {info}");
    for geometry in [
        "Absolute upper-left X:  0\n",
        "Absolute upper-left Y:  0\n",
        "Width: 800\n",
        "Height: 600\n",
    ] {
        assert!(info.contains(geometry), "{geometry:?}: {info}");
    }

    // The window manager's Alt-Tab, the other application activated and raised: still covered.
    x.key("alt+Tab");
    std::thread::sleep(Duration::from_millis(400));
    assert_covered(&x, &work, "wm-after-alt-tab");
    let _ = x.client("xdotool").args(["windowactivate", &term]).status();
    x.xdotool(&["windowraise", &term]);
    std::thread::sleep(Duration::from_millis(400));
    assert_covered(&x, &work, "wm-after-raise");
    // A window mapped after the lock.
    let late_file = work.path().join("captured-late");
    let (_late, _) = xterm_reading_into(&x, &late_file, "late-app");
    std::thread::sleep(Duration::from_millis(400));
    assert_covered(&x, &work, "wm-after-new-window");

    // Typing reaches the lock screen, not the applications behind it.
    x.type_text("meant-for-the-lock");
    x.key("Return");
    l.wait("Wrong password.");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !captured.exists(),
        "the other application got keys: {:?}",
        fs::read_to_string(&captured)
    );
    assert!(!late_file.exists(), "the late window got keys");
    l.answer(&x, "Password", "password-entry", "alice-pw-1");
    assert_eq!(l.exit_code(LIMIT), Some(0), "unlocked");
    assert!(
        uncovered_pixels(&x, &work, "wm-unlocked") > 0,
        "the desktop is back"
    );
    // The window manager never knew the (override-redirect) lock window: the lock screen gives
    // the keyboard focus back to the application that had it before the lock.
    x.type_text("after-unlock");
    x.key("Return");
    let start = Instant::now();
    while fs::read_to_string(&captured).unwrap_or_default() != "after-unlock" {
        assert!(
            start.elapsed() < LIMIT,
            "the application focused before the lock did not get the keys back: {:?}, focused {}",
            fs::read_to_string(&captured),
            xdotool_out(&x, &["getwindowfocus"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Another client holds the keyboard when the lock starts (a menu left open, another locker):
/// the lock screen covers the screen anyway, says on its card that it has no grab (after 3 s of
/// retries), and takes the grab as soon as the other client lets go.
#[test]
fn a_keyboard_grab_held_by_another_client_is_said_on_screen_and_taken_once_released() {
    let work = Work::new();
    work.service_as("lock-unix", "vestibule-lock", &[]);
    let mut x = Xvfb::start(800, 600);
    x.backdrop("ff00ff");
    let ready = work.path().join("other-grab");
    let code = r#"
import sys, time
from Xlib import display, X
d = display.Display(sys.argv[1])
status = d.screen().root.grab_keyboard(True, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
d.sync()
open(sys.argv[2], "w").write(str(status))
while True:
    time.sleep(1)
"#;
    let grabber =
        Reaped::spawn(
            x.client("/usr/bin/python3")
                .args(["-c", code, &x.display, ready.to_str().unwrap()]),
        );
    let start = Instant::now();
    while fs::read_to_string(&ready).unwrap_or_default() != "0" {
        assert!(
            start.elapsed() < LIMIT,
            "the other client did not grab the keyboard"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut l = lock_as_alice(&work, &x, &[]);
    let s = l.wait("Another program holds the keyboard or mouse");
    assert!(s.contains("input not grabbed"), "{s}");
    assert_covered(&x, &work, "other-grab-locked");
    drop(grabber);
    let s = l.wait("input grabbed");
    assert!(
        !s.contains("Another program holds"),
        "the warning goes with the grab had: {s}"
    );
    assert_covered(&x, &work, "other-grab-released");
    assert!(l.still_running(), "still locked");
}

/// `dbus-send --type=signal` of the agent's `member` with `args`, as nobody or as root: anyone
/// on the bus trying to pass for the agent.
fn forge_signal(bus: &PrivateBus, as_nobody: bool, member: &str, args: &[&str]) {
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "dbus-send"]);
        c
    } else {
        Command::new("dbus-send")
    };
    cmd.arg(format!("--bus={}", bus.address))
        .args(["--type=signal", "/org/vestibule/SessionAgent1"])
        .arg(format!("org.vestibule.SessionAgent1.{member}"))
        .args(args);
    let out = cmd.output().expect("dbus-send");
    assert!(out.status.success(), "dbus-send {member}: {out:?}");
}

/// Every signal on the agent's interface this connection is sent, whoever sent it:
/// (sender's unique name, member).
fn listen_to_agent_signals(
    client: &vestibule_agent::client::Client,
) -> std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.vestibule.SessionAgent1")
        .unwrap()
        .build();
    let messages =
        zbus::blocking::MessageIterator::for_match_rule(rule, client.connection(), Some(64)).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = seen.clone();
    std::thread::spawn(move || {
        for m in messages.flatten() {
            let h = m.header();
            let sender = h.sender().map(|s| s.to_string()).unwrap_or_default();
            let member = h.member().map(|s| s.to_string()).unwrap_or_default();
            into.lock().unwrap().push((sender, member));
        }
    });
    seen
}

/// Another user's forged `Unlock` and `SessionRemoved` never reach anyone (the shipped policy
/// refuses them), and root's — root not being the agent — reach the lock daemon, which ignores
/// them: the screen stays covered, and only the password unlocks it.
#[test]
fn forged_unlock_and_session_removed_signals_leave_the_screen_covered() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "")]);
    work.service_as("lock-accounts", "vestibule-lock", &[]);
    let mut x = Xvfb::start(640, 480);
    x.backdrop("ff00ff");
    let bus = AgentBus::start(&work, "");
    let client = bus.bus.client();
    let leader = Reaped::spawn(Command::new("sleep").arg("600").process_group(0));
    let id = client
        .register(&NewSession {
            user: "root".into(),
            uid: 0,
            display: x.display.clone(),
            service: "vestibule".into(),
            leader: leader.id(),
            supervisor: std::process::id(),
            class: "user".into(),
            ..NewSession::default()
        })
        .unwrap();
    let mut daemon = gtk_as_root(
        &work,
        &x,
        &["--lock-daemon", "--session", &id, "--agent-bus", &bus.bus.address],
    );
    daemon.wait("no windows");
    let listener = bus.bus.client();
    let seen = listen_to_agent_signals(&listener);
    client.lock(&id).unwrap();
    daemon.wait_focus("password-entry");
    assert_covered(&x, &work, "locked");
    let path = format!("objpath:/org/vestibule/SessionAgent1/session/{id}");
    let id_arg = format!("string:{id}");

    // uid 65534: refused by the bus, so nobody even hears it.
    forge_signal(&bus.bus, true, "Unlock", &[&id_arg]);
    forge_signal(&bus.bus, true, "SessionRemoved", &[&id_arg, &path]);
    // root, who is not the agent: delivered, and ignored by the lock daemon.
    forge_signal(&bus.bus, false, "Unlock", &[&id_arg]);
    forge_signal(&bus.bus, false, "SessionRemoved", &[&id_arg, &path]);
    let start = Instant::now();
    while seen.lock().unwrap().iter().filter(|(_, m)| m != "Lock").count() < 2 {
        assert!(
            start.elapsed() < LIMIT,
            "root's forged signals never arrived: {:?}",
            seen.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let forged: Vec<(String, String)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m != "Lock")
        .cloned()
        .collect();
    assert_eq!(
        forged.len(),
        2,
        "only root's two forgeries were delivered: {forged:?}"
    );
    assert!(
        daemon.still_running(),
        "a forged SessionRemoved ended the lock screen"
    );
    assert_covered(&x, &work, "after-forgeries");
    assert_eq!(client.get(&id).unwrap().state, "locked");
    let log = fs::read_to_string(&daemon.probe).unwrap_or_default();
    assert!(
        focused(&log).is_some_and(|l| l.starts_with("password-entry")),
        "{log}"
    );

    // The password still unlocks, and the agent hears of it.
    x.type_text("toor-pw-1");
    x.key("Return");
    let start = Instant::now();
    while client.get(&id).unwrap().state != "active" {
        assert!(
            start.elapsed() < LIMIT,
            "the agent never heard of the unlock: {}",
            work.read("agent.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(leader);
}

#[test]
fn a_monitor_plugged_in_while_locked_is_covered_at_once() {
    // Under a headless sway: its outputs can be created while the lock screen runs.
    let work = Work::new();
    work.service_as("lock-accounts", "vestibule-lock", &[]);
    let sway = Sway::start(work.path());
    let mut cmd = Command::new(binary("vestibule-gtk"));
    cmd.args(["--lock", "--pam-confdir", work.pam_dir().to_str().unwrap()]);
    sway.client_env(&mut cmd);
    let probe = work.path().join("probe");
    let mut l = GtkApp::spawn_on(cmd, &probe);
    let s = l.wait_focus("password-entry");
    assert_eq!(s.matches("\nwindow visible=true").count(), 1, "{s}");
    let first = sway.screenshot("HEADLESS-1", &work.path().join("one.png"));
    assert_eq!(first.count(MAGENTA), 0, "the first monitor is covered");

    sway.swaymsg(&["create_output"]);
    let s = wait_probe_until(&probe, LIMIT, "a window on the new monitor", |s| {
        s.matches("\nwindow visible=true").count() == 2
    });
    assert!(s.contains("monitors 1280x720+0+0 1920x1080+1280+0"), "{s}");
    // The window is mapped; give the compositor a moment to show its frame, then every pixel of
    // the new monitor must be the lock screen.
    let start = Instant::now();
    loop {
        let shot = sway.screenshot("HEADLESS-2", &work.path().join("two.png"));
        let total = (shot.width * shot.height) as usize;
        if shot.count(LOCK_BG) == total {
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "the new monitor is not covered: {} of {total} pixels are the lock screen's",
            shot.count(LOCK_BG)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = sway.screenshot("HEADLESS-1", &work.path().join("one-after.png"));
    assert_eq!(first.count(MAGENTA), 0, "the first monitor is still covered");
    assert!(l.still_running(), "still locked");
}

/// openbox on `x`, up once it has put its check window on the root window.
fn openbox(x: &Xvfb) -> Reaped {
    let wm = Reaped::spawn(
        x.client("openbox")
            .args(["--sm-disable", "--config-file", "/dev/null"]),
    );
    let start = Instant::now();
    while !x
        .client("xprop")
        .args(["-root", "_NET_SUPPORTING_WM_CHECK"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("window id"))
        .unwrap_or(false)
    {
        assert!(start.elapsed() < LIMIT, "openbox did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    wm
}

/// Issue 12: a password typed 3 s after the lock screen showed a 64 KiB module message must
/// reach the password field and unlock, every time. hostile.py sends the message in one
/// conversation call and asks for the password in the next; the test types as a person would,
/// once the message is on the card, without waiting for anything else. Under openbox on a small
/// screen: the message used to make the lock window taller than the monitor (the window manager
/// then left it 640x721, the password field below the screen's edge).
#[test]
fn a_password_typed_right_after_a_64_kib_message_unlocks_20_runs_out_of_20() {
    const RUNS: usize = 20;
    let work = Work::new();
    work.service_as("lock-huge", "vestibule-lock", &[]);
    let x = Xvfb::start(640, 480);
    let _wm = openbox(&x);
    let _desktop = desktop_backdrop(&x, "ff00ff");
    let mut lost = Vec::new();
    for run in 1..=RUNS {
        let _ = fs::remove_file(work.path().join("probe"));
        let before = count(&work.record(), "authenticate");
        let mut l = gtk_as_root(&work, &x, &["--lock", "--fail-delay-ms", "10"]);
        let shown = l.wait("HUGE-START");
        assert!(shown.contains("Locked by root"), "run {run}: {shown}");
        std::thread::sleep(Duration::from_secs(3));
        let probe = fs::read_to_string(&l.probe).unwrap_or_default();
        // Override-redirect (never made full screen by the window manager): placed by the lock
        // screen itself over its monitor.
        assert!(
            probe
                .lines()
                .any(|l| l.starts_with("window visible=true classes=lock,") && l.ends_with(" size=640x480")),
            "run {run}: the lock window is not its monitor's size: {}",
            probe.lines().take(5).collect::<Vec<_>>().join("\n")
        );
        assert_eq!(
            uncovered_pixels(&x, &work, &format!("huge-{run}")),
            0,
            "run {run}: uncovered pixels"
        );
        x.type_text("secret1");
        x.key("Return");
        let start = Instant::now();
        while l.still_running() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(25));
        }
        if l.still_running() {
            let probe = fs::read_to_string(&l.probe).unwrap_or_default();
            let probe: Vec<&str> = probe.lines().filter(|l| !l.contains("HUGE-START")).collect();
            lost.push(format!("run {run}, on screen:\n{}", probe.join("\n")));
            continue;
        }
        assert_eq!(l.exit_code(LIMIT), Some(0), "run {run}");
        assert_eq!(
            count(&work.record(), "authenticate"),
            before + 1,
            "run {run}: one attempt, the user's"
        );
        let after = x.screenshot(&work.path().join(format!("huge-{run}-unlocked.png")));
        assert_eq!(after.count(LOCK_BG), 0, "run {run}: the lock screen is gone");
        assert!(after.count(MAGENTA) > 0, "run {run}: the desktop shows again");
    }
    assert!(
        lost.is_empty(),
        "{} of {RUNS} runs did not unlock:\n{}",
        lost.len(),
        lost.join("\n")
    );
}

/// wtype (a virtual keyboard) on `sway`: types `text`, or presses `key` with `-k`. Each run
/// uploads a keymap of its own; the first key right after it can reach the client before the
/// keymap does and be lost, so wtype waits 200 ms (`-s`) before typing.
fn wtype(sway: &Sway, args: &[&str]) {
    let mut cmd = Command::new("wtype");
    sway.client_env(&mut cmd);
    let st = cmd
        .args(["-s", "200"])
        .args(args)
        .status()
        .expect("wtype (package wtype)");
    assert!(st.success(), "wtype {args:?}: {st}");
}

/// Issue 12: when the monitor list changes while the user types, the lock screen maps a new set
/// of windows and moves the card to the new first window; the field, what was typed in it and
/// the keyboard focus go with it, so the rest of the answer lands after the first part. The
/// answer typed across the change is lock-multi's visible one-time code, so the probe shows it.
#[test]
fn a_monitor_plugged_in_while_typing_keeps_the_field_its_text_and_the_focus() {
    let work = Work::new();
    work.service_as("lock-multi", "vestibule-lock", &[]);
    let sway = Sway::start(work.path());
    let mut cmd = Command::new(binary("vestibule-gtk"));
    cmd.args(["--lock", "--fail-delay-ms", "10", "--pam-confdir"])
        .arg(work.pam_dir());
    sway.client_env(&mut cmd);
    let probe = work.path().join("probe");
    let mut l = GtkApp::spawn_on(cmd, &probe);
    l.wait_focus("password-entry");
    wtype(&sway, &["secret1"]);
    wtype(&sway, &["-k", "Return"]);
    let typed = |text: &str| {
        let want = format!("entry focus: {text}");
        wait_probe_until(&probe, LIMIT, &want.clone(), move |s| {
            s.contains("Verification code") && focused(s) == Some(want.as_str())
        })
    };
    wait_probe_until(&probe, LIMIT, "the code prompt", |s| {
        s.contains("Verification code") && focused(s).is_some_and(|f| f.starts_with("entry"))
    });
    wtype(&sway, &["123"]);
    typed("123");
    sway.swaymsg(&["create_output"]);
    wait_probe_until(&probe, LIMIT, "a window on the new monitor", |s| {
        s.matches("\nwindow visible=true").count() == 2
    });
    std::thread::sleep(Duration::from_millis(300));
    typed("123");
    wtype(&sway, &["456"]);
    typed("123456");
    wtype(&sway, &["-k", "Return"]);
    assert_eq!(l.exit_code(LIMIT), Some(0), "unlocked");
    assert_eq!(count(&work.record(), "authenticate"), 1, "one attempt");
}

/// A keyboard that stays plugged in, as on a real machine: a wtype that sleeps for an hour
/// before typing anything (killed at the end). Why: the headless sway has no keyboard of its
/// own, so each `wtype` run is a keyboard plugged in and pulled out; the seat gains and loses
/// its keyboard capability each time, and a client must create a new `wl_keyboard` first. A
/// client busy for longer than wtype's 200 ms (laying out a 64 KiB message) created it only
/// after wtype had typed and gone: sway had nowhere to send the keys (WAYLAND_DEBUG showed
/// `wl_seat.capabilities(2)` and `(0)` read back to back, no `enter`, no `key`). With this one
/// present the capability never changes, and each wtype is only a new active keyboard whose
/// keymap sway sends ahead of its keys.
fn plugged_keyboard(sway: &Sway) -> Reaped {
    let mut cmd = Command::new("wtype");
    sway.client_env(&mut cmd);
    cmd.args(["-s", "3600000", "x"]);
    let keyboard = Reaped::spawn(&mut cmd);
    // Up once the seat shows a keyboard.
    let start = Instant::now();
    while !sway.swaymsg(&["-t", "get_inputs"]).contains("keyboard") {
        assert!(start.elapsed() < LIMIT, "no virtual keyboard on the seat");
        std::thread::sleep(Duration::from_millis(50));
    }
    keyboard
}

/// Issue 12, the same with a 64 KiB module message on the card (hostile.py mode=huge before
/// lock-multi's password and code), and the code typed *while* the monitor is plugged in: a
/// wtype types the second half a key every 40 ms while `create_output` runs, so keys arrive
/// before, during and after the change. Every key must land in the code field, in order, and
/// the lock must open, in each of `RUNS` runs (a fresh sway each time).
///
/// The lock screen used to replace its whole window set: the card window was destroyed at once
/// and the new one, slow to draw its first frame with the long message, was mapped by sway
/// about 100 ms later; keys typed in between had no focused surface (WAYLAND_DEBUG:
/// `wl_keyboard.leave(nil)` after the old surface's destroy, `enter` on a new surface 100 ms
/// later) and were lost in 9 of 10 runs here. The old stop saw 2-3 of 6: at that rate (0.4 a
/// run) 10 runs all pass by chance with probability 0.6^10 < 1 %.
#[test]
fn a_monitor_plugged_in_while_typing_under_a_64_kib_message_loses_no_key() {
    const RUNS: usize = 10;
    let mut lost = Vec::new();
    for run in 1..=RUNS {
        let work = Work::new();
        work.service_as("lock-huge", "vestibule-lock", &[]);
        let service = work.pam_dir().join("vestibule-lock");
        let text = fs::read_to_string(&service).unwrap();
        let hostile = text
            .lines()
            .find(|l| l.starts_with("auth") && l.contains("hostile.py"))
            .unwrap()
            .to_owned();
        let multi = hostile.replace(
            "hostile.py mode=huge password=secret1",
            "multi_prompt.py password=secret1 code=123456",
        );
        fs::write(&service, text.replace(&hostile, &format!("{hostile}\n{multi}"))).unwrap();
        let sway = Sway::start(work.path());
        let _keyboard = plugged_keyboard(&sway);
        let mut cmd = Command::new(binary("vestibule-gtk"));
        cmd.args(["--lock", "--fail-delay-ms", "10", "--pam-confdir"])
            .arg(work.pam_dir());
        sway.client_env(&mut cmd);
        let probe = work.path().join("probe");
        let mut l = GtkApp::spawn_on(cmd, &probe);
        l.wait("HUGE-START");
        l.wait_focus("password-entry");
        wtype(&sway, &["secret1"]);
        wtype(&sway, &["-k", "Return"]);
        // multi_prompt's own password prompt: a new batch.
        wait_probe_until(&probe, LIMIT, "the second password prompt", |s| {
            s.contains("batch-2") && focused(s).is_some_and(|f| f.starts_with("password-entry"))
        });
        wtype(&sway, &["secret1"]);
        wtype(&sway, &["-k", "Return"]);
        wait_probe_until(&probe, LIMIT, "the code prompt", |s| {
            s.contains("Verification code") && focused(s).is_some_and(|f| f.starts_with("entry"))
        });
        assert!(
            fs::read_to_string(&probe).unwrap().contains("HUGE-START"),
            "run {run}: the long message is still on the card"
        );
        wtype(&sway, &["123"]);
        wait_probe_until(&probe, LIMIT, "123 typed", |s| {
            focused(s) == Some("entry focus: 123")
        });
        let mut typing = Command::new("wtype");
        sway.client_env(&mut typing);
        let mut typing = typing
            .args(["-s", "200", "-d", "40", "456"])
            .spawn()
            .expect("wtype (package wtype)");
        std::thread::sleep(Duration::from_millis(230));
        sway.swaymsg(&["create_output"]);
        assert!(typing.wait().unwrap().success(), "wtype");
        wait_probe_until(&probe, LIMIT, "a window on the new monitor", |s| {
            s.matches("\nwindow visible=true").count() == 2
        });
        let start = Instant::now();
        let mut shown = String::new();
        while start.elapsed() < Duration::from_secs(3) {
            shown = fs::read_to_string(&probe).unwrap_or_default();
            if focused(&shown) == Some("entry focus: 123456") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if focused(&shown) != Some("entry focus: 123456") {
            lost.push(format!(
                "run {run}: focused {:?}; sway log tail: {}",
                focused(&shown),
                fs::read_to_string(work.path().join("sway.log"))
                    .unwrap_or_default()
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
            continue;
        }
        wtype(&sway, &["-k", "Return"]);
        let start = Instant::now();
        while l.still_running() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(25));
        }
        if l.still_running() {
            let shown = fs::read_to_string(&probe).unwrap_or_default();
            lost.push(format!(
                "run {run}: the code was typed whole but no unlock (a password key lost?): {}",
                shown
                    .lines()
                    .filter(|l| !l.contains("HUGE-START"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
            continue;
        }
        assert_eq!(l.exit_code(LIMIT), Some(0), "run {run}: unlocked");
    }
    assert!(
        lost.is_empty(),
        "{} of {RUNS} runs lost keys:\n{}",
        lost.len(),
        lost.join("\n")
    );
}
