//! Harness for the agent's `org.freedesktop.login1` tests: the agent started with `--login1 on`
//! on a private dbus-daemon, real sessions opened by the core (`vestibule-login` in the sandbox,
//! registered with the agent by its supervisor), and real login1 clients nobody here wrote
//! (Debian's `loginctl`, `busctl`, `xss-lock`, `swayidle`) run in the sandbox's mount namespace.
//!
//! Why in the sandbox: the accounts (alice, bob, …) exist only in its private /etc, and the agent,
//! like the clients, must see them as it would on a real machine (user names, groups). Debian's
//! `loginctl` refuses to run unless `/run/systemd/system` exists ("System has not been booted with
//! systemd"), so the clients' namespace gets a tmpfs over `/run/systemd` with that directory in
//! it; nothing of the host's /run changes. sd-bus and GDBus honour `DBUS_SYSTEM_BUS_ADDRESS`,
//! which points them at the private bus.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vestibule_agent::wire::WireSession;

use crate::*;

/// The well-known name the agent serves login1 under.
pub const LOGIN1: &str = "org.freedesktop.login1";
/// The manager object.
pub const MANAGER_PATH: &str = "/org/freedesktop/login1";

/// The shell prologue of every client run: a private /run/systemd with `system` in it (the
/// sandbox's own mount namespace; the host's /run/systemd is only covered here).
const SYSTEMD_DIR: &str = "mount -t tmpfs -o mode=755 tmpfs /run/systemd && mkdir /run/systemd/system";

/// Quotes one word for sh.
pub fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `/org/freedesktop/login1/session/<id>` with sd_bus_path_encode's escaping (every byte but
/// `[A-Za-z0-9]` as `_xx`, and a leading digit too): `1` → `_31`.
pub fn session_path(id: &str) -> String {
    let mut out = String::from("/org/freedesktop/login1/session/");
    for (i, b) in id.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// `/org/freedesktop/login1/user/_<uid>`, as logind names user objects.
pub fn user_path(uid: u32) -> String {
    format!("/org/freedesktop/login1/user/_{uid}")
}

/// A private dbus-daemon in the sandbox, with the configuration [`PrivateBus`] renders
/// (`tests/fixtures/dbus/bus.conf.in`: Debian's system-bus defaults plus the shipped policies).
/// In the sandbox because dbus-daemon looks up each client's uid in /etc (its groups, for the
/// policy) and drops the connection of a uid it cannot find: alice exists only there. Killed
/// (its sandbox's process group) when dropped; its log is `bus.log`.
pub struct SandboxBus {
    child: Option<Child>,
    pub address: String,
}

impl SandboxBus {
    pub fn start(work: &Work) -> SandboxBus {
        let conf_path = crate::bus_config(work);
        let args = [
            "dbus-daemon".to_owned(),
            format!("--config-file={}", conf_path.display()),
            "--nofork".into(),
            "--nopidfile".into(),
            "--print-address=1".into(),
        ];
        let mut cmd = sandboxed(work, &args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(work.path().join("bus.log")).unwrap())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .expect("dbus-daemon in the sandbox (package dbus-daemon; scripts/install-deps.sh installs it)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let bus = SandboxBus {
            child: Some(child),
            address: line.trim().to_owned(),
        };
        assert!(
            bus.address.starts_with("unix:"),
            "dbus-daemon printed {line:?}; its log: {}",
            work.read("bus.log")
        );
        bus
    }

    /// A client of the agent's own API on this bus.
    pub fn client(&self) -> vestibule_agent::client::Client {
        vestibule_agent::client::Client::connect(Some(&self.address)).expect("connect to the private bus")
    }
}

impl Drop for SandboxBus {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// SIGKILL to a sandboxed child's process group (the sandbox script and what it started), then
/// reaps it.
fn kill_group(child: &mut Option<Child>) {
    if let Some(c) = child {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = c.wait();
    }
}

/// `vestibule-agent --login1 on` in the sandbox (so it sees the sandbox's accounts), with its
/// private bus; the agent's whole process group is killed when dropped, then the bus.
pub struct Login1Agent {
    child: Option<Child>,
    pub bus: SandboxBus,
}

impl Login1Agent {
    /// Starts the bus and the agent (PAM stack `permit` with the record.py witness unless the test
    /// rendered one) and waits until `org.freedesktop.login1` has an owner.
    pub fn start(work: &Work) -> Login1Agent {
        let bus = SandboxBus::start(work);
        let mut agent = Login1Agent { child: None, bus };
        agent.spawn(work);
        agent
    }

    fn spawn(&mut self, work: &Work) {
        if !work.pam_dir().join("vestibule").exists() {
            work.service("permit", &[("RECORD", "")]);
        }
        let args = [
            binary("vestibule-agent").to_string_lossy().into_owned(),
            "--bus-address".into(),
            self.bus.address.clone(),
            "--state".into(),
            work.path()
                .join("run/vestibule/sessions.json")
                .to_string_lossy()
                .into_owned(),
            "--pam-confdir".into(),
            work.pam_dir().to_string_lossy().into_owned(),
            "--grace-ms".into(),
            "500".into(),
            "--watch-interval-ms".into(),
            "50".into(),
            "--login1".into(),
            "on".into(),
        ];
        let mut cmd = sandboxed(work, &args);
        cmd.env("VESTIBULE_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(work.path().join("agent.log")).unwrap())
            .process_group(0);
        self.child = Some(cmd.spawn().expect("start vestibule-agent in the sandbox"));
        let start = Instant::now();
        while name_owner(&self.bus.address, LOGIN1).is_none() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the agent ended ({st}); its log:\n{}", work.read("agent.log"));
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the agent did not take {LOGIN1}; its log:\n{}",
                work.read("agent.log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The agent's own API (org.vestibule.SessionAgent1) on the same bus: what it lists is the
    /// truth the login1 view must match.
    pub fn client(&self) -> vestibule_agent::client::Client {
        self.bus.client()
    }
}

impl Drop for Login1Agent {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// The unique name owning `name` on the bus at `address`, if any.
pub fn name_owner(address: &str, name: &str) -> Option<String> {
    let conn = zbus::blocking::connection::Builder::address(address)
        .ok()?
        .build()
        .ok()?;
    let reply = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetNameOwner",
            &(name,),
        )
        .ok()?;
    reply.body().deserialize::<String>().ok()
}

/// The processes (pids) of the session whose leader is `leader`: those in its process group or
/// its Linux session (the leader heads its own group; a console login also its own session), as
/// the agent finds a caller's session.
pub fn processes_in_session(leader: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        // After the name: state ppid pgrp session.
        let field = |i: usize| fields.get(i).and_then(|s| s.parse::<u32>().ok());
        if field(2) == Some(leader) || field(3) == Some(leader) {
            out.push(pid);
        }
    }
    out
}

/// A real login through the core: `vestibule-login --user USER --tty TTY --agent-bus ADDR --
/// sh -c SCRIPT` as root in the sandbox (PAM stack of the work dir). Killed when dropped: the
/// login's process group and every process of the session it started (the leader runs in a Linux
/// session of its own).
pub struct Login {
    child: Option<Child>,
    pub user: String,
    /// The session as the agent's own API lists it, once registered.
    pub session: WireSession,
}

impl Login {
    /// Logs `user` in on `tty` running `sh -c script`, and waits until the agent lists the
    /// session.
    pub fn start(work: &Work, agent: &Login1Agent, user: &str, tty: &str, script: &str) -> Login {
        let args = login_args(
            work,
            &[
                "--user",
                user,
                "--tty",
                tty,
                "--agent-bus",
                &agent.bus.address,
                "--",
                "sh",
                "-c",
                script,
            ],
        );
        let mut cmd = sandboxed(work, &args);
        cmd.env("VESTIBULE_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(work.path().join(format!("login-{user}.log"))).unwrap())
            .process_group(0);
        let mut child = cmd.spawn().expect("start vestibule-login in the sandbox");
        let client = agent.client();
        let start = Instant::now();
        let session = loop {
            if let Some(s) = client.list().unwrap().into_iter().find(|s| s.user == user) {
                break s;
            }
            if let Some(st) = child.try_wait().unwrap() {
                panic!(
                    "{user}'s login ended ({st}) before registering: {}",
                    work.read(&format!("login-{user}.log"))
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{user}'s session was not registered: {}",
                work.read(&format!("login-{user}.log"))
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Login {
            child: Some(child),
            user: user.to_owned(),
            session,
        }
    }

    pub fn id(&self) -> &str {
        &self.session.id
    }

    /// Whether the login (its supervisor) has ended, within `limit`.
    pub fn ended_within(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        kill_group(&mut self.child);
        for pid in processes_in_session(self.session.leader) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// One client run: who runs it (`None`: root) and its command line.
pub struct Call<'a> {
    pub user: Option<&'a str>,
    pub argv: Vec<String>,
}

/// `loginctl --no-pager --no-ask-password ARGS…` as `user` (None: root).
pub fn loginctl<'a>(user: Option<&'a str>, args: &[&str]) -> Call<'a> {
    let mut argv = vec![
        "loginctl".to_owned(),
        "--no-pager".into(),
        "--no-ask-password".into(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    Call { user, argv }
}

/// Any client command line as `user` (None: root).
pub fn command<'a>(user: Option<&'a str>, args: &[&str]) -> Call<'a> {
    Call {
        user,
        argv: args.iter().map(|s| s.to_string()).collect(),
    }
}

/// What one client run printed and its exit status.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `calls` one after the other in one sandbox (its accounts, a /run/systemd/system of its
/// own, `DBUS_SYSTEM_BUS_ADDRESS` = the private bus), each as its user through `setpriv` (uid,
/// gid and groups from the sandbox's /etc). Returns each run's output, in order.
pub fn run_clients(work: &Work, bus: &SandboxBus, calls: &[Call]) -> Vec<Out> {
    let dir = tempfile::Builder::new()
        .prefix("clients.")
        .tempdir_in(work.path())
        .unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let mut script = format!("set -u\n{SYSTEMD_DIR} || exit 90\n");
    for (i, call) in calls.iter().enumerate() {
        let mut line = String::new();
        if let Some(u) = call.user {
            line.push_str(&format!(
                "setpriv --reuid={u} --regid={u} --init-groups --reset-env -- env DBUS_SYSTEM_BUS_ADDRESS={} ",
                sh_quote(&bus.address)
            ));
        }
        for w in &call.argv {
            line.push_str(&sh_quote(w));
            line.push(' ');
        }
        script.push_str(&format!(
            "{line} </dev/null >{d}/{i}.out 2>{d}/{i}.err; echo $? >{d}/{i}.rc\n"
        ));
    }
    let args = ["sh".to_owned(), "-c".to_owned(), script.clone()];
    let mut cmd = sandboxed(work, &args);
    cmd.env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_COLORS", "0")
        .env("TERM", "dumb")
        .env("LC_ALL", "C.UTF-8");
    let run = wait_limited(spawn(&mut cmd), LIMIT * 2);
    assert_eq!(
        run.code(),
        Some(0),
        "the clients' sandbox failed: {}\n{script}",
        run.all()
    );
    (0..calls.len())
        .map(|i| {
            let read =
                |ext: &str| fs::read_to_string(Path::new(&d).join(format!("{i}.{ext}"))).unwrap_or_default();
            Out {
                code: read("rc").trim().parse().unwrap_or(-1),
                stdout: read("out"),
                stderr: read("err"),
            }
        })
        .collect()
}

/// One client run (see [`run_clients`]).
pub fn run_client(work: &Work, bus: &SandboxBus, call: Call) -> Out {
    run_clients(work, bus, &[call]).pop().unwrap()
}

/// `KEY=value` lines (loginctl show-*) as pairs, in order.
pub fn key_values(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The value of `key` in `KEY=value` lines, panicking with the text when absent.
pub fn value<'t>(pairs: &'t [(String, String)], key: &str) -> &'t str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key}= in {pairs:?}"))
}

/// The table rows of `loginctl list-sessions`/`list-users` (header and footer left out), each
/// split into its columns.
pub fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The `Key: value` lines of `loginctl session-status`/`user-status` (after the title line),
/// trimmed, as pairs.
pub fn status_fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Polls `f` until it holds, panicking with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
