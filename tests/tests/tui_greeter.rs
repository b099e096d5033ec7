//! The full-screen greeter (`vestibule-tui` without `--plain`) end to end, in a real terminal:
//! tmux runs it (one tmux server per test, on its own socket), `send-keys` types and
//! `capture-pane` reads the screen. Real libpam and the fixture modules, real accounts in the root
//! sandbox (`tests/sandbox/run.sh`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use vestibule_e2e::*;

/// The longest any single screen state may take to appear.
const WAIT: Duration = Duration::from_secs(20);

/// A session command that shows who it runs as, leaves the greeter's pid (its parent) in the work
/// dir, and lingers so the screen can be read.
fn session_cmd(work: &Work, linger: &str, code: u32) -> Vec<String> {
    let dir = work.path().display();
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "echo \"SESSION user=$(id -un) type=$XDG_SESSION_TYPE\"; echo $PPID > {dir}/greeter.pid; \
             echo ran > {dir}/session.marker; sleep {linger}; exit {code}"
        ),
    ]
}

/// One greeter in one tmux server.
struct Greeter {
    socket: String,
}

impl Greeter {
    /// Starts the greeter in a `cols`×`rows` terminal inside the sandbox, with a config in the
    /// work dir (`extra` appended to it) and `command` as the first session.
    fn start(work: &Work, name: &str, size: (u16, u16), extra: &str, command: &[String]) -> Greeter {
        require_root();
        let dir = work.path();
        std::fs::write(dir.join("issue"), "Vestibule test \\n on \\l\n").unwrap();
        let config = format!(
            "[greeter]\nissue_file = \"{d}/issue\"\nstate_file = \"{d}/tui-state\"\n\
             clock_format = \"%H:%M\"\n{extra}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let mut argv = vec![
            tests_dir().join("sandbox/run.sh").display().to_string(),
            dir.display().to_string(),
            binary("vestibule-tui").display().to_string(),
            "--config".into(),
            dir.join("config.toml").display().to_string(),
            "--pam-confdir".into(),
            work.pam_dir().display().to_string(),
            "--fail-delay-ms".into(),
            "300".into(),
            "--".into(),
        ];
        argv.extend(command.iter().cloned());
        let line = argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
        // After the greeter: its exit status and whether the terminal is back in cooked mode.
        let script = format!(
            "{line} 2>{err}; echo \"EXITED=$?\"; case \"$(stty -a)\" in *-icanon*) echo TTY=raw;; \
             *) echo TTY=cooked;; esac; sleep 600",
            err = quote(&dir.join("stderr").display().to_string())
        );
        let socket = format!("vestibule-test-{}-{name}", std::process::id());
        let g = Greeter { socket };
        let ok = g
            .tmux()
            .args([
                "new-session",
                "-d",
                "-x",
                &size.0.to_string(),
                "-y",
                &size.1.to_string(),
            ])
            .arg(script)
            .status()
            .expect("tmux");
        assert!(ok.success(), "tmux new-session failed");
        g
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        let ok = self.tmux().args(["send-keys", "-l", text]).status().unwrap();
        assert!(ok.success());
    }

    /// Presses keys by tmux name (Enter, Escape, C-c, F2, ...).
    fn keys(&self, keys: &[&str]) {
        let ok = self.tmux().arg("send-keys").args(keys).status().unwrap();
        assert!(ok.success());
    }

    /// Types a line and presses Enter.
    fn line(&self, text: &str) {
        self.type_text(text);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        let out = self.tmux().args(["capture-pane", "-p"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `needle`; returns the screen.
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < WAIT,
                "{needle:?} did not appear; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the greeter to exit; returns its status and the screen.
    fn wait_exit(&self) -> (i32, String) {
        let s = self.wait_for("TTY=");
        let code = s
            .lines()
            .find_map(|l| l.trim().strip_prefix("EXITED="))
            .and_then(|c| c.parse().ok())
            .expect("exit status");
        (code, s)
    }

    /// The greeter's pid, found among the tmux pane's descendants by its name.
    fn pid(&self) -> i32 {
        let out = self
            .tmux()
            .args(["display-message", "-p", "#{pane_pid}"])
            .output()
            .unwrap();
        let root: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let mut queue = vec![root];
        while let Some(pid) = queue.pop() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "vestibule-tui" {
                return pid;
            }
            let children =
                std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            queue.extend(children.split_whitespace().filter_map(|c| c.parse::<i32>().ok()));
        }
        panic!("no vestibule-tui process under the tmux pane");
    }

    fn signal(&self, pid: i32, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
    }
}

impl Drop for Greeter {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
        // tmux leaves its socket file behind.
        let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
        let uid = nix::unistd::Uid::effective();
        let _ = std::fs::remove_file(format!("{dir}/tmux-{uid}/{}", self.socket));
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Every row between the card's top and bottom border starts and ends with a border character.
fn assert_card_intact(screen: &str) {
    let rows: Vec<&str> = screen.lines().collect();
    let top = rows.iter().position(|r| r.contains('┌')).expect("card top");
    let bottom = rows.iter().position(|r| r.contains('└')).expect("card bottom");
    let left = rows[top].chars().position(|c| c == '┌').unwrap();
    for r in &rows[top + 1..bottom] {
        assert_eq!(r.chars().nth(left), Some('│'), "broken card:\n{screen}");
        assert_eq!(r.trim_end().chars().last(), Some('│'), "broken card:\n{screen}");
    }
}

fn wait_file(path: &Path) -> String {
    wait_for_file(path, WAIT)
}

#[test]
fn login_runs_the_session_and_the_greeter_comes_back() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "login", (100, 30), "", &session_cmd(&work, "1", 7));
    let s = g.wait_for("login: ");
    assert!(s.contains("Vestibule test "), "issue shown: {s}");
    assert!(!s.contains("\\n"), "issue escapes expanded: {s}");
    assert!(s.contains("Session: Command"), "{s}");
    assert_card_intact(&s);
    g.line("alice");
    g.wait_for("Password: ");
    g.type_text("secret1");
    let s = g.wait_for("Password: *******");
    assert!(!s.contains("secret1"), "{s}");
    g.keys(&["Enter"]);
    let s = g.wait_for("SESSION user=alice type=tty");
    assert!(!s.contains('┌'), "the card is gone while the session runs: {s}");
    let s = g.wait_for("Session ended (exit status 7).");
    assert!(
        s.contains("login: alice"),
        "fresh card, last user remembered: {s}"
    );
    assert_card_intact(&s);
    let state = work.read("tui-state");
    assert!(state.contains("user alice\n"), "{state}");
    assert!(state.contains("session alice Command\n"), "{state}");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    assert_eq!(count(&rec, "close_session"), 1, "{rec:?}");
    g.keys(&["C-c"]);
    let (code, s) = g.wait_exit();
    assert_eq!(code, 130, "{s}");
    assert!(s.contains("TTY=cooked"), "{s}");
}

#[test]
fn wrong_password_then_right_one() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "wrong", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.line("nope");
    let s = g.wait_for("Login incorrect");
    assert_card_intact(&s);
    let s = g.wait_for("Password: ");
    let after = s.split("Login incorrect").nth(1).unwrap();
    assert!(after.contains("Password: "), "a new prompt: {s}");
    assert!(!after.contains("Password: *"), "field cleared: {s}");
    g.line("secret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
    g.wait_for("Session ended (exit status 0).");
    let log = work.syslog();
    assert!(
        log.iter()
            .any(|l| l.contains("FAILED LOGIN 1 ON ") && l.contains("FOR 'alice'")),
        "{log:?}"
    );
    assert!(log.iter().all(|l| !l.contains("nope")), "{log:?}");
}

#[test]
fn too_many_tries_show_why_and_the_card_stays_usable() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(
        &work,
        "maxtries",
        (100, 30),
        "max_tries = 2",
        &session_cmd(&work, "0", 0),
    );
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.line("wrong-1");
    g.wait_for("Login incorrect");
    g.wait_for("Password: ");
    g.line("wrong-2");
    let s = g.wait_for("Maximum number of tries exceeded (2).");
    assert!(s.contains("login: alice"), "back to the user field: {s}");
    assert_eq!(count(&work.record(), "open_session"), 0);
    g.keys(&["Enter"]);
    g.wait_for("Password: ");
    g.line("secret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn expired_password_is_changed_through_pams_prompts() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "expired", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.keys(&["C-u"]);
    g.line("carol");
    g.wait_for("Password: ");
    g.line("expired1");
    let s = g.wait_for("New password: ");
    assert!(
        s.contains("You are required to change your password immediately"),
        "{s}"
    );
    g.line("short");
    g.wait_for("Retype new password: ");
    g.line("short");
    g.wait_for("BAD PASSWORD: it is too short");
    g.wait_for("Password not changed. Please try again.");
    g.wait_for("New password: ");
    g.line("brand-new-1");
    g.wait_for("Retype new password: ");
    g.line("brand-new-2");
    g.wait_for("Sorry, passwords do not match.");
    // A fresh "New password: " prompt after the mismatch.
    let start = Instant::now();
    loop {
        let s = g.screen();
        let tail = s.rsplit("Sorry, passwords do not match.").next().unwrap();
        if tail.contains("New password: ") {
            break;
        }
        assert!(start.elapsed() < WAIT, "no new prompt after the mismatch: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
    g.line("brand-new-1");
    g.wait_for("Retype new password: ");
    g.line("brand-new-1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
    assert!(work.read("state").contains("carol:brand-new-1"));
    assert_eq!(count(&work.record(), "chauthtok"), 6, "{:?}", work.record());
}

#[test]
fn one_time_code_prompt_is_visible_and_both_answers_reach_the_module() {
    let work = Work::new();
    work.service("multi", &[]);
    let g = Greeter::start(&work, "multi", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.line("secret1");
    g.wait_for("Verification code: ");
    g.type_text("123456");
    g.wait_for("Verification code: 123456");
    g.keys(&["Enter"]);
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn a_module_may_map_the_user() {
    let work = Work::new();
    work.service("map", &[]);
    let g = Greeter::start(&work, "map", (100, 30), "", &session_cmd(&work, "2", 0));
    g.wait_for("login: ");
    g.keys(&["C-u"]);
    g.line("guest");
    g.wait_for("SESSION user=alice");
}

#[test]
fn hostile_escape_sequences_are_shown_as_text() {
    let work = Work::new();
    work.service("hostile", &[("MODE", "escapes")]);
    let g = Greeter::start(&work, "escapes", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.line("alice");
    let s = g.wait_for("Password: ");
    assert!(s.contains("^[[2J^[[31mRED^[]0;pwned^G"), "{s}");
    assert!(s.contains("login: alice"), "nothing was cleared: {s}");
    assert_card_intact(&s);
    let title = g
        .tmux()
        .args(["display-message", "-p", "#{pane_title}"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&title.stdout).contains("pwned"));
    g.line("secret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn a_huge_message_leaves_the_screen_intact() {
    let work = Work::new();
    work.service("hostile", &[("MODE", "huge")]);
    let g = Greeter::start(&work, "huge", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.line("alice");
    let s = g.wait_for("Password: ");
    assert!(s.contains("63488"), "the cut is said: {s}");
    assert_card_intact(&s);
    g.line("secret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn resizing_during_a_prompt_keeps_it_usable() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "resize", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.type_text("sec");
    let ok = g
        .tmux()
        .args(["resize-window", "-x", "40", "-y", "12"])
        .status()
        .unwrap();
    assert!(ok.success());
    let s = g.wait_for("Password: ***");
    assert!(s.lines().all(|l| l.chars().count() <= 40), "{s}");
    assert_card_intact(&s);
    g.line("ret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn sigterm_at_a_prompt_restores_the_terminal_and_opens_nothing() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "sigterm", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.signal(g.pid(), nix::sys::signal::Signal::SIGTERM);
    let (code, s) = g.wait_exit();
    assert_eq!(code, 143, "{s}");
    assert!(s.contains("TTY=cooked"), "{s}");
    assert!(!s.contains('┌'), "the card was cleared away: {s}");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session") + count(&rec, "setcred"), 0, "{rec:?}");
}

#[test]
fn sigterm_during_a_session_closes_the_pam_session() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "sessterm", (100, 30), "", &session_cmd(&work, "60", 0));
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.line("secret1");
    let pid: i32 = wait_file(&work.path().join("greeter.pid"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, g.pid(), "the session is the greeter's child");
    g.signal(pid, nix::sys::signal::Signal::SIGTERM);
    let (code, s) = g.wait_exit();
    assert_eq!(code, 143, "{s}");
    assert!(s.contains("TTY=cooked"), "{s}");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    assert_eq!(count(&rec, "close_session"), 1, "{rec:?}");
    let log = work.syslog();
    assert!(
        log.iter().any(|l| l.contains("session closed for user alice")),
        "{log:?}"
    );
}

#[test]
fn a_20x6_terminal_still_logs_in() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "tiny", (20, 6), "", &session_cmd(&work, "0", 0));
    g.wait_for("login:");
    g.line("alice");
    g.wait_for("Password");
    g.line("secret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
    g.wait_for("login:");
    g.keys(&["C-c"]);
    let (code, s) = g.wait_exit();
    assert_eq!(code, 130, "{s}");
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_reason() {
    let work = Work::new();
    let path = work.path().join("config.toml");
    std::fs::write(&path, "[greeter]\nmask = \"*\"\nmaks = \"#\"\n").unwrap();
    let out = Command::new(binary("vestibule-tui"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3:1: unknown field `maks`", path.display())),
        "{err}"
    );
}

#[test]
fn a_locked_account_shows_the_modules_words_and_the_card_stays_usable() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "locked", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.line("dave");
    g.wait_for("Password: ");
    g.line("locked11");
    let s = g.wait_for("Your account has expired; please contact your system administrator.");
    assert!(s.contains("Your account is locked."), "PAM's own words: {s}");
    assert!(s.contains("login: dave"), "{s}");
    assert_card_intact(&s);
    g.keys(&["C-u"]);
    g.line("alice");
    g.wait_for("Password: ");
    g.line("secret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn a_desktop_entry_session_gets_its_xdg_variables_and_is_remembered() {
    let work = Work::new();
    work.service("accounts", &[]);
    let d = work.path().display().to_string();
    let wayland = work.path().join("wayland-sessions");
    std::fs::create_dir_all(&wayland).unwrap();
    let script = work.path().join("fake-compositor");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$XDG_SESSION_TYPE $XDG_SESSION_DESKTOP $XDG_CURRENT_DESKTOP $*\" \
             > {d}/xdg.marker\n"
        ),
    )
    .unwrap();
    let _ = Command::new("chmod").arg("755").arg(&script).status();
    std::fs::write(
        wayland.join("fake.desktop"),
        format!(
            "[Desktop Entry]\nName=Fake Wayland\nExec={} --flag %U\nDesktopNames=Fake;wlroots;\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(
        wayland.join("hidden.desktop"),
        "[Desktop Entry]\nName=Hidden One\nExec=true\nHidden=true\n",
    )
    .unwrap();
    let poweroff =
        format!("[power]\npoweroff = [\"sh\", \"-c\", \"echo off > {d}/poweroff.marker\"]\nreboot = []");
    let config =
        format!("[sessions]\nwayland_dirs = [\"{d}/wayland-sessions\"]\nxsession_dirs = []\n{poweroff}");
    // Written under [greeter] by start(): the tables come after it.
    let g = Greeter::start(&work, "xdg", (100, 30), &config, &session_cmd(&work, "0", 0));
    let s = g.wait_for("login: ");
    assert!(s.contains("F12 power off") && !s.contains("reboot"), "{s}");
    g.keys(&["F2"]);
    let s = g.wait_for(" Fake Wayland ");
    assert!(s.contains(" Command ") && s.contains(" Shell "), "{s}");
    assert!(!s.contains("Hidden One"), "{s}");
    g.keys(&["Down", "Enter"]);
    g.wait_for("Session: Fake Wayland");
    g.line("alice");
    g.wait_for("Password: ");
    g.line("secret1");
    let xdg = wait_file(&work.path().join("xdg.marker"));
    assert_eq!(xdg.trim(), "wayland Fake Fake:wlroots --flag");
    g.wait_for("Session ended (exit status 0).");
    assert!(work.read("tui-state").contains("session alice fake\n"));
    g.keys(&["F12"]);
    g.wait_for("Power off this machine?");
    g.keys(&["Enter"]);
    assert_eq!(wait_file(&work.path().join("poweroff.marker")).trim(), "off");
}

#[test]
fn sighup_at_the_user_field_restores_the_terminal() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "sighup", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.signal(g.pid(), nix::sys::signal::Signal::SIGHUP);
    let (code, s) = g.wait_exit();
    assert_eq!(code, 129, "{s}");
    assert!(s.contains("TTY=cooked"), "{s}");
}

#[test]
fn escape_at_a_prompt_cancels_the_login_and_opens_nothing() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "escape", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.type_text("secr");
    g.keys(&["Escape"]);
    let s = g.wait_for("Login cancelled.");
    assert!(s.contains("login: alice") && !s.contains("Password"), "{s}");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session") + count(&rec, "setcred"), 0, "{rec:?}");
    g.keys(&["Enter"]);
    g.wait_for("Password: ");
    g.line("secret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn a_hung_up_terminal_ends_the_greeter_and_its_login() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(&work, "hangup", (100, 30), "", &session_cmd(&work, "0", 0));
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    let pid = g.pid();
    let _ = g.tmux().arg("kill-server").status();
    let start = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the greeter outlived its terminal: {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 0, "{rec:?}");
}

/// Python helpers for a real Linux VT: inject input (TIOCSTI), set the keyboard flags
/// (KDSKBLED), and read the screen (/dev/vcsaN for the size, /dev/vcsuN for the characters).
const VT_TOOL: &str = r#"
import fcntl, os, struct, sys, termios
vt, what = sys.argv[1], sys.argv[2]
if what == "free":
    # VT_OPENQRY: the first virtual terminal nobody has open.
    fd = os.open("/dev/tty0", os.O_RDWR | os.O_NOCTTY)
    print(struct.unpack("i", fcntl.ioctl(fd, 0x5600, b"\0" * 4))[0])
elif what == "release":
    # VT_DISALLOCATE: give it back (fails harmlessly if someone still has it open).
    fd = os.open("/dev/tty0", os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.ioctl(fd, 0x5608, int(vt))
    except OSError:
        pass
elif what == "type":
    fd = os.open("/dev/tty" + vt, os.O_RDWR | os.O_NOCTTY)
    for b in sys.argv[3].encode().decode("unicode_escape").encode("latin-1"):
        fcntl.ioctl(fd, termios.TIOCSTI, bytes([b]))
elif what == "leds":
    fd = os.open("/dev/tty" + vt, os.O_RDWR | os.O_NOCTTY)
    fcntl.ioctl(fd, 0x4B65, int(sys.argv[3]))
else:
    rows, cols = open("/dev/vcsa" + vt, "rb").read(2)
    data = open("/dev/vcsu" + vt, "rb").read()
    cells = struct.unpack("<%dI" % (len(data) // 4), data)
    for r in range(rows):
        print("".join(chr(c) for c in cells[r * cols:(r + 1) * cols]).rstrip())
"#;

fn vt_tool(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(VT_TOOL)
        .args(args)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn vt_wait(vt: &str, needle: &str, present: bool) -> String {
    let start = Instant::now();
    loop {
        let s = vt_tool(&[vt, "screen"]);
        if s.contains(needle) == present {
            return s;
        }
        assert!(start.elapsed() < WAIT, "waiting for {needle:?} = {present}:\n{s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// On a real Linux console: TERM=linux drawing and the Caps Lock warning (KDGKBLED). Runs on the
/// first virtual terminal nobody has open (VT_OPENQRY), or on VESTIBULE_TEST_VT, and never
/// switches to it: the screen is read from /dev/vcsaN and /dev/vcsuN, keys are pushed with
/// TIOCSTI and the keyboard LEDs set with KDSKBLED, none of which needs it in the foreground.
#[test]
fn on_a_linux_vt_caps_lock_is_warned_about() {
    assert!(
        std::path::Path::new("/dev/tty0").exists(),
        "no Linux virtual terminals here (/dev/tty0): this test needs one"
    );
    let vt = std::env::var("VESTIBULE_TEST_VT").unwrap_or_else(|_| vt_tool(&["0", "free"]).trim().to_owned());
    assert!(vt.parse::<u32>().is_ok_and(|n| n > 0), "no free VT: {vt:?}");
    let work = Work::new();
    work.service("accounts", &[]);
    let dir = work.path();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[greeter]\nissue_file = \"\"\nstate_file = \"{}/tui-state\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/tty{vt}"))
        .expect("a VT");
    // Opening it allocated the VT; its screen devices appear just after.
    let start = Instant::now();
    while !std::path::Path::new(&format!("/dev/vcsu{vt}")).exists() {
        assert!(start.elapsed() < WAIT, "/dev/vcsu{vt} did not appear");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut child = sandboxed(
        &work,
        &[
            binary("vestibule-tui").display().to_string(),
            "--config".into(),
            dir.join("config.toml").display().to_string(),
            "--pam-confdir".into(),
            work.pam_dir().display().to_string(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            format!("echo ran > {}/session.marker", dir.display()),
        ],
    )
    .env("TERM", "linux")
    .stdin(tty.try_clone().unwrap())
    .stdout(tty)
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    vt_wait(&vt, "login:", true);
    vt_tool(&[&vt, "type", "alice\\r"]);
    vt_wait(&vt, "Password:", true);
    vt_tool(&[&vt, "leds", "4"]);
    let s = vt_wait(&vt, "Caps Lock is on", true);
    assert!(s.contains('┌') && s.contains('┘'), "{s}");
    vt_tool(&[&vt, "leds", "0"]);
    vt_wait(&vt, "Caps Lock is on", false);
    vt_tool(&[&vt, "type", "secret1\\r"]);
    assert_eq!(wait_file(&dir.join("session.marker")).trim(), "ran");
    vt_wait(&vt, "Session ended", true);
    vt_tool(&[&vt, "type", "\\x03"]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    vt_tool(&[&vt, "release"]);
}
