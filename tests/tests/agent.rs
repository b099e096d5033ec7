//! The session agent on a real dbus-daemon: a private bus per test, started from
//! `tests/fixtures/dbus/bus.conf.in` (Debian's system-bus default policy plus the shipped
//! `data/dbus/org.vestibule.SessionAgent1.conf`, included as is), the real `vestibule-agent` and
//! `vestibulectl` binaries, other uids through `setpriv`, and the record.py witness proving which
//! PAM calls the agent made.
//!
//! Most sessions here are stand-ins: a `sleep` in its own process group as the leader and another
//! `sleep` as the supervisor, registered by root; a thread of the test plays the supervisor's part
//! of a close (unregistering once the leader is gone). Closing such a session must end the leader;
//! when the "supervisor" is gone the agent must close the PAM session itself, exactly once.
//!
//! The last tests use the real thing: `vestibule-tui --plain` (which executes `vestibule-login`)
//! in the sandbox, and logins through `vestibuled` (greeters agreety and vestibule-tui, harness
//! `vestibule_e2e::daemon`), whose `vestibule-worker` registers the PAM session with the agent and
//! closes it in its own transaction when the agent asks.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vestibule_agent::client::{CallError, Client, NewSession};
use vestibule_agent::wire::WireSession;
use vestibule_core::record::SessionRecord;
use vestibule_e2e::*;
use zbus::zvariant::OwnedValue;

const NOBODY: u32 = 65534;
/// A `--watch-interval-ms` no test outlives: only pidfd watches notice a supervisor's exit.
const HOUR_MS: u64 = 3_600_000;
const SIGTERM: i32 = nix::sys::signal::Signal::SIGTERM as i32;
const SIGKILL: i32 = nix::sys::signal::Signal::SIGKILL as i32;
const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
const INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";
const NO_SUCH_SESSION: &str = "org.vestibule.SessionAgent1.Error.NoSuchSession";
const SESSION_IFACE: &str = "org.vestibule.SessionAgent1.Session";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// The tests' private bus (shared harness).
type Bus = PrivateBus;

/// A running `vestibule-agent`, killed when dropped; its log is `agent.log` in the work dir.
struct Agent {
    child: Child,
}

impl Agent {
    /// Starts the agent on `bus` with the `permit` PAM stack (record.py in the session stack)
    /// and waits until it answers.
    fn start(work: &Work, bus: &Bus) -> Agent {
        Agent::start_with(work, bus, 50, 500)
    }

    /// The same, with the supervisor watch every `watch_ms` (after its first round at start) and
    /// `grace_ms` between SIGTERM and SIGKILL.
    fn start_with(work: &Work, bus: &Bus, watch_ms: u64, grace_ms: u64) -> Agent {
        Agent::start_args(work, bus, watch_ms, grace_ms, &[])
    }

    /// The same, with more arguments.
    fn start_args(work: &Work, bus: &Bus, watch_ms: u64, grace_ms: u64, extra: &[&str]) -> Agent {
        if !work.pam_dir().join("vestibule").exists() {
            work.service("permit", &[("RECORD", "")]);
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(work.path().join("agent.log"))
            .unwrap();
        let child = Command::new(binary("vestibule-agent"))
            .arg("--bus-address")
            .arg(&bus.address)
            .arg("--state")
            .arg(state_path(work))
            .arg("--pam-confdir")
            .arg(work.pam_dir())
            .args(["--grace-ms", &grace_ms.to_string()])
            .args(["--watch-interval-ms", &watch_ms.to_string()])
            .args(extra)
            .env("VESTIBULE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start vestibule-agent");
        let agent = Agent { child };
        let client = bus.client();
        let start = Instant::now();
        while client.list().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the agent did not answer; its log:\n{}",
                work.read("agent.log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    /// SIGTERM, as systemd stops it.
    fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn state_path(work: &Work) -> PathBuf {
    work.path().join("run/vestibule/sessions.json")
}

/// The agent's journal, next to its snapshot.
fn journal_path(work: &Work) -> PathBuf {
    work.path().join("run/vestibule/sessions.json.journal")
}

/// Everything the agent has on disk: snapshot and journal.
fn state_files(work: &Work) -> (Vec<u8>, Vec<u8>) {
    (
        fs::read(state_path(work)).unwrap(),
        fs::read(journal_path(work)).unwrap_or_default(),
    )
}

/// A stand-in session: a leader in its own process group and a supervisor, both `sleep`.
struct Fake {
    leader: Child,
    supervisor: Child,
}

impl Fake {
    fn start() -> Fake {
        let quiet = |cmd: &mut Command| {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let leader = quiet(Command::new("sleep").arg("600").process_group(0));
        let supervisor = quiet(Command::new("sleep").arg("600"));
        Fake { leader, supervisor }
    }

    fn registration(&self, user: &str, uid: u32, tty: &str) -> NewSession {
        NewSession {
            user: user.into(),
            uid,
            tty: tty.into(),
            display: String::new(),
            remote_host: String::new(),
            service: "vestibule".into(),
            leader: self.leader.id(),
            supervisor: self.supervisor.id(),
            class: "user".into(),
        }
    }

    /// Whether the leader is still running (not yet ended by the agent).
    fn leader_running(&mut self) -> bool {
        self.leader.try_wait().unwrap().is_none()
    }

    /// How the leader ended (reaps it).
    fn leader_signal(&mut self) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.leader.try_wait().unwrap() {
                return st.signal();
            }
            assert!(start.elapsed() < Duration::from_secs(10), "leader still running");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_supervisor(&mut self) {
        self.supervisor.kill().unwrap();
        self.supervisor.wait().unwrap();
    }

    /// Does what the core's supervisor does once its session's leader is gone (after closing the
    /// PAM session): unregisters session `id`. The agent's CloseSession replies only after that.
    fn unregister_when_leader_ends(&self, bus: &Bus, id: &str) {
        let leader = self.leader.id();
        let address = bus.address.clone();
        let id = id.to_owned();
        std::thread::spawn(move || {
            while running(leader) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if let Ok(c) = Client::connect(Some(&address)) {
                let _ = c.unregister(&id);
            }
        });
    }
}

/// Whether `pid` exists and is not a zombie.
/// A stand-in lock screen for session `id`: registers with SetLocker (as root) and answers each
/// `Lock(id)` with ReportLocked, as a real lock screen does once the screen is covered and its
/// input held; LockSession replies only then. Lives as long as the test's bus.
fn fake_locker(bus: &Bus, id: &str) {
    let client = bus.client();
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.vestibule.SessionAgent1")
        .unwrap()
        .member("Lock")
        .unwrap()
        .build();
    let messages =
        zbus::blocking::MessageIterator::for_match_rule(rule, client.connection(), Some(64)).unwrap();
    client.set_locker(id).unwrap();
    let id = id.to_owned();
    std::thread::spawn(move || {
        for m in messages.flatten() {
            if m.body().deserialize::<String>().ok().as_deref() == Some(id.as_str()) {
                let _ = client.report_locked(&id);
            }
        }
    });
}

fn running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next();
            !matches!(state, Some("Z" | "X" | "x") | None)
        }
        Err(_) => false,
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        for c in [&mut self.leader, &mut self.supervisor] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `vestibulectl --bus-address ADDR ARGS…`, as root or (with `as_nobody`) as nobody/nogroup.
fn ctl(bus: &Bus, as_nobody: bool, args: &[&str]) -> Run {
    let ctl = binary("vestibulectl");
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(ctl);
        c
    } else {
        Command::new(ctl)
    };
    cmd.arg("--bus-address").arg(&bus.address).args(args);
    wait_limited(spawn(&mut cmd), LIMIT)
}

/// `dbus-send` to the agent as nobody (a client that is not ours, with argument types we choose).
fn dbus_send(bus: &Bus, as_nobody: bool, method: &str, args: &[&str]) -> Run {
    dbus_send_to(
        bus,
        as_nobody,
        "/org/vestibule/SessionAgent1",
        &format!("org.vestibule.SessionAgent1.{method}"),
        args,
    )
}

/// `dbus-send` of `member` (`interface.Method`) to the object at `path` of the agent.
fn dbus_send_to(bus: &Bus, as_nobody: bool, path: &str, member: &str, args: &[&str]) -> Run {
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "dbus-send"]);
        c
    } else {
        Command::new("dbus-send")
    };
    cmd.arg(format!("--bus={}", bus.address))
        .args([
            "--print-reply",
            "--dest=org.vestibule.SessionAgent1",
            path,
            member,
        ])
        .args(args);
    wait_limited(spawn(&mut cmd), LIMIT)
}

fn error_name(r: Result<impl std::fmt::Debug, CallError>) -> String {
    match r {
        Err(e) => e.name().unwrap_or("(transport error)").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// `Properties.GetAll` of a session object.
fn get_all(client: &Client, path: &str) -> Result<HashMap<String, OwnedValue>, CallError> {
    let reply = client.connection().call_method(
        Some("org.vestibule.SessionAgent1"),
        path,
        Some(PROPERTIES),
        "GetAll",
        &(SESSION_IFACE,),
    )?;
    Ok(reply.body().deserialize()?)
}

/// A method of a session object's `org.vestibule.SessionAgent1.Session`.
fn call_object(client: &Client, path: &str, method: &str) -> Result<(), CallError> {
    client.connection().call_method(
        Some("org.vestibule.SessionAgent1"),
        path,
        Some(SESSION_IFACE),
        method,
        &(),
    )?;
    Ok(())
}

fn string(props: &HashMap<String, OwnedValue>, name: &str) -> String {
    let v = props
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {props:?}"));
    String::try_from(v.try_clone().unwrap()).unwrap()
}

fn number(props: &HashMap<String, OwnedValue>, name: &str) -> u64 {
    match &**props
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {props:?}"))
    {
        zbus::zvariant::Value::U32(n) => u64::from(*n),
        zbus::zvariant::Value::U64(n) => *n,
        v => panic!("{name} = {v:?}"),
    }
}

fn ids(list: &[WireSession]) -> Vec<&str> {
    list.iter().map(|s| s.id.as_str()).collect()
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn root_registers_lists_and_closes_a_session() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    let mut fake = Fake::start();

    let id = client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    assert_eq!(id, "1");
    fake.unregister_when_leader_ends(&bus, &id);
    let list = client.list().unwrap();
    assert_eq!(ids(&list), ["1"]);
    let s = &list[0];
    assert_eq!((s.user.as_str(), s.uid, s.tty.as_str()), ("alice", 1000, "tty7"));
    assert_eq!((s.state.as_str(), s.class.as_str()), ("active", "user"));
    assert_eq!(s.leader, fake.leader.id());
    assert_eq!(client.get("1").unwrap(), *s);
    assert_eq!(client.get_by_pid(fake.leader.id()).unwrap().id, "1");
    assert_eq!(client.get_by_pid(fake.supervisor.id()).unwrap().id, "1");
    // Any process of the session's process group belongs to it.
    let member = Reaped::spawn(
        Command::new("sleep")
            .arg("600")
            .process_group(fake.leader.id() as i32),
    );
    assert_eq!(client.get_by_pid(member.id()).unwrap().id, "1");
    drop(member);
    assert!(state_path(&work).is_file(), "the table is persisted");

    // vestibulectl: the table and --json.
    let table = ctl(&bus, false, &["list-sessions"]);
    assert_eq!(table.code(), Some(0), "{}", table.all());
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(
        lines[0], "SESSION  UID USER  TTY  DISPLAY REMOTE CLASS STATE  LEADER SINCE",
        "{table:?}"
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &cells[..8],
        ["1", "1000", "alice", "tty7", "-", "-", "user", "active"]
    );
    assert_eq!(cells[8], fake.leader.id().to_string());
    assert_eq!(lines.last().unwrap(), &"1 session listed.");
    let json = ctl(&bus, false, &["--json", "list-sessions"]);
    let records: Vec<SessionRecord> = serde_json::from_str(&json.stdout).expect("list-sessions --json");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].user, "alice");
    assert_eq!(records[0].tty.as_deref(), Some("tty7"));
    assert_eq!(records[0].display, None);
    let show = ctl(&bus, false, &["show-session", "1"]);
    assert!(
        show.stdout.contains("Id=1\nUser=alice\nUID=1000\nTTY=tty7\n"),
        "{}",
        show.stdout
    );
    let one: SessionRecord =
        serde_json::from_str(&ctl(&bus, false, &["show-session", "1", "--json"]).stdout).unwrap();
    assert_eq!(one, records[0]);

    // Close: the leader gets SIGTERM, the reply comes once it is gone.
    let closed = ctl(&bus, false, &["terminate-session", "1"]);
    assert_eq!(closed.code(), Some(0), "{}", closed.all());
    assert!(
        !fake.leader_running(),
        "the reply came before the leader was gone"
    );
    assert_eq!(fake.leader_signal(), Some(SIGTERM));
    assert!(client.list().unwrap().is_empty());
    assert_eq!(error_name(client.get("1")), NO_SUCH_SESSION);
    // The supervisor is alive: closing the PAM session is its job, not the agent's.
    assert_eq!(count(&work.record(), "close_session"), 0);
    assert!(!fs::read_to_string(state_path(&work)).unwrap().contains("alice"));

    // Unregister (the supervisor's way out) needs no close.
    let other = Fake::start();
    let id = client.register(&other.registration("bob", 1001, "tty8")).unwrap();
    assert_eq!(id, "2", "ids are never reused");
    client.unregister(&id).unwrap();
    assert!(client.list().unwrap().is_empty());
}

#[test]
fn another_uid_may_not_see_close_or_lock_a_session() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    let mut fake = Fake::start();
    client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    let before = state_files(&work);

    for args in [
        &["terminate-session", "1"][..],
        &["terminate-user", "1000"],
        &["terminate-user", "root"],
        &["lock-session", "1"],
        &["lock-sessions"],
        &["show-session", "1"],
    ] {
        let r = ctl(&bus, true, args);
        assert_eq!(r.code(), Some(1), "{args:?}: {}", r.all());
        assert!(r.stderr.contains(ACCESS_DENIED), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("uid 65534 may not"), "{args:?}: {}", r.stderr);
    }
    let denied = ctl(&bus, true, &["terminate-session", "1"]);
    assert_eq!(
        denied.stderr.trim(),
        "vestibulectl: terminate-session 1: org.freedesktop.DBus.Error.AccessDenied: uid 65534 may not \
         close session 1 of uid 1000: a user may only act on their own sessions"
    );
    // Others' sessions are simply not in a user's list.
    let list = ctl(&bus, true, &["list-sessions"]);
    assert_eq!(list.code(), Some(0), "{}", list.all());
    assert!(list.stdout.ends_with("0 sessions listed.\n"), "{}", list.stdout);
    // Only root registers.
    let reg = dbus_send(
        &bus,
        true,
        "RegisterSession",
        &[
            "string:nobody",
            "uint32:65534",
            "string:tty9",
            "string:",
            "string:",
            "string:vestibule",
            &format!("uint32:{}", fake.leader.id()),
            &format!("uint32:{}", fake.supervisor.id()),
            "string:user",
        ],
    );
    assert_ne!(reg.code(), Some(0));
    assert!(reg.stderr.contains(ACCESS_DENIED), "{}", reg.all());

    assert!(fake.leader_running(), "a refused close touched the session");
    assert_eq!(client.get("1").unwrap().state, "active");
    assert_eq!(state_files(&work), before, "a refused call changed the state");
}

#[test]
fn a_user_may_lock_and_close_their_own_session() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    let mut mine = Fake::start();
    let theirs = Fake::start();
    let id = client
        .register(&mine.registration("nobody", NOBODY, "tty3"))
        .unwrap();
    mine.unregister_when_leader_ends(&bus, &id);
    client
        .register(&theirs.registration("alice", 1000, "tty4"))
        .unwrap();

    let list = ctl(&bus, true, &["--json", "list-sessions"]);
    let records: Vec<SessionRecord> = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["1"]);

    fake_locker(&bus, "1");
    let lock = ctl(&bus, true, &["lock-session", "1"]);
    assert_eq!(lock.code(), Some(0), "{}", lock.all());
    assert_eq!(client.get("1").unwrap().state, "locked");
    // Unlocking is root's (the lock screen's helper, after authenticating).
    let unlock = ctl(&bus, true, &["unlock-session", "1"]);
    assert!(unlock.stderr.contains(ACCESS_DENIED), "{}", unlock.all());
    assert_eq!(client.get("1").unwrap().state, "locked");

    let close = ctl(&bus, true, &["terminate-user", "nobody"]);
    assert_eq!(close.code(), Some(0), "{}", close.all());
    assert_eq!(mine.leader_signal(), Some(SIGTERM));
    assert_eq!(
        ids(&client.list().unwrap()),
        ["2"],
        "only their own session was closed"
    );
}

#[test]
fn bogus_calls_get_dbus_errors_and_change_nothing() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    let mut fake = Fake::start();
    client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    let before = state_files(&work);
    let list_before = client.list().unwrap();

    assert_eq!(error_name(client.get("99")), NO_SUCH_SESSION);
    assert_eq!(error_name(client.close("99")), NO_SUCH_SESSION);
    assert_eq!(error_name(client.lock("99")), NO_SUCH_SESSION);
    assert_eq!(error_name(client.unregister("99")), NO_SUCH_SESSION);
    assert_eq!(error_name(client.close_user(4242)), NO_SUCH_SESSION);
    assert_eq!(error_name(client.get_by_pid(std::process::id())), NO_SUCH_SESSION);
    assert_eq!(error_name(client.get("c1")), INVALID_ARGS);
    assert_eq!(error_name(client.get("")), INVALID_ARGS);
    assert_eq!(error_name(client.get_by_pid(0)), INVALID_ARGS);

    // Huge strings: refused before anything is stored or logged.
    let huge = "x".repeat(1 << 20);
    let r = client.register(&NewSession {
        user: huge.clone(),
        ..fake.registration("alice", 1000, "tty7")
    });
    match r {
        Err(CallError::Remote { name, message }) => {
            assert_eq!(name, INVALID_ARGS);
            assert_eq!(message, "user is 1048576 bytes long; at most 255 are accepted");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error_name(client.close(&huge)), INVALID_ARGS);
    assert!(
        !work.read("agent.log").contains("xxxxxxxxxxxxxxxx"),
        "a huge string was logged"
    );
    // Registrations that name no real process, service or class.
    for bad in [
        NewSession {
            leader: 4_000_000,
            ..fake.registration("alice", 1000, "tty7")
        },
        NewSession {
            service: "login".into(),
            ..fake.registration("alice", 1000, "tty7")
        },
        NewSession {
            class: "admin".into(),
            ..fake.registration("alice", 1000, "tty7")
        },
        NewSession {
            tty: "../../etc/passwd".into(),
            ..fake.registration("alice", 1000, "tty7")
        },
    ] {
        assert_eq!(error_name(client.register(&bad)), INVALID_ARGS, "{bad:?}");
    }

    // Wrong argument types and counts, from a client that is not ours: refused before the method
    // runs, with InvalidArgs naming the type the method takes.
    for (method, args) in [
        ("CloseSession", &["uint32:1"][..]),
        ("GetSession", &[][..]),
        ("GetSessionByPid", &["string:1"][..]),
        ("LockSession", &["string:1", "string:2"][..]),
        ("RegisterSession", &["string:alice"][..]),
        ("ListSessions", &["string:all"][..]),
    ] {
        let r = dbus_send(&bus, false, method, args);
        assert_ne!(r.code(), Some(0), "{method} {args:?}: {}", r.all());
        assert!(
            r.stderr.contains(INVALID_ARGS) && r.stderr.contains("takes arguments of type"),
            "{method} {args:?}: {}",
            r.all()
        );
    }
    let r = dbus_send(&bus, false, "NoSuchMethod", &[]);
    assert!(
        r.stderr.contains("org.freedesktop.DBus.Error.UnknownMethod"),
        "{}",
        r.all()
    );

    // Thousands of calls: each gets its error, the agent stays up and unchanged.
    let start = Instant::now();
    for i in 0..2000 {
        let r = if i % 2 == 0 {
            client.get(&format!("{}", 1000 + i))
        } else {
            client.get("bogus")
        };
        assert!(r.is_err());
    }
    eprintln!("2000 bogus calls took {:?}", start.elapsed());

    assert!(fake.leader_running());
    assert_eq!(client.list().unwrap(), list_before);
    assert_eq!(state_files(&work), before, "a bogus call changed the state");
}

/// Only the canonical spelling of an id names a session: `01` and `+1` (which `u64::from_str`
/// would read as 1) are refused with InvalidArgs by every call that takes an id, and none of
/// them touches session 1 or brings the agent down while building a path from the caller's text.
#[test]
fn non_canonical_session_ids_are_refused_and_the_agent_keeps_answering() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    let mut fake = Fake::start();
    let id = client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    assert_eq!(id, "1");
    let before = state_files(&work);
    let list_before = client.list().unwrap();
    for bad in ["01", "+1", "001", " 1", "1 ", "-1", "1e0", ""] {
        assert_eq!(error_name(client.get(bad)), INVALID_ARGS, "GetSession {bad:?}");
        assert_eq!(
            error_name(client.session_path(bad)),
            INVALID_ARGS,
            "GetSessionPath {bad:?}"
        );
        assert_eq!(error_name(client.lock(bad)), INVALID_ARGS, "LockSession {bad:?}");
        assert_eq!(
            error_name(client.unlock(bad)),
            INVALID_ARGS,
            "UnlockSession {bad:?}"
        );
        assert_eq!(
            error_name(client.set_locker(bad)),
            INVALID_ARGS,
            "SetLocker {bad:?}"
        );
        assert_eq!(
            error_name(client.unregister(bad)),
            INVALID_ARGS,
            "Unregister {bad:?}"
        );
        assert_eq!(
            error_name(client.close(bad)),
            INVALID_ARGS,
            "CloseSession {bad:?}"
        );
    }
    // The same from vestibulectl: the error is InvalidArgs, its text says why.
    let r = ctl(&bus, false, &["show-session", "+1"]);
    assert_ne!(r.code(), Some(0), "{}", r.all());
    assert!(r.stderr.contains("canonical decimal"), "{}", r.all());

    assert!(fake.leader_running());
    assert_eq!(client.list().unwrap(), list_before);
    assert_eq!(state_files(&work), before, "a non-canonical id changed the state");
    assert_eq!(
        client.session_path("1").unwrap().as_str(),
        "/org/vestibule/SessionAgent1/session/1"
    );
}

/// "Locked" means covered: LockSession on a session with no lock screen fails with NoLockScreen,
/// and with a lock screen that never reports the screen covered it fails with NotCovered once the
/// bound (`--lock-timeout-ms`) is up; either way the session does not read `locked`. A report
/// from anyone but the session's lock screen is refused.
#[test]
fn lock_session_without_a_lock_screen_that_covers_fails_and_the_session_stays_active() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start_args(&work, &bus, 50, 500, &["--lock-timeout-ms", "300"]);
    let client = bus.client();
    let fake = Fake::start();
    let id = client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    match client.lock(&id) {
        Err(CallError::Remote { name, message }) => {
            assert_eq!(name, "org.vestibule.SessionAgent1.Error.NoLockScreen");
            assert!(message.contains("no lock screen"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.get(&id).unwrap().state, "active");
    let r = ctl(&bus, false, &["lock-session", &id]);
    assert_ne!(r.code(), Some(0), "{}", r.all());
    assert!(r.stderr.contains("NoLockScreen"), "{}", r.all());

    // A lock screen that registers but never says the screen is covered.
    let silent = bus.client();
    silent.set_locker(&id).unwrap();
    let start = Instant::now();
    assert_eq!(
        error_name(client.lock(&id)),
        "org.vestibule.SessionAgent1.Error.NotCovered"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(client.get(&id).unwrap().state, "active");
    // Only the lock screen may report the screen covered.
    assert_eq!(error_name(client.report_locked(&id)), ACCESS_DENIED);
    drop(silent);

    // A lock screen that does: LockSession replies, and the session reads locked.
    fake_locker(&bus, &id);
    client.lock(&id).unwrap();
    assert_eq!(client.get(&id).unwrap().state, "locked");
}

#[test]
fn signals_reach_a_second_client() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    let watcher = bus.client();
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.vestibule.SessionAgent1")
        .unwrap()
        .build();
    let signals =
        zbus::blocking::MessageIterator::for_match_rule(rule, watcher.connection(), Some(64)).unwrap();
    let fake = Fake::start();

    let id = client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    fake.unregister_when_leader_ends(&bus, &id);
    fake_locker(&bus, &id);
    client.lock(&id).unwrap();
    client.lock(&id).unwrap(); // already locked: no second Lock signal
    client.unlock(&id).unwrap();
    client.lock_all().unwrap();
    client.close(&id).unwrap();

    let mut seen = Vec::new();
    for msg in signals {
        let msg = msg.unwrap();
        let header = msg.header();
        let member = header.member().unwrap().to_string();
        let text = match member.as_str() {
            "SessionNew" | "SessionRemoved" => {
                let (id, path): (String, zbus::zvariant::OwnedObjectPath) = msg.body().deserialize().unwrap();
                format!("{member} {id} {}", path.as_str())
            }
            _ => {
                let id: String = msg.body().deserialize().unwrap();
                format!("{member} {id}")
            }
        };
        seen.push(text);
        if member == "SessionRemoved" {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "SessionNew 1 /org/vestibule/SessionAgent1/session/1",
            "Lock 1",
            "Unlock 1",
            "Lock 1",
            "SessionRemoved 1 /org/vestibule/SessionAgent1/session/1",
        ]
    );
}

#[test]
fn a_second_client_reads_a_session_objects_properties_and_sees_them_change() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    let watcher = bus.client();
    let fake = Fake::start();
    let id = client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    fake.unregister_when_leader_ends(&bus, &id);
    let path = client.session_path(&id).unwrap();
    assert_eq!(path.as_str(), "/org/vestibule/SessionAgent1/session/1");

    let props = get_all(&watcher, &path).unwrap();
    assert_eq!(props.len(), 13, "{props:?}");
    assert_eq!(string(&props, "Id"), "1");
    assert_eq!(string(&props, "User"), "alice");
    assert_eq!(number(&props, "Uid"), 1000);
    assert_eq!(string(&props, "Tty"), "tty7");
    assert_eq!(string(&props, "Display"), "");
    assert_eq!(string(&props, "RemoteHost"), "");
    assert_eq!(string(&props, "Service"), "vestibule");
    assert_eq!(number(&props, "Leader"), u64::from(fake.leader.id()));
    assert_eq!(number(&props, "Supervisor"), u64::from(fake.supervisor.id()));
    assert_eq!(string(&props, "Class"), "user");
    assert_eq!(string(&props, "State"), "active");
    assert!(!bool::try_from(&*props["Locked"]).unwrap());
    assert_eq!(number(&props, "Since"), client.get(&id).unwrap().since);
    // One property, with Get.
    let reply = watcher
        .connection()
        .call_method(
            Some("org.vestibule.SessionAgent1"),
            path.as_str(),
            Some(PROPERTIES),
            "Get",
            &(SESSION_IFACE, "User"),
        )
        .unwrap();
    let user: zbus::zvariant::OwnedValue = reply.body().deserialize().unwrap();
    assert_eq!(String::try_from(user).unwrap(), "alice");
    // Read-only, unknown names and other interfaces are refused with the standard errors.
    let set = watcher.connection().call_method(
        Some("org.vestibule.SessionAgent1"),
        path.as_str(),
        Some(PROPERTIES),
        "Set",
        &(SESSION_IFACE, "State", zbus::zvariant::Value::from("active")),
    );
    assert_eq!(
        error_name(set.map_err(CallError::from)),
        "org.freedesktop.DBus.Error.PropertyReadOnly"
    );
    let unknown = watcher.connection().call_method(
        Some("org.vestibule.SessionAgent1"),
        path.as_str(),
        Some(PROPERTIES),
        "Get",
        &(SESSION_IFACE, "Password"),
    );
    assert_eq!(
        error_name(unknown.map_err(CallError::from)),
        "org.freedesktop.DBus.Error.UnknownProperty"
    );

    // The second client watches the object; locks through the manager and through the object
    // both change State and Locked, each once.
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(PROPERTIES)
        .unwrap()
        .member("PropertiesChanged")
        .unwrap()
        .path(path.as_str())
        .unwrap()
        .build();
    let mut changes =
        zbus::blocking::MessageIterator::for_match_rule(rule, watcher.connection(), Some(64)).unwrap();
    fake_locker(&bus, &id);
    client.lock(&id).unwrap();
    client.lock(&id).unwrap(); // already locked: nothing changes, nothing is sent
    call_object(&client, &path, "Unlock").unwrap();
    call_object(&client, &path, "Lock").unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let msg = changes.next().unwrap().unwrap();
        let (iface, changed, invalidated): (String, HashMap<String, OwnedValue>, Vec<String>) =
            msg.body().deserialize().unwrap();
        assert_eq!(iface, SESSION_IFACE);
        assert!(invalidated.is_empty());
        seen.push(format!(
            "State={} Locked={}",
            string(&changed, "State"),
            bool::try_from(&*changed["Locked"]).unwrap()
        ));
    }
    assert_eq!(
        seen,
        [
            "State=locked Locked=true",
            "State=active Locked=false",
            "State=locked Locked=true"
        ]
    );
    assert_eq!(string(&get_all(&watcher, &path).unwrap(), "State"), "locked");

    // Terminate through the object: the session is closed and its object gone.
    call_object(&client, &path, "Terminate").unwrap();
    assert!(client.list().unwrap().is_empty());
    assert_eq!(
        error_name(get_all(&watcher, &path)),
        "org.freedesktop.DBus.Error.UnknownObject"
    );
}

#[test]
fn another_uid_may_not_read_terminate_or_lock_a_session_object_but_its_owner_may() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    let mut theirs = Fake::start();
    let mut mine = Fake::start();
    client
        .register(&theirs.registration("alice", 1000, "tty7"))
        .unwrap();
    let own = client
        .register(&mine.registration("nobody", NOBODY, "tty3"))
        .unwrap();
    mine.unregister_when_leader_ends(&bus, &own);
    let theirs_path = "/org/vestibule/SessionAgent1/session/1";
    let before = state_files(&work);

    for (member, args) in [
        ("org.vestibule.SessionAgent1.Session.Terminate", &[][..]),
        ("org.vestibule.SessionAgent1.Session.Lock", &[][..]),
        ("org.vestibule.SessionAgent1.Session.Unlock", &[][..]),
        (
            "org.freedesktop.DBus.Properties.GetAll",
            &["string:org.vestibule.SessionAgent1.Session"][..],
        ),
        (
            "org.freedesktop.DBus.Properties.Get",
            &["string:org.vestibule.SessionAgent1.Session", "string:User"][..],
        ),
    ] {
        let r = dbus_send_to(&bus, true, theirs_path, member, args);
        assert_ne!(r.code(), Some(0), "{member}: {}", r.all());
        assert!(r.stderr.contains(ACCESS_DENIED), "{member}: {}", r.all());
        assert!(r.stderr.contains("uid 65534 may not"), "{member}: {}", r.all());
        assert!(
            !r.all().contains("alice"),
            "{member} leaked the record: {}",
            r.all()
        );
    }
    let r = dbus_send_to(
        &bus,
        true,
        theirs_path,
        "org.vestibule.SessionAgent1.Session.Terminate",
        &[],
    );
    assert!(
        r.stderr.contains(
            "uid 65534 may not close session 1 of uid 1000: a user may only act on their own sessions"
        ),
        "{}",
        r.all()
    );
    let r = dbus_send(&bus, true, "GetSessionPath", &["string:1"]);
    assert!(r.stderr.contains(ACCESS_DENIED), "{}", r.all());
    assert!(theirs.leader_running(), "a refused Terminate touched the session");
    assert_eq!(client.get("1").unwrap().state, "active");
    assert_eq!(state_files(&work), before, "a refused call changed the state");

    // The owner reads, locks and terminates their own session through its object; unlocking
    // stays root's.
    let own_path = format!("/org/vestibule/SessionAgent1/session/{own}");
    let r = dbus_send_to(
        &bus,
        true,
        &own_path,
        "org.freedesktop.DBus.Properties.Get",
        &["string:org.vestibule.SessionAgent1.Session", "string:User"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.all());
    assert!(r.stdout.contains("\"nobody\""), "{}", r.stdout);
    let r = dbus_send(&bus, true, "GetSessionPath", &[&format!("string:{own}")]);
    assert!(r.stdout.contains(&own_path), "{}", r.all());
    fake_locker(&bus, &own);
    let r = dbus_send_to(
        &bus,
        true,
        &own_path,
        "org.vestibule.SessionAgent1.Session.Lock",
        &[],
    );
    assert_eq!(r.code(), Some(0), "{}", r.all());
    assert_eq!(client.get(&own).unwrap().state, "locked");
    let r = dbus_send_to(
        &bus,
        true,
        &own_path,
        "org.vestibule.SessionAgent1.Session.Unlock",
        &[],
    );
    assert!(r.stderr.contains(ACCESS_DENIED), "{}", r.all());
    let r = dbus_send_to(
        &bus,
        true,
        &own_path,
        "org.vestibule.SessionAgent1.Session.Terminate",
        &[],
    );
    assert_eq!(r.code(), Some(0), "{}", r.all());
    assert_eq!(mine.leader_signal(), Some(SIGTERM));
    assert_eq!(ids(&client.list().unwrap()), ["1"]);
}

#[test]
fn the_journal_is_replayed_after_a_restart_and_a_torn_last_line_is_skipped() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let agent = Agent::start(&work, &bus);
    let client = bus.client();
    let fakes: Vec<Fake> = (0..3).map(|_| Fake::start()).collect();
    for (i, f) in fakes.iter().enumerate() {
        client
            .register(&f.registration(&format!("user{i}"), 1000 + i as u32, &format!("tty{}", i + 2)))
            .unwrap();
    }
    fake_locker(&bus, "1");
    client.lock("1").unwrap();
    client.unregister("2").unwrap();
    let listed = client.list().unwrap();
    assert_eq!(ids(&listed), ["1", "3"]);
    agent.stop();

    // The changes since the agent started are journal lines (the snapshot is the start's).
    let journal = fs::read_to_string(journal_path(&work)).unwrap();
    let ops: Vec<&str> = journal
        .lines()
        .map(|l| l.split('"').nth(3).unwrap_or("?"))
        .collect();
    assert_eq!(
        ops,
        ["add", "add", "add", "locker", "state", "remove"],
        "{journal}"
    );
    // A crash in the middle of appending the removal of session 3: a torn last line.
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(journal_path(&work))
        .unwrap();
    f.write_all(br#"{"op":"remove","id":3"#).unwrap();
    drop(f);

    let _agent = Agent::start(&work, &bus);
    assert_eq!(
        client.list().unwrap(),
        listed,
        "the same sessions, session 1 still locked"
    );
    let log = work.read("agent.log");
    assert!(log.contains("torn"), "{log}");
    // Reloading compacted: everything is in the snapshot, the journal starts empty.
    assert_eq!(fs::read(journal_path(&work)).unwrap().len(), 0);
    let snapshot = fs::read_to_string(state_path(&work)).unwrap();
    assert!(snapshot.contains("user0") && snapshot.contains("user2") && !snapshot.contains("user1"));
    // Objects are exported again for the sessions that are still there, and only for them.
    let props = get_all(&client, "/org/vestibule/SessionAgent1/session/3").unwrap();
    assert_eq!(string(&props, "User"), "user2");
    assert_eq!(
        error_name(get_all(&client, "/org/vestibule/SessionAgent1/session/2")),
        "org.freedesktop.DBus.Error.UnknownObject"
    );
    // Ids go on after the highest ever handed out.
    let next = Fake::start();
    assert_eq!(
        client
            .register(&next.registration("carol", 1002, "tty9"))
            .unwrap(),
        "4"
    );
    drop(fakes);
}

fn file_mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The snapshot and the journal hold every user's sessions: 0600, as the agent writes them and as
/// it leaves files an older agent made readable (0644) once it has started on them.
#[test]
fn the_snapshot_and_journal_are_readable_by_root_alone() {
    use std::os::unix::fs::PermissionsExt;
    let work = Work::new();
    let bus = Bus::start(&work);
    let agent = Agent::start(&work, &bus);
    let client = bus.client();
    let fake = Fake::start();
    client
        .register(&fake.registration("alice", 1000, "tty2"))
        .unwrap();
    assert!(fs::metadata(journal_path(&work)).unwrap().len() > 0);
    assert_eq!(file_mode(&state_path(&work)), 0o600, "snapshot");
    assert_eq!(file_mode(&journal_path(&work)), 0o600, "journal");
    agent.stop();

    for p in [state_path(&work), journal_path(&work)] {
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let _agent = Agent::start(&work, &bus);
    assert_eq!(ids(&client.list().unwrap()), ["1"]);
    assert_eq!(file_mode(&state_path(&work)), 0o600, "snapshot after a restart");
    assert_eq!(file_mode(&journal_path(&work)), 0o600, "journal after a restart");
    drop(fake);
}

#[test]
fn sessions_survive_an_agent_restart_and_orphans_are_closed_with_pam() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let agent = Agent::start(&work, &bus);
    let client = bus.client();
    let mut kept = Fake::start();
    let mut orphan = Fake::start();
    client
        .register(&kept.registration("alice", 1000, "tty7"))
        .unwrap();
    client
        .register(&orphan.registration("bob", 1001, "tty8"))
        .unwrap();
    fake_locker(&bus, "1");
    client.lock("1").unwrap();
    let listed = client.list().unwrap();

    agent.stop();
    // While the agent is away, the orphan's supervisor dies (SIGKILL: no unregistering).
    orphan.kill_supervisor();
    // The periodic scan is an hour apart: what follows is the start-up check and the pidfd
    // watches the agent sets up for the sessions it reloaded.
    let _agent = Agent::start_with(&work, &bus, HOUR_MS, 500);

    // The orphan is ended and its PAM session closed by the agent; the other one is listed as before.
    wait_until(Duration::from_secs(15), "orphan closed", || {
        client.list().map(|l| l.len() == 1).unwrap_or(false)
    });
    assert_eq!(
        client.list().unwrap(),
        listed[..1],
        "the kept session, unchanged (locked)"
    );
    assert_eq!(orphan.leader_signal(), Some(SIGTERM));
    assert!(kept.leader_running());
    let records = work.record();
    let closes: Vec<_> = records.iter().filter(|r| r.function == "close_session").collect();
    assert_eq!(closes.len(), 1, "{records:?}");
    assert_eq!((closes[0].user.as_str(), closes[0].tty.as_str()), ("bob", "tty8"));
    let deletes: Vec<_> = records.iter().filter(|r| r.function == "setcred").collect();
    assert_eq!(deletes.len(), 1, "{records:?}");
    assert_eq!(deletes[0].flags & 0x4, 0x4, "pam_setcred(PAM_DELETE_CRED)");
    assert_eq!(deletes[0].user, "bob");
    assert!(work.read("agent.log").contains("PAM session closed by the agent"));

    // A supervisor killed while the agent runs: its pidfd tells the agent at once, and the session
    // is closed the same way.
    kept.kill_supervisor();
    wait_until(Duration::from_secs(5), "second orphan closed", || {
        client.list().map(|l| l.is_empty()).unwrap_or(false)
    });
    assert_eq!(kept.leader_signal(), Some(SIGTERM));
    let closes: Vec<_> = work
        .record()
        .into_iter()
        .filter(|r| r.function == "close_session")
        .collect();
    assert_eq!(closes.len(), 2);
    assert_eq!(
        (closes[1].user.as_str(), closes[1].tty.as_str()),
        ("alice", "tty7")
    );

    // Ids continue after the restart.
    let next = Fake::start();
    assert_eq!(
        client
            .register(&next.registration("carol", 1002, "tty9"))
            .unwrap(),
        "3"
    );
}

#[test]
fn a_session_that_ignores_sigterm_is_killed_after_the_grace_period_and_the_agent_keeps_answering() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start_with(&work, &bus, 50, 2000);
    let client = bus.client();
    let mut fake = Fake::start();
    let _ = fake.leader.kill();
    let _ = fake.leader.wait();
    fake.leader = Command::new("sh")
        .args(["-c", "trap '' TERM; while :; do sleep 0.05; done"])
        .process_group(0)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let id = client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    fake.unregister_when_leader_ends(&bus, &id);
    let start = Instant::now();
    let address = bus.address.clone();
    let closer = std::thread::spawn(move || Client::connect(Some(&address)).unwrap().close("1"));
    // While the close waits out the grace period, other callers are served and see "closing".
    wait_until(Duration::from_secs(5), "state closing", || {
        client.get("1").map(|s| s.state == "closing").unwrap_or(false)
    });
    assert_eq!(client.list().unwrap().len(), 1);
    assert!(
        !closer.is_finished(),
        "a close blocked the agent: the list came after it"
    );
    closer.join().unwrap().unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(1950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(fake.leader_signal(), Some(SIGKILL));
    assert!(client.list().unwrap().is_empty());
}

#[test]
fn concurrent_closes_of_an_orphan_close_its_pam_session_once() {
    let work = Work::new();
    let bus = Bus::start(&work);
    // The watch would close the orphan on its own: make it slow, the callers come first.
    let _agent = Agent::start_with(&work, &bus, 600_000, 500);
    let client = bus.client();
    let mut fake = Fake::start();
    client
        .register(&fake.registration("dave", 1003, "pts/4"))
        .unwrap();
    fake.kill_supervisor();
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let address = bus.address.clone();
            std::thread::spawn(move || Client::connect(Some(&address)).unwrap().close("1"))
        })
        .collect();
    for c in callers {
        match c.join().unwrap() {
            Ok(()) => {}
            // A caller that came after the close finished finds no session: also fine.
            Err(e) => assert_eq!(e.name(), Some(NO_SUCH_SESSION), "{e}"),
        }
    }
    assert_eq!(fake.leader_signal(), Some(SIGTERM));
    let records = work.record();
    assert_eq!(count(&records, "close_session"), 1, "{records:?}");
    assert_eq!(count(&records, "setcred"), 1, "{records:?}");
    let close = records.iter().find(|r| r.function == "close_session").unwrap();
    assert_eq!((close.user.as_str(), close.tty.as_str()), ("dave", "pts/4"));
    assert!(client.list().unwrap().is_empty());
}

#[test]
fn only_root_owns_the_name_and_a_second_agent_refuses_to_start() {
    let work = Work::new();
    let bus = Bus::start(&work);
    // The shipped policy: a user cannot take the agent's name (and pose as the agent).
    let mut take = Command::new("setpriv");
    take.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "dbus-send"])
        .arg(format!("--bus={}", bus.address))
        .args([
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.RequestName",
            "string:org.vestibule.SessionAgent1",
            "uint32:0",
        ]);
    let r = wait_limited(spawn(&mut take), LIMIT);
    assert_ne!(r.code(), Some(0), "{}", r.all());
    assert!(r.stderr.contains(ACCESS_DENIED), "{}", r.all());

    let _agent = Agent::start(&work, &bus);
    let mut second = Command::new(binary("vestibule-agent"));
    second
        .arg("--bus-address")
        .arg(&bus.address)
        .arg("--state")
        .arg(work.path().join("second.json"));
    let r = wait_limited(spawn(&mut second), LIMIT);
    assert_eq!(r.code(), Some(1), "{}", r.all());
    assert!(
        r.stderr.contains("vestibule-agent: connecting to unix:path=")
            && r.stderr.contains("as org.vestibule.SessionAgent1"),
        "{}",
        r.stderr
    );
    assert!(bus.client().list().is_ok(), "the first agent still serves");
}

#[test]
fn the_agent_ends_when_its_bus_goes_away() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let mut agent = Agent::start(&work, &bus);
    drop(bus);
    let start = Instant::now();
    let status = loop {
        if let Some(st) = agent.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the agent outlived its bus"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    assert!(
        work.read("agent.log").contains("was closed"),
        "{}",
        work.read("agent.log")
    );
}

#[test]
fn committed_introspection_matches_the_running_service() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    compare_introspection(
        &client,
        "/org/vestibule/SessionAgent1",
        "org.vestibule.SessionAgent1.xml",
    );

    // A session object: data/dbus/org.vestibule.SessionAgent1.Session.xml.
    let fake = Fake::start();
    let id = client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    let live = compare_introspection(
        &client,
        client.session_path(&id).unwrap().as_str(),
        "org.vestibule.SessionAgent1.Session.xml",
    );
    assert!(
        live.contains(r#"<property name="State" type="s" access="read""#),
        "{live}"
    );
}

/// Asserts that what the agent serves at `path` is `data/dbus/<file>` (written there first with
/// VESTIBULE_BLESS=1); returns what it serves.
fn compare_introspection(client: &Client, path: &str, file: &str) -> String {
    let reply = client
        .connection()
        .call_method(
            Some("org.vestibule.SessionAgent1"),
            path,
            Some("org.freedesktop.DBus.Introspectable"),
            "Introspect",
            &(),
        )
        .unwrap();
    let live: String = reply.body().deserialize().unwrap();
    let committed_path = tests_dir().parent().unwrap().join("data/dbus").join(file);
    if std::env::var_os("VESTIBULE_BLESS").is_some() {
        fs::write(&committed_path, &live).unwrap();
    }
    let committed = fs::read_to_string(&committed_path).unwrap_or_default();
    // zbus lists an object's interfaces in no fixed order: compare them as a sorted set.
    assert_eq!(
        interfaces(&committed),
        interfaces(&live),
        "data/dbus/{file} is not what the agent serves at {path}: regenerate it with \
         VESTIBULE_BLESS=1 cargo test -p vestibule-e2e --test agent committed_introspection"
    );
    live
}

/// The `<interface>` blocks of an introspection document, sorted.
fn interfaces(xml: &str) -> Vec<String> {
    let mut out: Vec<String> = xml
        .split("<interface ")
        .skip(1)
        .map(|b| b.split("</interface>").next().unwrap().to_owned())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no interface in {xml:?}");
    out
}

/// A real login: `vestibule-tui --plain` as root in the sandbox with the `permit` stack (record.py
/// in the session stack), user alice on tty9, running `sleep 600`, told the private bus with
/// `--agent-bus` (the sandbox has no system bus; its socket is in the work dir, which the
/// sandbox's mount namespace shares).
struct RealLogin {
    child: Option<Child>,
}

impl RealLogin {
    fn start(work: &Work, bus: &Bus) -> RealLogin {
        let args = plain_args(
            work,
            &[
                "--user",
                "alice",
                "--tty",
                "tty9",
                "--agent-bus",
                &bus.address,
                "--",
                "sleep",
                "600",
            ],
        );
        let mut cmd = sandboxed(work, &args);
        cmd.env("VESTIBULE_LOG", "debug");
        RealLogin {
            child: Some(spawn(&mut cmd)),
        }
    }

    /// The session once the agent lists it.
    fn registered(&mut self, client: &Client) -> WireSession {
        let start = Instant::now();
        loop {
            if let Some(s) = client.list().unwrap().into_iter().next() {
                return s;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let run = wait_limited(self.child.take().unwrap(), LIMIT);
                panic!("the login ended ({st}) before registering: {}", run.all());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the session was not registered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the login to end (it should be ending already).
    fn finish(mut self) -> Run {
        wait_limited(self.child.take().unwrap(), LIMIT)
    }
}

impl Drop for RealLogin {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = c.wait();
        }
    }
}

/// Checks a registered real session: alice on tty9, `sleep` as the leader (a child of the
/// supervisor, running as alice), `vestibule-login` as the supervisor (`vestibule-tui --plain`
/// executes it).
fn check_real_session(s: &WireSession) {
    // Registered right after the fork: the leader may not have exec'd yet.
    wait_until(Duration::from_secs(10), "the leader runs sleep", || {
        exe(s.leader).ends_with("/sleep")
    });
    assert_alice_on_tty9(s, "vestibule-login");
    assert!(exe(s.leader).ends_with("/sleep"), "{}", exe(s.leader));
    let stat = fs::read_to_string(format!("/proc/{}/stat", s.leader)).unwrap();
    let ppid: u32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, s.supervisor, "the leader is the supervisor's child");
    let status = fs::read_to_string(format!("/proc/{}/status", s.leader)).unwrap();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().next().unwrap(),
        s.uid.to_string(),
        "runs as alice"
    );
    assert_ne!(s.uid, 0);
}

#[test]
fn a_real_login_registers_and_terminate_session_returns_once_its_supervisor_closed_pam() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "")]);
    let bus = Bus::start(&work);
    let _agent = Agent::start(&work, &bus);
    let client = bus.client();
    let mut login = RealLogin::start(&work, &bus);
    let s = login.registered(&client);
    check_real_session(&s);
    assert_eq!(client.get_by_pid(s.leader).unwrap().id, s.id);

    let table = ctl(&bus, false, &["list-sessions"]);
    assert_eq!(table.code(), Some(0), "{}", table.all());
    let cells: Vec<&str> = table.stdout.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(cells[0], s.id);
    assert_eq!(&cells[2..4], ["alice", "tty9"], "{}", table.stdout);
    assert_eq!(cells[8], s.leader.to_string(), "{}", table.stdout);
    assert_eq!(count(&work.record(), "close_session"), 0);

    let closed = ctl(&bus, false, &["terminate-session", &s.id]);
    assert_eq!(closed.code(), Some(0), "{}", closed.all());
    // The reply came after the supervisor closed the PAM session, in its own transaction.
    let records = work.record();
    let closes: Vec<_> = records.iter().filter(|r| r.function == "close_session").collect();
    assert_eq!(closes.len(), 1, "{records:?}");
    assert_eq!(
        closes[0].pid, s.supervisor,
        "closed by the supervisor: {records:?}"
    );
    assert_eq!(
        (closes[0].user.as_str(), closes[0].tty.as_str()),
        ("alice", "tty9")
    );
    let deletes: Vec<_> = records
        .iter()
        .filter(|r| r.function == "setcred" && r.flags & 0x4 != 0)
        .collect();
    assert_eq!(
        deletes.len(),
        1,
        "pam_setcred(PAM_DELETE_CRED) before the reply: {records:?}"
    );
    assert_eq!(deletes[0].pid, s.supervisor);
    assert!(client.list().unwrap().is_empty());

    let run = login.finish();
    assert_eq!(
        run.code(),
        Some(143),
        "the session ended by SIGTERM: {}",
        run.all()
    );
    assert_eq!(count(&work.record(), "close_session"), 1, "closed once");
    let log = work.read("agent.log");
    assert!(log.contains("PAM session closed by its supervisor"), "{log}");
    assert!(!log.contains("PAM session closed by the agent"), "{log}");
}

/// Whether `pid`'s thread `tid` blocks SIGTERM (its `SigBlk` mask, bit 15 - 1).
fn blocks_sigterm(pid: u32, tid: &str) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .unwrap_or("0");
    u64::from_str_radix(mask.trim(), 16).unwrap() & (1 << (SIGTERM - 1)) != 0
}

/// The witness's lines for `function` and `user`.
fn records_of(work: &Work, function: &str, user: &str) -> Vec<vestibule_e2e::Record> {
    work.record()
        .into_iter()
        .filter(|r| r.function == function && r.user == user)
        .collect()
}

/// vestibuled in the sandbox with `setup`, told the private bus; the agent in the same sandbox
/// (its PAM calls see the sandbox's accounts).
fn daemon_with_agent<'w>(
    work: &'w Work,
    bus: &Bus,
    name: &str,
    mut setup: daemon::Setup,
) -> (daemon::Vestibuled<'w>, daemon::SandboxAgent) {
    setup.agent_bus = Some(bus.address.clone());
    let d = daemon::Vestibuled::start(work, name, setup);
    let agent = daemon::SandboxAgent::start(&d, bus);
    (d, agent)
}

/// alice's session once the agent lists it, and the one login worker under the daemon, which
/// must be its supervisor.
fn registered_by_worker(d: &daemon::Vestibuled, client: &Client) -> (WireSession, u32) {
    let s = d.wait_until("alice's session listed by the agent", || {
        client.list().ok()?.into_iter().find(|x| x.user == "alice")
    });
    let workers = d.login_workers();
    assert_eq!(workers.len(), 1, "one login worker: {workers:?}");
    assert_eq!(
        s.supervisor, workers[0],
        "the session's supervisor is its vestibule-worker: {s:?}"
    );
    assert!(
        exe(s.supervisor).ends_with("/vestibule-worker"),
        "{}",
        exe(s.supervisor)
    );
    (s, workers[0])
}

#[test]
fn sigterm_to_a_registered_supervisor_ends_the_session_and_closes_pam_despite_the_bus_threads() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let setup = daemon::Setup::agreety(&work);
    let (d, _agent) = daemon_with_agent(&work, &bus, "agent-sigterm", setup);
    let client = bus.client();
    d.agreety_login(1, "alice", "alice-pw-1");
    let session = d.session("alice");
    let (s, worker) = registered_by_worker(&d, &client);
    assert!(records_of(&work, "close_session", "alice").is_empty());

    // The worker's agent link (vestibule_agent::client::Tracker, zbus) has threads of its own,
    // and every thread blocks SIGTERM: a SIGTERM for the worker can only be taken from its
    // signalfd.
    let tids: Vec<String> = fs::read_dir(format!("/proc/{worker}/task"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(tids.len() > 1, "the worker has no bus thread: {tids:?}");
    for tid in &tids {
        assert!(blocks_sigterm(worker, tid), "thread {tid} takes SIGTERM");
    }

    for _ in 0..3 {
        daemon::signal(worker, nix::sys::signal::Signal::SIGTERM);
    }
    let closes = d.wait_until("alice's PAM session closed after SIGTERM", || {
        let r = records_of(&work, "close_session", "alice");
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(closes[0].pid, worker, "closed by the worker itself: {closes:?}");
    d.wait_until("the end of alice's session", || {
        (!daemon::alive(session.pid())).then_some(())
    });
    d.wait_until("the end of the worker", || (!daemon::alive(worker)).then_some(()));
    // The worker unregistered it after closing; the agent closed nothing itself.
    d.wait_until("alice's session unregistered", || {
        client.list().ok().filter(|l| l.iter().all(|x| x.id != s.id))
    });
    // A new greeter comes back on the terminal; the daemon lives on.
    d.agreety_login_prompt(2);
    assert!(d.running());
    assert_eq!(
        records_of(&work, "close_session", "alice").len(),
        1,
        "closed once: {:?}",
        work.record()
    );
    let log = work.read("agent.log");
    assert!(log.contains("session unregistered"), "{log}");
    assert!(!log.contains("PAM session closed by the agent"), "{log}");
    let daemon_log = work.read("daemon.log");
    assert!(
        daemon_log.contains("ending the session on request"),
        "{}",
        d.diagnostics()
    );
}

#[test]
fn sigkill_of_a_real_supervisor_makes_the_agent_close_the_pam_session() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "")]);
    let bus = Bus::start(&work);
    // No periodic scan within the test: the supervisor's pidfd is what tells the agent.
    let agent = Agent::start_with(&work, &bus, HOUR_MS, 500);
    let agent_pid = agent.child.id();
    let client = bus.client();
    let mut login = RealLogin::start(&work, &bus);
    let s = login.registered(&client);
    check_real_session(&s);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.supervisor as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until(Duration::from_secs(5), "orphan closed", || {
        client.list().map(|l| l.is_empty()).unwrap_or(false)
    });
    assert!(!running(s.leader), "the leader was ended");
    let records = work.record();
    let closes: Vec<_> = records.iter().filter(|r| r.function == "close_session").collect();
    assert_eq!(closes.len(), 1, "{records:?}");
    assert_eq!(closes[0].pid, agent_pid, "closed by the agent: {records:?}");
    assert_eq!(
        (closes[0].user.as_str(), closes[0].tty.as_str()),
        ("alice", "tty9")
    );
    let deletes: Vec<_> = records
        .iter()
        .filter(|r| r.function == "setcred" && r.flags & 0x4 != 0)
        .collect();
    assert_eq!(deletes.len(), 1, "{records:?}");
    assert_eq!(deletes[0].pid, agent_pid);
    let run = login.finish();
    assert_eq!(run.code(), Some(137), "{}", run.all());
    assert!(work.read("agent.log").contains("PAM session closed by the agent"));
}

#[test]
fn a_live_supervisor_that_does_not_unregister_makes_the_close_fail_and_the_session_stays() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let _agent = Agent::start_args(&work, &bus, 50, 500, &["--supervisor-wait-ms", "300"]);
    let client = bus.client();
    // No thread plays the supervisor: nobody unregisters.
    let mut fake = Fake::start();
    let id = client
        .register(&fake.registration("alice", 1000, "tty7"))
        .unwrap();
    let start = Instant::now();
    match client.close(&id) {
        Err(CallError::Remote { name, message }) => {
            assert_eq!(name, "org.freedesktop.DBus.Error.Failed");
            assert!(
                message.contains("did not close the PAM session within 300ms"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(fake.leader_signal(), Some(SIGTERM));
    // Not known to be closed: still listed, active again; the agent did not close PAM behind
    // the back of a live supervisor.
    assert_eq!(client.get(&id).unwrap().state, "active");
    assert_eq!(count(&work.record(), "close_session"), 0);
    // Its late unregistering finishes it.
    client.unregister(&id).unwrap();
    assert!(client.list().unwrap().is_empty());
}

/// vestibule-tui as vestibuled's greeter (its config in the work dir), offering the tests'
/// session command (WORK/session, tests/fixtures/daemon/session.sh).
fn tui_greeter(work: &Work) -> daemon::Setup {
    let d = work.path().display();
    fs::write(
        work.path().join("config.toml"),
        format!("[greeter]\nissue_file = \"\"\nstate_file = \"{d}/tui-state\"\n"),
    )
    .unwrap();
    daemon::Setup::greeter(format!(
        "{} --config {d}/config.toml -- {}",
        binary("vestibule-tui").display(),
        daemon::session_command(work).display()
    ))
}

#[test]
fn a_full_screen_greeter_login_registers_and_is_closed_through_its_supervisor() {
    let work = Work::new();
    let bus = Bus::start(&work);
    let (d, _agent) = daemon_with_agent(&work, &bus, "agent-tui", tui_greeter(&work));
    let client = bus.client();
    let g = d.wait_greeter(1);
    d.assert_unprivileged(&g);
    d.wait_screen("login: ");
    d.tmux.line("alice");
    d.wait_screen("Password: ");
    d.tmux.line("alice-pw-1");

    let session = d.session("alice");
    let (s, worker) = registered_by_worker(&d, &client);
    assert_eq!(s.user, "alice");
    assert_eq!(
        format!("/dev/{}", s.tty),
        session.get("tty"),
        "registered on the session's terminal: {s:?}"
    );
    assert!(!daemon::alive(g.pid), "the greeter still runs during the session");
    assert!(records_of(&work, "close_session", "alice").is_empty());

    // terminate-session replies only once the worker has closed the PAM session in its own
    // transaction: the witness's line is there when vestibulectl returns.
    let closed = ctl(&bus, false, &["terminate-session", &s.id]);
    assert_eq!(closed.code(), Some(0), "{}", closed.all());
    let closes = records_of(&work, "close_session", "alice");
    assert_eq!(closes.len(), 1, "{:?}", work.record());
    assert_eq!(
        closes[0].pid, worker,
        "closed by the worker's own transaction: {closes:?}"
    );
    assert!(client.list().unwrap().iter().all(|x| x.id != s.id));
    assert!(!work.read("agent.log").contains("PAM session closed by the agent"));
    // The session is over and the greeter comes back for the next login.
    d.wait_until("the end of alice's session", || {
        (!daemon::alive(session.pid())).then_some(())
    });
    d.wait_greeter(2);
    d.wait_screen("login: ");
    assert_eq!(records_of(&work, "close_session", "alice").len(), 1);
}
