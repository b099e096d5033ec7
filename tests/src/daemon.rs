//! `vestibuled` under test: the daemon in the root sandbox (`tests/sandbox/run.sh`), on the
//! terminal of a tmux pane (`[terminal] vt = "current"`), with the PAM services rendered from
//! `tests/pam.d/daemon-*` (real accounts through pam_unix, pam_limits, pam_loginuid and the
//! record.py witness; optionally pam_script as a second witness) and a greeter command wrapped by
//! `tests/fixtures/daemon/greeter.sh`, which logs each greeter it sees to `greeters.log`.
//!
//! The sandbox's /run, /etc and login records are reached from the test with
//! `nsenter --mount --target` its shell ([`Vestibuled::ns`]); /proc is shared.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tmux::{quote, Tmux};
use crate::{binary, require_root, tests_dir, Run, Work};

/// The longest a single step (a prompt, a session, a greeter coming back) may take.
pub const STEP: Duration = Duration::from_secs(30);

/// The sandbox's greeter account (created by tests/sandbox/run.sh).
pub const GREETER_USER: &str = "vgreeter";

/// The fixtures of the daemon's tests.
pub fn fixtures() -> PathBuf {
    tests_dir().join("fixtures/daemon")
}

/// The tools that scripts/install-deps.sh keeps under target/tools.
pub fn tools_dir() -> PathBuf {
    tests_dir().parent().unwrap().join("target/tools")
}

/// tuigreet 0.10.2, built by scripts/install-deps.sh (fails loudly when missing).
pub fn tuigreet() -> PathBuf {
    let path = tools_dir().join("bin/tuigreet");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-deps.sh (cargo install tuigreet --version 0.10.2)",
        path.display()
    );
    path
}

/// Debian's agreety (package greetd; fails loudly when missing).
pub fn agreety() -> PathBuf {
    let path = PathBuf::from("/usr/sbin/agreety");
    assert!(
        path.is_file(),
        "/usr/sbin/agreety is missing: run scripts/install-deps.sh (package greetd)"
    );
    path
}

/// pam_script.so unpacked from Debian's libpam-script by scripts/install-deps.sh.
pub fn pam_script() -> PathBuf {
    let path = tools_dir().join("libpam-script/lib/x86_64-linux-gnu/security/pam_script.so");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-deps.sh (it unpacks Debian's libpam-script)",
        path.display()
    );
    path
}

/// How a test's daemon is set up.
pub struct Setup {
    /// The greeter command (run through greeter.sh, by sh, as the greeter user).
    pub greeter: String,
    /// pam_script in the login's session stack, its scripts logging to `pam-script.log`.
    pub pam_script: bool,
    /// The session agent's bus (`--agent-bus`).
    pub agent_bus: Option<String>,
    /// A virtual terminal (`vt = N`, `switch = false`: never switched to) instead of the tmux
    /// pane's terminal (`vt = "current"`).
    pub vt: Option<u32>,
    /// More of the config file, appended as is (an `[initial_session]`, say).
    pub extra_config: String,
    /// Debian's seatd in the sandbox before the daemon starts, as on a machine without logind:
    /// its socket (`/run/seatd.sock`, the sandbox's private /run) owned by group `video`, which
    /// the greeter user and alice join; its log in `seatd.log`. Not bound to a VT
    /// (`SEATD_VTBOUND=0`): a VT-bound seatd would switch the machine's active console to
    /// graphics mode, and the compositors here need no VT.
    pub seatd: bool,
    /// Debian's elogind (unpacked by scripts/install-deps.sh into target/tools/elogind) as the
    /// sandbox's logind, on a system bus of the sandbox's own (`/run/dbus/system_bus_socket` in
    /// its private /run) with elogind's bus policy, `/run/systemd/system` present (pam_systemd
    /// and loginctl check it) and a tmpfs on /sys/fs/cgroup for elogind's own hierarchy; logs in
    /// `bus.log` and `elogind.log`. elogind serves the same org.freedesktop.login1 API that
    /// pam_systemd calls on systemd-logind.
    pub logind: bool,
    /// The shipped PAM files (data/pam.d: vestibule, vestibule-greeter, vestibule-autologin) as
    /// they are, over the sandbox's copy of Debian's common-* files, instead of the fixtures.
    pub shipped_pam: bool,
}

impl Setup {
    /// Debian's agreety, running `WORK/session` after a login.
    pub fn agreety(work: &Work) -> Setup {
        Setup::greeter(format!(
            "{} --cmd {}",
            agreety().display(),
            session_command(work).display()
        ))
    }

    /// tuigreet 0.10.2, running `WORK/session` after a login.
    pub fn tuigreet(work: &Work) -> Setup {
        Setup::greeter(format!(
            "{} --cmd {}",
            tuigreet().display(),
            session_command(work).display()
        ))
    }

    /// The hostile greeter (tests/fixtures/daemon/hostile_greeter.py), logging in as `user`
    /// with `password` after its cases.
    pub fn hostile(work: &Work, user: &str, password: &str) -> Setup {
        Setup::greeter(format!(
            "/usr/bin/python3 {} {} {user} {password}",
            fixtures().join("hostile_greeter.py").display(),
            work.path().display()
        ))
    }

    pub fn greeter(command: String) -> Setup {
        Setup {
            greeter: command,
            pam_script: false,
            agent_bus: None,
            vt: None,
            extra_config: String::new(),
            seatd: false,
            logind: false,
            shipped_pam: false,
        }
    }
}

/// The shell lines (sourced in the sandbox before the daemon starts) that start a system bus and
/// elogind in the sandbox: see [`Setup::logind`].
fn logind_script(work: &Work) -> String {
    let elogind = tools_dir().join("elogind");
    assert!(
        elogind.join("lib/elogind/elogind").is_file(),
        "{} is missing: run scripts/install-deps.sh (it unpacks Debian's elogind)",
        elogind.join("lib/elogind/elogind").display()
    );
    let dir = work.path();
    let bus_conf = dir.join("logind-bus.conf");
    // Debian's system-bus defaults, with elogind's own policy.
    fs::write(
        &bus_conf,
        format!(
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n \
             \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig>\n\
             <type>system</type>\n<listen>unix:path=/run/dbus/system_bus_socket</listen>\n\
             <auth>EXTERNAL</auth>\n<policy context=\"default\">\n<allow user=\"*\"/>\n\
             <deny own=\"*\"/>\n<deny send_type=\"method_call\"/>\n<allow send_type=\"signal\"/>\n\
             <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n\
             <allow send_requested_reply=\"true\" send_type=\"error\"/>\n\
             <allow receive_type=\"method_call\"/>\n<allow receive_type=\"method_return\"/>\n\
             <allow receive_type=\"error\"/>\n<allow receive_type=\"signal\"/>\n\
             <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n\
             <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n\
             <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Properties\"/>\n\
             </policy>\n<include>{}</include>\n</busconfig>\n",
            elogind
                .join("usr/share/dbus-1/system.d/org.freedesktop.login1.conf")
                .display()
        ),
    )
    .unwrap();
    // Nothing of a user's is killed at logout, as Debian's default.
    fs::write(
        dir.join("logind.conf"),
        "[Login]\nKillUserProcesses=no\nRemoveIPC=no\n",
    )
    .unwrap();
    let q = |p: &Path| quote(&p.display().to_string());
    format!(
        "mkdir -p /run/systemd/system /run/dbus && mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup || exit 1\n\
         dbus-daemon --config-file={conf} --nofork --nopidfile 2>>{buslog} &\n\
         i=0; while [ ! -S /run/dbus/system_bus_socket ]; do i=$((i+1)); \
         if [ $i -gt 200 ]; then echo 'the system bus did not start' >&2; exit 1; fi; sleep 0.05; done\n\
         ELOGIND_CONF_FILE={logind_conf} SYSTEMD_LOG_TARGET=console \
         LD_LIBRARY_PATH={elo}/lib/elogind:{elo}/lib/x86_64-linux-gnu {elo}/lib/elogind/elogind 2>>{elolog} &\n\
         i=0; until busctl --system status org.freedesktop.login1 >/dev/null 2>&1; do i=$((i+1)); \
         if [ $i -gt 200 ]; then echo 'elogind did not start' >&2; exit 1; fi; sleep 0.05; done\n",
        conf = q(&bus_conf),
        buslog = q(&dir.join("bus.log")),
        logind_conf = q(&dir.join("logind.conf")),
        elo = q(&elogind),
        elolog = q(&dir.join("elogind.log")),
    )
}

/// `WORK/session`: runs tests/fixtures/daemon/session.sh for this work dir (one path, no
/// arguments, so any greeter can pass it as its command).
pub fn session_command(work: &Work) -> PathBuf {
    let path = work.path().join("session");
    if !path.exists() {
        let script = format!(
            "#!/bin/sh\nexec {} {}\n",
            quote(&fixtures().join("session.sh").display().to_string()),
            quote(&work.path().display().to_string())
        );
        write_executable(&path, &script);
    }
    path
}

fn write_executable(path: &Path, text: &str) {
    write_mode(path, text, 0o755);
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One greeter as greeter.sh logged it.
#[derive(Debug, Clone)]
pub struct GreeterInfo {
    pub n: usize,
    pub pid: u32,
    pub user: String,
    pub uid: u32,
    pub tty: String,
    pub sock: String,
    pub proto: String,
}

impl GreeterInfo {
    fn parse(line: &str) -> GreeterInfo {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_owned))
                .unwrap_or_default()
        };
        GreeterInfo {
            n: line.split_whitespace().next().unwrap_or("0").parse().unwrap_or(0),
            pid: field("pid").parse().unwrap_or(0),
            user: field("user"),
            uid: field("uid").parse().unwrap_or(u32::MAX),
            tty: field("tty"),
            sock: field("sock"),
            proto: field("proto"),
        }
    }
}

/// What session.sh saw from inside a session (its `key=value` lines).
#[derive(Debug, Clone)]
pub struct SessionInfo(pub HashMap<String, String>);

impl SessionInfo {
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map(String::as_str).unwrap_or("")
    }
    pub fn pid(&self) -> u32 {
        self.get("pid").parse().expect("session pid")
    }
}

/// A running vestibuled in its sandbox and tmux pane. When dropped, every process in the
/// sandbox's mount namespace is killed (the daemon, its workers, greeters and sessions, and
/// whatever they left behind: the revoked terminal no longer reaches them, so tmux's hangup
/// would not), then the tmux server.
pub struct Vestibuled<'w> {
    pub work: &'w Work,
    pub tmux: Tmux,
    /// Open handles on the sandbox's mount namespaces: while one is open the namespace lives on,
    /// so its number cannot be given to another test's sandbox (pids and namespace numbers are
    /// reused on a busy machine) and the clean-up kills only this test's processes.
    ns_pins: std::sync::Mutex<Vec<fs::File>>,
}

impl<'w> Vestibuled<'w> {
    /// Renders the PAM services and the config, and starts the daemon.
    pub fn start(work: &'w Work, name: &str, setup: Setup) -> Vestibuled<'w> {
        require_root();
        let dir = work.path();
        let script_line = if setup.pam_script {
            let scripts = dir.join("pam-script");
            fs::create_dir_all(&scripts).unwrap();
            for (file, word) in [("pam_script_ses_open", "open"), ("pam_script_ses_close", "close")] {
                write_executable(
                    &scripts.join(file),
                    &format!(
                        "#!/bin/sh\necho \"{word} $PAM_USER $PAM_SERVICE $PAM_TYPE\" >>{}\n",
                        quote(&dir.join("pam-script.log").display().to_string())
                    ),
                );
            }
            format!(
                "session  optional {} dir={}",
                pam_script().display(),
                scripts.display()
            )
        } else {
            String::new()
        };
        work.service_as("daemon-unix", "vestibule", &[("SCRIPT", &script_line)]);
        work.service_as("daemon-greeter", "vestibule-greeter", &[]);
        work.service_as("daemon-autologin", "vestibule-autologin", &[]);
        if setup.shipped_pam {
            let shipped = tests_dir().parent().unwrap().join("data/pam.d");
            for name in ["vestibule", "vestibule-greeter", "vestibule-autologin"] {
                fs::copy(shipped.join(name), work.pam_dir().join(name)).unwrap();
            }
        }
        session_command(work);
        // Appended to by every user's session.
        for shared in ["sessions.log", "linger.log"] {
            write_mode(&dir.join(shared), "", 0o666);
        }

        let greeter = format!(
            "{} {} {}",
            fixtures().join("greeter.sh").display(),
            dir.display(),
            setup.greeter
        );
        let terminal = match setup.vt {
            Some(n) => format!("vt = {n}\nswitch = false"),
            None => "vt = \"current\"".to_owned(),
        };
        let config = format!(
            "[terminal]\n{terminal}\n\n[general]\nrunfile = {}\n\n[default_session]\n\
             command = {}\nuser = \"{GREETER_USER}\"\n\n[vestibule]\nmax_tries = 3\nfail_delay_ms = 10\n",
            toml_str(&dir.join("vestibuled.run").display().to_string()),
            toml_str(&greeter),
        ) + &setup.extra_config;
        fs::write(dir.join("vestibuled.toml"), config).unwrap();

        let mut daemon = vec![
            binary("vestibuled").display().to_string(),
            "--config".into(),
            dir.join("vestibuled.toml").display().to_string(),
            "--pam-confdir".into(),
            work.pam_dir().display().to_string(),
            "--worker".into(),
            binary("vestibule-worker").display().to_string(),
            "--runtime-dir".into(),
            dir.join("daemon-run").display().to_string(),
        ];
        if let Some(bus) = &setup.agent_bus {
            daemon.extend(["--agent-bus".into(), bus.clone()]);
        }
        let d = |name: &str| quote(&dir.join(name).display().to_string());
        let mut pre = String::new();
        if setup.seatd {
            pre += &format!(
                "usermod -aG video {GREETER_USER} && usermod -aG video alice || exit 1\n\
                 SEATD_VTBOUND=0 seatd -g video -l debug 2>>{log} &\n\
                 i=0; while [ ! -S /run/seatd.sock ]; do i=$((i+1)); \
                 if [ $i -gt 200 ]; then echo 'seatd did not start' >&2; exit 1; fi; sleep 0.05; done\n",
                log = d("seatd.log"),
            );
        }
        if setup.logind {
            pre += &logind_script(work);
        }
        let pre = if pre.is_empty() {
            String::new()
        } else {
            let path = dir.join("pre-daemon.sh");
            fs::write(&path, pre).unwrap();
            format!(" VESTIBULE_PRE={}", quote(&path.display().to_string()))
        };
        // The sandbox shell's pid (to enter its mount namespace) and the daemon's, then the daemon
        // (exec: same pid) with its log in the work dir; what the pane shows after it exits.
        // A soft core limit above 0, so that a process turning core dumps off is seen to do it
        // (Debian's default soft limit is already 0).
        let script = format!(
            "ulimit -S -c {CORE_LIMIT_KIB}; VESTIBULE_LOG=debug{vt}{pre} {run} {work} sh -c 'echo $PPID >\"$1\"; echo $$ >\"$2\"; shift 2; \
             if [ -n \"$VESTIBULE_PRE\" ]; then . \"$VESTIBULE_PRE\"; unset VESTIBULE_PRE; fi; exec \"$@\"' \
             sh {sandbox} {pid} {daemon} 2>>{log}; echo \"DAEMON EXITED=$?\"; sleep 600",
            vt = setup
                .vt
                .map(|n| format!(" VESTIBULE_SANDBOX_VT={n}"))
                .unwrap_or_default(),
            run = quote(&tests_dir().join("sandbox/run.sh").display().to_string()),
            work = quote(&dir.display().to_string()),
            sandbox = d("sandbox.pid"),
            pid = d("daemon.pid"),
            daemon = daemon.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "),
            log = d("daemon.log"),
        );
        let tmux = Tmux::start(name, (100, 30), &script);
        let v = Vestibuled {
            work,
            tmux,
            ns_pins: std::sync::Mutex::new(Vec::new()),
        };
        v.pid();
        assert!(
            !work.read("sandbox.mntns").is_empty(),
            "the sandbox's mount namespace is unknown"
        );
        v
    }

    /// The daemon's pid. (The first call after a start also notes the sandbox's mount namespace
    /// in `sandbox.mntns`, for the clean-up when this is dropped.)
    pub fn pid(&self) -> u32 {
        let pid = self.read_pid("daemon.pid");
        let sandbox = self.sandbox_pid();
        // Pinned first, then named: the name read after the pin is the pinned namespace's (or ""
        // if the shell already ended, and then the pin is of nothing we record).
        let pin = fs::File::open(format!("/proc/{sandbox}/ns/mnt")).ok();
        let ns = mount_ns(sandbox);
        let file = self.work.path().join("sandbox.mntns");
        let known = fs::read_to_string(&file).unwrap_or_default();
        // Gone when the sandbox's shell has ended (after the daemon was killed): noted before.
        if let Some(pin) = pin {
            if !ns.is_empty() && ns != mount_ns(std::process::id()) && !known.lines().any(|l| l == ns) {
                self.ns_pins.lock().unwrap().push(pin);
                fs::write(&file, format!("{known}{ns}\n")).unwrap();
            }
        }
        pid
    }

    /// The pid of the sandbox's shell (it lives as long as the sandbox).
    pub fn sandbox_pid(&self) -> u32 {
        self.read_pid("sandbox.pid")
    }

    fn read_pid(&self, file: &str) -> u32 {
        let text = self.wait_file(file, "the daemon's start");
        text.trim().parse().unwrap_or_else(|_| panic!("{file}: {text:?}"))
    }

    /// Waits for a non-empty file in the work dir; `what` names it in the failure, which also
    /// shows the daemon's log and screen.
    pub fn wait_file(&self, file: &str, what: &str) -> String {
        self.wait_until(what, || {
            fs::read_to_string(self.work.path().join(file))
                .ok()
                .filter(|s| !s.is_empty())
        })
    }

    /// Polls `f` until it gives a value, for up to [`STEP`]; panics with `what`, the screen and
    /// the daemon's log.
    pub fn wait_until<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            if start.elapsed() > STEP {
                panic!("{what}: not within {STEP:?}\n{}", self.diagnostics());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The screen and the end of the daemon's log, for failure messages.
    pub fn diagnostics(&self) -> String {
        let log = self.work.read("daemon.log");
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- screen:\n{}\n--- daemon.log (last 40 lines):\n{}\n--- greeters.log:\n{}--- sessions.log:\n{}\
             --- record.log:\n{}",
            self.tmux.screen(),
            tail.join("\n"),
            self.work.read("greeters.log"),
            self.work.read("sessions.log"),
            self.work.read("record.log"),
        )
    }

    /// Runs a command in the sandbox's mount namespace (its /etc, /run, utmp and wtmp).
    pub fn ns(&self, args: &[&str]) -> Run {
        let out = Command::new("nsenter")
            .args(["--mount", "--target", &self.sandbox_pid().to_string(), "--"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("nsenter (package util-linux)");
        Run::from(out)
    }

    /// A user's uid in the sandbox.
    pub fn uid(&self, user: &str) -> u32 {
        let r = self.ns(&["id", "-u", user]);
        r.stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("id -u {user}: {}", r.all()))
    }

    /// Every greeter greeter.sh has logged so far.
    pub fn greeters(&self) -> Vec<GreeterInfo> {
        self.work
            .read("greeters.log")
            .lines()
            .map(GreeterInfo::parse)
            .collect()
    }

    /// Waits for the `n`th greeter (1-based) to start (its line in greeters.log).
    pub fn wait_greeter(&self, n: usize) -> GreeterInfo {
        self.wait_until(&format!("greeter {n}"), || self.greeters().into_iter().nth(n - 1))
    }

    /// Asserts that greeter `g` runs as the greeter user, never root: what it logged and every
    /// uid and gid in /proc (it must still run).
    pub fn assert_unprivileged(&self, g: &GreeterInfo) {
        let uid = self.uid(GREETER_USER);
        assert_ne!(uid, 0);
        assert_eq!((g.user.as_str(), g.uid), (GREETER_USER, uid), "{g:?}");
        let ids = uids(g.pid);
        assert!(
            ids.len() == 4 && ids.iter().all(|&u| u == uid),
            "greeter {} has uids {ids:?}, not {uid}",
            g.pid
        );
        let gids = status_field(g.pid, "Gid:");
        assert!(
            gids.len() == 4 && !gids.contains(&0),
            "greeter {} has gids {gids:?}",
            g.pid
        );
    }

    /// Waits until the screen shows `needle`.
    pub fn wait_screen(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?} on the screen"), || {
            let s = self.tmux.screen();
            s.contains(needle).then_some(s)
        })
    }

    /// Waits for the `n`th greeter, agreety, to ask for the user name.
    pub fn agreety_login_prompt(&self, n: usize) -> GreeterInfo {
        let g = self.wait_greeter(n);
        // agreety does not clear the screen: greeter.sh's banner stays above its prompt.
        self.wait_screen(&format!("GREETER-{n}"));
        self.wait_screen("login:");
        g
    }

    /// Logs `user` in through agreety, the `n`th greeter: its `login:` prompt, then PAM's
    /// password prompt.
    pub fn agreety_login(&self, n: usize, user: &str, password: &str) -> GreeterInfo {
        let g = self.agreety_login_prompt(n);
        self.tmux.line(user);
        self.wait_screen("Password:");
        self.tmux.line(password);
        g
    }

    /// Waits for `user`'s session to start and reads what it saw (the marker is consumed, so
    /// the next session of the same user is waited for afresh).
    pub fn session(&self, user: &str) -> SessionInfo {
        let file = format!("session.{user}");
        let text = self.wait_file(&file, &format!("{user}'s session"));
        let _ = fs::remove_file(self.work.path().join(&file));
        SessionInfo(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// Lines of sessions.log (`start USER PID`, `end USER PID`).
    pub fn sessions_log(&self) -> Vec<String> {
        self.work
            .read("sessions.log")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Ends `user`'s running session (session.sh exits) and waits until it has.
    pub fn end_session(&self, user: &str) {
        let before = self.ended(user);
        fs::write(self.work.path().join(format!("end.{user}")), "").unwrap();
        self.wait_until(&format!("the end of {user}'s session"), || {
            (self.ended(user) > before).then_some(())
        });
    }

    fn ended(&self, user: &str) -> usize {
        let prefix = format!("end {user} ");
        self.sessions_log()
            .iter()
            .filter(|l| l.starts_with(&prefix))
            .count()
    }

    /// Whether the daemon is still running.
    pub fn running(&self) -> bool {
        alive(self.pid())
    }

    /// Every `vestibule-worker` under this daemon (other tests run daemons too): the greeter's
    /// own PAM session (`vestibule-worker greeter`) and the logins' (`vestibule-worker login`).
    pub fn workers(&self) -> Vec<u32> {
        descendants(self.pid())
            .into_iter()
            .filter(|&p| crate::exe(p).ends_with("/vestibule-worker"))
            .collect()
    }

    /// The login workers under this daemon (`vestibule-worker login`).
    pub fn login_workers(&self) -> Vec<u32> {
        self.workers_of_kind("login")
    }

    /// The workers of one kind (`login`, `greeter`) under this daemon.
    pub fn workers_of_kind(&self, kind: &str) -> Vec<u32> {
        descendants(self.pid())
            .into_iter()
            .filter(|&p| {
                crate::exe(p).ends_with("/vestibule-worker")
                    && argv(p).get(1).map(String::as_str) == Some(kind)
            })
            .collect()
    }
}

impl Drop for Vestibuled<'_> {
    fn drop(&mut self) {
        let known = self.work.read("sandbox.mntns");
        let namespaces: Vec<&str> = known.lines().filter(|l| !l.is_empty()).collect();
        for pid in processes() {
            if namespaces.contains(&mount_ns(pid).as_str()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// A process's mount namespace ("" once it is gone).
fn mount_ns(pid: u32) -> String {
    fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every descendant of `pid` (children first found through /proc/PID/task/*/children).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(c);
                queue.push(c);
            }
        }
    }
    found
}

/// Kills a process (SIGKILL) when dropped: what a test leaves behind on purpose.
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)
        .unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
}

/// A process's command line.
pub fn argv(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Every pid in /proc.
pub fn processes() -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Whether `pid` runs (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// The real, effective, saved and filesystem uids of a process (`Uid:` of /proc/PID/status).
pub fn uids(pid: u32) -> Vec<u32> {
    status_field(pid, "Uid:")
}

fn status_field(pid: u32, name: &str) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.split_whitespace().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default()
}

/// A process's loginuid.
pub fn loginuid(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/loginuid"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The soft core-file limit the daemon is started with, in KiB (`ulimit -c`), as
/// /proc/PID/limits shows it in bytes.
pub const CORE_LIMIT_KIB: u64 = 4;

/// The soft and hard limits of /proc/PID/limits' "Max core file size" line.
pub fn core_limits(pid: u32) -> (String, String) {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core line for pid {pid} in {limits:?}"));
    let mut words = line["Max core file size".len()..].split_whitespace();
    (
        words.next().unwrap_or_default().to_owned(),
        words.next().unwrap_or_default().to_owned(),
    )
}

/// A process's open-file limit line of /proc/PID/limits ("Max open files  1024  1048576  files").
pub fn nofile_limit(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The session agent on a private bus, started inside the daemon's sandbox (so its PAM calls see
/// the sandbox's accounts), killed when dropped; its log is `agent.log`.
pub struct SandboxAgent {
    child: Child,
}

impl SandboxAgent {
    /// Starts `vestibule-agent` in the sandbox of `daemon` on `bus`, with the work dir's PAM
    /// services, and waits until it answers.
    pub fn start(daemon: &Vestibuled, bus: &crate::PrivateBus) -> SandboxAgent {
        let work = daemon.work;
        let child = Command::new("nsenter")
            .args(["--mount", "--target", &daemon.sandbox_pid().to_string(), "--"])
            .arg(binary("vestibule-agent"))
            .arg("--bus-address")
            .arg(&bus.address)
            .arg("--state")
            .arg(work.path().join("agent/sessions.json"))
            .arg("--pam-confdir")
            .arg(work.pam_dir())
            .args(["--grace-ms", "500", "--watch-interval-ms", "50"])
            .env("VESTIBULE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(work.path().join("agent.log")).unwrap())
            .spawn()
            .expect("start vestibule-agent");
        let agent = SandboxAgent { child };
        let client = bus.client();
        daemon.wait_until("the session agent's answer", || client.list().ok());
        agent
    }
}

impl Drop for SandboxAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
