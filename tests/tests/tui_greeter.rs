//! The full-screen greeter (`vestibule-tui` without `--plain`) end to end, as it really runs: as
//! an unprivileged greeter user, started by a login daemon, talking the greeter protocol over
//! `GREETD_SOCK`. The daemon here is Debian's greetd 0.9 (its plain protocol; `vt = "none"`, so it
//! and its greeter use the terminal it was started on), in the root sandbox
//! (`tests/sandbox/run.sh`: private /etc, /run and the `vgreeter` account), on a real terminal:
//! tmux runs it (one tmux server per test, on its own socket), `send-keys` types and
//! `capture-pane` reads the screen. PAM is real: Debian's own `greetd` service (common-auth →
//! pam_unix with the sandbox's accounts) or a fixture stack copied over it.
//!
//! The greeter never runs the session: it sends `start_session` and exits, greetd starts the
//! session, and when that ends greetd starts a new greeter.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vestibule_e2e::tmux::{quote, Tmux};
use vestibule_e2e::vt::Vt;
use vestibule_e2e::*;

/// The longest any single screen state may take to appear.
const WAIT: Duration = Duration::from_secs(20);

/// The sandbox's greeter account (tests/sandbox/run.sh).
const GREETER_USER: &str = "vgreeter";

/// A session command that shows who it runs as, leaves a marker in the work dir and lingers so
/// the screen can be read.
fn session_cmd(work: &Work, linger: &str, code: u32) -> Vec<String> {
    let dir = work.path().display();
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "echo \"SESSION user=$(id -un) type=$XDG_SESSION_TYPE\"; \
             echo ran > {dir}/session.marker; sleep {linger}; exit {code}"
        ),
    ]
}

/// Which PAM stack greetd's `greetd` service is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pam {
    /// Debian's /etc/pam.d/greetd as installed (login → common-auth → pam_unix).
    Debian,
    /// The test's rendered `vestibule` fixture service, copied over /etc/pam.d/greetd.
    Fixture,
}

/// Writes the greeter's config, its wrapper, greetd's config and the script that runs greetd in
/// the sandbox; returns that script's path.
///
/// The wrapper (`greeter.sh`, run by greetd as the greeter user) appends one line per greeter
/// that exited to `greeter.log`: `EXIT=<status> TTY=<raw|cooked> UID=<uid>`. The greeter's own
/// service, `greetd-greeter`, is pam_permit: the tests are about the user's login.
fn prepare(work: &Work, extra: &str, command: &[String], pam: Pam) -> PathBuf {
    require_root();
    let dir = work.path();
    let d = dir.display();
    std::fs::write(dir.join("issue"), "Vestibule test \\n on \\l\n").unwrap();
    let config = format!(
        "[greeter]\nissue_file = \"{d}/issue\"\nstate_file = \"{d}/tui-state\"\n\
         clock_format = \"%H:%M\"\n{extra}\n"
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let mut argv = vec![
        binary("vestibule-tui").display().to_string(),
        "--config".into(),
        dir.join("config.toml").display().to_string(),
    ];
    if !command.is_empty() {
        argv.push("--".into());
        argv.extend(command.iter().cloned());
    }
    let line = argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    let wrapper = format!(
        "#!/bin/sh\nVESTIBULE_LOG=debug {line} 2>>{d}/stderr\ncode=$?\ncase \"$(stty -a)\" in *-icanon*) tty=raw;; \
         *) tty=cooked;; esac\necho \"EXIT=$code TTY=$tty UID=$(id -u)\" >> {d}/greeter.log\n\
         exit $code\n"
    );
    executable(&dir.join("greeter.sh"), &wrapper);
    std::fs::write(
        dir.join("greetd.toml"),
        format!(
            "[terminal]\nvt = \"none\"\n[general]\nrunfile = \"{d}/greetd.run\"\n\
             source_profile = false\n[default_session]\ncommand = \"{d}/greeter.sh\"\n\
             user = \"{GREETER_USER}\"\n"
        ),
    )
    .unwrap();
    let service = match pam {
        Pam::Debian => String::new(),
        Pam::Fixture => format!("cp {d}/pam.d/vestibule /etc/pam.d/greetd\n"),
    };
    let inside = format!(
        "#!/bin/sh\nset -e\n{service}printf 'account required pam_permit.so\\n\
         session required pam_permit.so\\n' > /etc/pam.d/greetd-greeter\n\
         exec /usr/sbin/greetd --config {d}/greetd.toml\n"
    );
    assert!(
        Path::new("/usr/sbin/greetd").is_file(),
        "greetd is not installed (/usr/sbin/greetd): scripts/install-deps.sh installs it"
    );
    let script = dir.join("greetd.sh");
    executable(&script, &inside);
    script
}

fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// greetd with vestibule-tui as its greeter, in one tmux server.
struct Greeter {
    term: Tmux,
    dir: PathBuf,
}

impl Greeter {
    /// Starts greetd in a `cols`×`rows` terminal inside the sandbox, the greeter's config in the
    /// work dir (`extra` appended to its `[greeter]` table) and `command` as the first session.
    fn start(
        work: &Work,
        name: &str,
        size: (u16, u16),
        extra: &str,
        command: &[String],
        pam: Pam,
    ) -> Greeter {
        let script = prepare(work, extra, command, pam);
        let dir = work.path();
        let line = format!(
            "{} {} {} 2>{}; echo \"GREETD-EXITED=$?\"; sleep 600",
            quote(&tests_dir().join("sandbox/run.sh").display().to_string()),
            quote(&dir.display().to_string()),
            quote(&script.display().to_string()),
            quote(&dir.join("greetd.err").display().to_string()),
        );
        Greeter {
            term: Tmux::start(name, size, &line),
            dir: dir.to_path_buf(),
        }
    }

    fn tmux(&self) -> Command {
        self.term.command()
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        self.term.type_text(text);
    }

    /// Presses keys by tmux name (Enter, Escape, C-c, F2, ...).
    fn keys(&self, keys: &[&str]) {
        self.term.keys(keys);
    }

    /// Types a line and presses Enter.
    fn line(&self, text: &str) {
        self.term.line(text);
    }

    fn screen(&self) -> String {
        self.term.screen()
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
                "{needle:?} did not appear; the screen:\n{s}\ngreetd's stderr:\n{}\nthe greeter's:\n{}",
                self.read("greetd.err"),
                self.read("stderr")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Waits for the `n`th greeter (1-based) to have exited; returns its line from the wrapper
    /// (`EXIT=… TTY=… UID=…`).
    fn exited(&self, n: usize) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.read("greeter.log").lines().nth(n - 1) {
                return l.to_owned();
            }
            assert!(
                start.elapsed() < WAIT,
                "greeter {n} did not exit; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The greeter's pid, found among the tmux pane's descendants by its name.
    fn pid(&self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(pid) = self.find_pid() {
                return pid;
            }
            assert!(
                start.elapsed() < WAIT,
                "no vestibule-tui process under the tmux pane"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn find_pid(&self) -> Option<i32> {
        let mut queue = vec![self.term.pane_pid() as i32];
        while let Some(pid) = queue.pop() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "vestibule-tui" {
                return Some(pid);
            }
            let children =
                std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            queue.extend(children.split_whitespace().filter_map(|c| c.parse::<i32>().ok()));
        }
        None
    }

    fn signal(&self, pid: i32, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
    }
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

/// A `Uid:` line's real and effective uid from /proc/PID/status, and whether libpam is mapped.
fn process_facts(pid: i32) -> (u32, u32, bool) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    (uids[0], uids[1], maps.contains("libpam"))
}

#[test]
fn vestibule_tui_logs_in_through_greetd_0_9() {
    let work = Work::new();
    let g = Greeter::start(
        &work,
        "greetd",
        (100, 30),
        "",
        &session_cmd(&work, "1", 7),
        Pam::Debian,
    );
    let s = g.wait_for("login: ");
    assert!(s.contains("Vestibule test "), "issue shown: {s}");
    assert!(!s.contains("\\n"), "issue escapes expanded: {s}");
    assert!(s.contains("Session: Command"), "{s}");
    assert_card_intact(&s);
    // The greeter runs as the greeter user, never as root, and without libpam.
    let pid = g.pid();
    let (ruid, euid, libpam) = process_facts(pid);
    let greeter_uid = nix::unistd::User::from_name(GREETER_USER).ok().flatten();
    assert!(ruid != 0 && euid != 0, "the greeter runs as root: {ruid}/{euid}");
    if let Some(u) = greeter_uid {
        // The host may have no such account; the sandbox's is the one that counts.
        assert_eq!(ruid, u.uid.as_raw());
    }
    assert!(!libpam, "libpam is mapped in the greeter");
    g.line("alice");
    g.wait_for("Password: ");
    g.type_text("alice-pw-1");
    let s = g.wait_for("Password: **********");
    assert!(!s.contains("alice-pw-1"), "{s}");
    g.keys(&["Enter"]);
    // The greeter exits first (0, terminal given back), then greetd starts the session.
    let exit = g.exited(1);
    assert!(exit.starts_with("EXIT=0 TTY=cooked "), "{exit}");
    let s = g.wait_for("SESSION user=alice type=tty");
    assert!(!s.contains('┌'), "the card is gone while the session runs: {s}");
    let state = work.read("tui-state");
    assert_eq!(state, "user alice\nsession alice Command\n");
    // When the session ends, greetd starts a new greeter: a fresh card, alice remembered.
    let s = g.wait_for("login: alice");
    assert_card_intact(&s);
    assert_ne!(g.pid(), pid, "a new greeter process");
    g.keys(&["C-c"]);
    let exit = g.exited(2);
    assert!(exit.starts_with("EXIT=130 TTY=cooked "), "{exit}");
}

#[test]
fn wrong_password_then_right_one() {
    let work = Work::new();
    let g = Greeter::start(
        &work,
        "wrong",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Debian,
    );
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.line("nope");
    // greetd's plain protocol gives one attempt per login; the card says so in login(1)'s words
    // and keeps the name for the next one.
    let s = g.wait_for("Login incorrect");
    assert!(s.contains("login: alice"), "{s}");
    assert!(!s.contains("AUTH_ERR"), "no PAM status names: {s}");
    assert_card_intact(&s);
    g.keys(&["Enter"]);
    let s = g.wait_for("Password: ");
    assert!(
        !s.contains("Login incorrect"),
        "a clean card for the new attempt: {s}"
    );
    assert!(!s.contains("Password: *"), "field cleared: {s}");
    g.line("alice-pw-1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
    assert!(g.exited(1).starts_with("EXIT=0 "));
}

#[test]
fn notices_and_prompts_of_a_fixture_stack_reach_the_card() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(
        &work,
        "accounts",
        (100, 30),
        "",
        &session_cmd(&work, "1", 0),
        Pam::Fixture,
    );
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.line("secret1");
    g.wait_for("SESSION user=alice type=tty");
    let rec = work.record();
    assert_eq!(count(&rec, "authenticate"), 1, "{rec:?}");
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    // greetd closes the PAM session when the session ends.
    g.wait_for("login: alice");
    assert_eq!(count(&work.record(), "close_session"), 1, "{:?}", work.record());
}

#[test]
fn one_time_code_prompt_is_visible_and_both_answers_reach_the_module() {
    let work = Work::new();
    work.service("multi", &[]);
    let g = Greeter::start(
        &work,
        "multi",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Fixture,
    );
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
    let g = Greeter::start(
        &work,
        "map",
        (100, 30),
        "",
        &session_cmd(&work, "2", 0),
        Pam::Fixture,
    );
    g.wait_for("login: ");
    g.keys(&["C-u"]);
    g.line("guest");
    g.wait_for("SESSION user=alice");
}

#[test]
fn hostile_escape_sequences_are_shown_as_text() {
    // greetd passes PAM's text on as it is: the greeter's client sanitizes it.
    let work = Work::new();
    work.service("hostile", &[("MODE", "escapes")]);
    let g = Greeter::start(
        &work,
        "escapes",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Fixture,
    );
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

/// greetd 0.9 cannot carry a 64 KiB PAM message (its worker's datagrams are 10 KiB): the login
/// fails with greetd's own error, which the card shows intact, and the greeter stays usable.
#[test]
fn a_huge_message_greetd_cannot_carry_leaves_the_card_intact() {
    let work = Work::new();
    work.service("hostile", &[("MODE", "huge")]);
    let g = Greeter::start(
        &work,
        "huge",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Fixture,
    );
    g.wait_for("login: ");
    g.line("alice");
    let s = g.wait_for("unable to deserialize message");
    assert!(s.contains("login: alice"), "back at the user field: {s}");
    assert_card_intact(&s);
    assert!(s.lines().count() <= 30, "{s}");
}

#[test]
fn resizing_during_a_prompt_keeps_it_usable() {
    // greetd's `vt = "none"` gives the greeter no controlling terminal, so no SIGWINCH: the
    // greeter notices the new size by itself.
    let work = Work::new();
    let g = Greeter::start(
        &work,
        "resize",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Debian,
    );
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.type_text("ali");
    g.wait_for("Password: ***");
    let ok = g
        .tmux()
        .args(["resize-window", "-x", "40", "-y", "12"])
        .status()
        .unwrap();
    assert!(ok.success());
    let start = Instant::now();
    let s = loop {
        let s = g.screen();
        if s.contains("Password: ***") && s.contains('┌') && s.lines().all(|l| l.chars().count() <= 40) {
            let rows: Vec<&str> = s.lines().collect();
            let top = rows.iter().position(|r| r.contains('┌')).unwrap();
            if rows[top].trim_end().ends_with('┐') {
                break s;
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "not redrawn at 40x12:\n{s}\nthe greeter's stderr:\n{}",
            work.read("stderr")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_card_intact(&s);
    g.line("ce-pw-1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn sigterm_at_a_prompt_restores_the_terminal_and_opens_nothing() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(
        &work,
        "sigterm",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Fixture,
    );
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.signal(g.pid(), nix::sys::signal::Signal::SIGTERM);
    let exit = g.exited(1);
    assert!(exit.starts_with("EXIT=143 TTY=cooked "), "{exit}");
    // greetd ends when its greeter exits without a session.
    let s = g.wait_for("GREETD-EXITED=");
    assert!(!s.contains('┌'), "the card was cleared away: {s}");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session") + count(&rec, "setcred"), 0, "{rec:?}");
}

#[test]
fn sighup_at_the_user_field_restores_the_terminal() {
    let work = Work::new();
    let g = Greeter::start(
        &work,
        "sighup",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Debian,
    );
    g.wait_for("login: ");
    g.signal(g.pid(), nix::sys::signal::Signal::SIGHUP);
    let exit = g.exited(1);
    assert!(exit.starts_with("EXIT=129 TTY=cooked "), "{exit}");
}

#[test]
fn a_20x6_terminal_still_logs_in() {
    let work = Work::new();
    let g = Greeter::start(
        &work,
        "tiny",
        (20, 6),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Debian,
    );
    g.wait_for("login:");
    g.line("alice");
    g.wait_for("Password");
    g.line("alice-pw-1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
    // The next greeter.
    g.exited(1);
    g.wait_for("login:");
    g.keys(&["C-c"]);
    let exit = g.exited(2);
    assert!(exit.starts_with("EXIT=130 "), "{exit}");
}

#[test]
fn a_locked_account_shows_the_modules_words_and_the_card_stays_usable() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(
        &work,
        "locked",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Fixture,
    );
    g.wait_for("login: ");
    g.line("dave");
    g.wait_for("Password: ");
    g.line("locked11");
    let s = g.wait_for("Your account is locked.");
    assert!(s.contains("login: dave"), "{s}");
    assert_card_intact(&s);
    g.keys(&["C-u"]);
    g.line("alice");
    g.wait_for("Password: ");
    g.line("secret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn escape_at_a_prompt_cancels_the_login_and_opens_nothing() {
    let work = Work::new();
    work.service("accounts", &[]);
    let g = Greeter::start(
        &work,
        "escape",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Fixture,
    );
    g.wait_for("login: ");
    g.line("alice");
    g.wait_for("Password: ");
    g.type_text("secr");
    g.keys(&["Escape"]);
    let s = g.wait_for("Login cancelled.");
    assert!(s.contains("login: alice") && !s.contains("Password"), "{s}");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session") + count(&rec, "setcred"), 0, "{rec:?}");
    // greetd took the cancel_session: it starts the next login.
    g.keys(&["Enter"]);
    g.wait_for("Password: ");
    g.line("secret1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
}

#[test]
fn a_desktop_entry_session_gets_its_xdg_variables_and_is_remembered() {
    let work = Work::new();
    let d = work.path().display().to_string();
    let wayland = work.path().join("wayland-sessions");
    std::fs::create_dir_all(&wayland).unwrap();
    let script = work.path().join("fake-compositor");
    executable(
        &script,
        &format!(
            "#!/bin/sh\necho \"$XDG_SESSION_TYPE $XDG_SESSION_DESKTOP $XDG_CURRENT_DESKTOP $*\" \
             > {d}/xdg.marker\n"
        ),
    );
    std::fs::write(
        wayland.join("fake.desktop"),
        format!(
            "[Desktop Entry]\nName=Fake Wayland\nExec={} --flag \"two words\" %U\nDesktopNames=Fake;wlroots;\n",
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
    let g = Greeter::start(
        &work,
        "xdg",
        (100, 30),
        &config,
        &session_cmd(&work, "0", 0),
        Pam::Debian,
    );
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
    g.line("alice-pw-1");
    // Sent in start_session: the command (each word intact through greetd's sh -c) and the env.
    let xdg = wait_file(&work.path().join("xdg.marker"));
    assert_eq!(xdg.trim(), "wayland Fake Fake:wlroots --flag two words");
    assert!(work.read("tui-state").contains("session alice fake\n"));
    // The next greeter preselects it, and the power key works as the greeter user.
    g.exited(1);
    g.wait_for("Session: Fake Wayland");
    g.keys(&["F12"]);
    g.wait_for("Power off this machine?");
    g.keys(&["Enter"]);
    assert_eq!(wait_file(&work.path().join("poweroff.marker")).trim(), "off");
}

#[test]
fn the_login_shell_session_runs_the_accounts_shell() {
    let work = Work::new();
    let only_shell = "[sessions]\nwayland_dirs = []\nxsession_dirs = []";
    let g = Greeter::start(&work, "shell", (100, 30), only_shell, &[], Pam::Debian);
    let s = g.wait_for("login: ");
    assert!(s.contains("Session: Shell"), "{s}");
    g.line("alice");
    g.wait_for("Password: ");
    g.line("alice-pw-1");
    g.exited(1);
    // (The shell's prompt goes to greetd's stderr, a file here.)
    g.line("echo \"SHELL-IS $0 $XDG_SESSION_TYPE\"; exit");
    g.wait_for("SHELL-IS /bin/bash tty");
}

#[test]
fn hidden_user_names_are_neither_shown_nor_stored() {
    let work = Work::new();
    std::fs::write(work.path().join("tui-state"), "user bob\nsession bob shell\n").unwrap();
    let g = Greeter::start(
        &work,
        "hidden",
        (100, 30),
        "hide_user_names = true",
        &session_cmd(&work, "0", 0),
        Pam::Debian,
    );
    let s = g.wait_for("login: ");
    assert!(!s.contains("bob"), "{s}");
    g.line("alice");
    g.wait_for("Password: ");
    g.line("alice-pw-1");
    assert_eq!(wait_file(&work.path().join("session.marker")).trim(), "ran");
    g.exited(1);
    let s = g.wait_for("login: ");
    assert!(!s.contains("alice"), "{s}");
    let state = work.read("tui-state");
    assert!(
        !state.contains("alice") && !state.contains("bob"),
        "no user name in the state file: {state:?}"
    );
}

#[test]
fn a_hung_up_terminal_ends_the_greeter() {
    let work = Work::new();
    let g = Greeter::start(
        &work,
        "hangup",
        (100, 30),
        "",
        &session_cmd(&work, "0", 0),
        Pam::Debian,
    );
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
}

// ---- the binary on its own ---------------------------------------------------------------------

/// Runs vestibule-tui as `nobody` with `env` (nothing else of the test's environment but PATH).
fn unprivileged(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    require_root();
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(binary("vestibule-tui"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .output()
        .expect("setpriv")
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_reason() {
    let work = Work::new();
    let path = work.path().join("config.toml");
    std::fs::write(&path, "[greeter]\nmask = \"*\"\nmaks = \"#\"\n").unwrap();
    let out = unprivileged(
        &["--config", path.to_str().unwrap()],
        &[("GREETD_SOCK", "/nonexistent")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3:1: unknown field `maks`", path.display())),
        "{err}"
    );
}

#[test]
fn the_greeter_refuses_root_and_needs_a_daemon() {
    let work = Work::new();
    let path = work.path().join("config.toml");
    std::fs::write(&path, "[greeter]\n").unwrap();
    require_root();
    let out = Command::new(binary("vestibule-tui"))
        .args(["--config", path.to_str().unwrap()])
        .env("GREETD_SOCK", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "vestibule-tui: the greeter must not run as root; run it under vestibuled or greetd as \
         the greeter user\n"
    );
    let out = unprivileged(&["--config", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("vestibule-tui: GREETD_SOCK is not set"), "{err}");
    // The flags that belong to the daemon now are not the greeter's.
    for flag in [
        "--pam-confdir",
        "--max-tries",
        "--fail-delay-ms",
        "--agent-bus",
        "--user",
    ] {
        let out = unprivileged(&[flag, "x"], &[("GREETD_SOCK", "/nonexistent")]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
    }
}

#[test]
fn the_greeter_binary_links_no_libpam() {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(binary("vestibule-tui"))
        .output()
        .expect("readelf (binutils)");
    assert!(out.status.success());
    let dynamic = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert!(!needed.is_empty(), "readelf shows no NEEDED entries: {dynamic}");
    assert!(
        needed.iter().all(|l| !l.contains("libpam")),
        "vestibule-tui links libpam: {needed:?}"
    );
    // The line mode that does link it is another binary.
    let login = Command::new("readelf")
        .arg("-d")
        .arg(binary("vestibule-login"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&login.stdout).contains("libpam.so"));
}

#[test]
fn plain_runs_the_line_mode_binary() {
    let out = Command::new(binary("vestibule-tui"))
        .args(["--plain", "--version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("vestibule-login "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// On a real Linux console, under greetd: TERM=linux drawing and the Caps Lock warning
/// (KDGKBLED). Runs on the
/// first virtual terminal nobody has open (VT_OPENQRY), or on VESTIBULE_TEST_VT, and never
/// switches to it: the screen is read from /dev/vcsaN and /dev/vcsuN, keys are pushed with
/// TIOCSTI and the keyboard LEDs set with KDSKBLED, none of which needs it in the foreground.
#[test]
fn on_a_linux_vt_caps_lock_is_warned_about() {
    let vt = Vt::free();
    let work = Work::new();
    let dir = work.path().to_path_buf();
    let marker = format!("echo ran > {}/session.marker", dir.display());
    let script = prepare(&work, "", &["sh".into(), "-c".into(), marker], Pam::Debian);
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(vt.path())
        .expect("a VT");
    // Opening it allocated the VT; its screen devices appear just after.
    let start = Instant::now();
    while !std::path::Path::new(&format!("/dev/vcsu{}", vt.number)).exists() {
        assert!(start.elapsed() < WAIT, "/dev/vcsu{} did not appear", vt.number);
        std::thread::sleep(Duration::from_millis(20));
    }
    // greetd on the VT as its standard input and output (`vt = "none"`: it never switches).
    let mut child = sandboxed(&work, &[script.display().to_string()])
        .env("TERM", "linux")
        .stdin(tty.try_clone().unwrap())
        .stdout(tty)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    vt.wait_for("login:", WAIT);
    vt.line("alice");
    vt.wait_for("Password:", WAIT);
    vt.set_leds(4);
    let s = vt.wait_for("Caps Lock is on", WAIT);
    assert!(s.contains('┌') && s.contains('┘'), "{s}");
    vt.set_leds(0);
    vt.wait_gone("Caps Lock is on", WAIT);
    vt.line("alice-pw-1");
    assert_eq!(wait_file(&dir.join("session.marker")).trim(), "ran");
    // The session ended at once; greetd's next greeter remembers alice.
    let log = || std::fs::read_to_string(dir.join("greeter.log")).unwrap_or_default();
    assert!(wait_file(&dir.join("greeter.log")).starts_with("EXIT=0 "));
    vt.wait_for("login: alice", WAIT);
    vt.type_text("\x03");
    // greetd ends once its greeter quits without a session.
    child.wait().unwrap();
    assert!(
        log().lines().nth(1).is_some_and(|l| l.starts_with("EXIT=130 ")),
        "{}",
        log()
    );
}
